"""The int8 ONNX encoder against the fp32 PyTorch model it was built from, on passages of the
bundled quickstart corpus; and a search that never loads PyTorch.

Marked slow: the first run builds the int8 graph (about 20 s, cached per machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medcite.index.embedder import Embedder, SentenceTransformerEmbedder, make_embedder
from medcite.ingest.chunk import chunk_document, embedding_text
from medcite.ingest.pipeline import ingest
from medcite.ingest.readers import read_paths

QUICKSTART = Path(__file__).resolve().parents[1] / "quickstart" / "corpus.jsonl"

pytestmark = pytest.mark.slow


def quickstart_records(every: int) -> list[str]:
    lines = QUICKSTART.read_text(encoding="utf-8").splitlines()
    return lines[::every]


def passage_texts(every: int) -> list[str]:
    """The embedded texts of the passages of every ``every``-th quickstart article."""
    documents = read_paths([QUICKSTART]).documents[::every]
    return [
        embedding_text(document.title, p.heading, p.text)
        for document in documents
        for p in chunk_document(document)
    ]


@pytest.fixture(scope="module")
def int8() -> Embedder:
    return make_embedder("minilm-int8")


def test_int8_vectors_stay_within_cosine_0_99_of_fp32(int8: Embedder) -> None:
    texts = passage_texts(every=40)  # about 80 passages, short and long
    assert len(texts) > 60
    fp32 = SentenceTransformerEmbedder()
    reference, reference_layers = fp32.embed_with_layers(texts)
    vectors, layers = int8.embed_with_layers(texts)

    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    assert float((vectors * reference).sum(axis=1).min()) >= 0.99
    # Triage reads every layer's pooled state: those stay close too.
    per_layer = (layers * reference_layers).reshape(len(texts), 6, -1).sum(axis=2)
    assert float(per_layer.min()) >= 0.98
    # Sentences run together (ranked at query time) stay as close to fp32.
    sentences = [" ".join(text.split()[:25]) for text in texts[:24]]
    batched = int8.embed_batch(sentences)
    assert float((batched * fp32.embed(sentences)).sum(axis=1).min()) >= 0.99
    # A text embeds the same alone as among others.
    assert np.array_equal(int8.embed(texts[5:6]), vectors[5:6])


def test_search_with_the_int8_encoder_never_loads_pytorch(tmp_path: Path, int8: Embedder) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(quickstart_records(every=25)) + "\n", encoding="utf-8")
    ingest([corpus], tmp_path / "ix", int8)
    script = (
        "import sys\n"
        "from medcite.web import cli\n"
        f"code = cli.main(['search', 'eye pressure', '--index', {str(tmp_path / 'ix')!r}])\n"
        "assert code == 0, code\n"
        "print('torch loaded' if 'torch' in sys.modules else 'no torch')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("no torch")
