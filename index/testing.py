"""Test support that behaves like the real thing, fast: a hashing embedder, the one builder of
corpus records and the fixture corpus. Shipped, because ``--embedder fake`` runs the CLI and the
server with ``FakeEmbedder``; the test server thread is in ``tests/support.py``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medcite.index.embedder import FAKE_MODEL_NAME
from medcite.index.text import words


class FakeEmbedder:
    """Deterministic hashing embedder: a bag of word (and word-bigram) hashes, normalised.

    Texts sharing words get similar vectors, so retrieval tests mean something, and it
    runs in microseconds."""

    def __init__(self, dim: int = 64, name: str = FAKE_MODEL_NAME) -> None:
        self.dim = dim
        self.name = name
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = words(text)
            for token in tokens + [a + " " + b for a, b in zip(tokens, tokens[1:], strict=False)]:
                digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)

    def embed_with_layers(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """One "layer": the vector itself."""
        vectors = self.embed(texts)
        return vectors, vectors.copy()


def article(doc_id: str, title: str, sections: list[tuple[str, str]], **extra: object) -> dict:
    """A corpus-format record (see the corpus README): the sections' texts joined by blank
    lines, with exact section offsets; ``extra`` adds fields such as ``url`` and ``source``."""
    text, records = "", []
    for n, (heading, body) in enumerate(sections, 1):
        if text:
            text += "\n\n"
        records.append(
            {
                "id": f"{doc_id}#{n}",
                "heading": heading,
                "start": len(text),
                "end": len(text) + len(body),
            }
        )
        text += body
    return {"id": doc_id, "title": title, "text": text, "sections": records, **extra}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    """Write ``records`` as a corpus JSON Lines file; returns ``path``."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"

# The fixture corpus: four short articles whose answers a reader can predict, from four
# sources, one of them with markup in its title and text and a javascript: URL. Each passage
# repeats its question, so with the hashing FakeEmbedder ``ask`` answers with real quotes.
CORPUS = [
    article(
        "GLAU_1",
        "Glaucoma",
        [
            (
                "Overview",
                "What is glaucoma: glaucoma is a group of eye diseases that damage the "
                "optic nerve. Glaucoma can cause blindness.",
            ),
            (
                "Symptoms",
                "What are the symptoms of glaucoma: glaucoma has no symptoms at first. "
                "Its symptoms later are loss of side vision.",
            ),
            (
                "Treatment",
                "How is glaucoma treated: glaucoma is treated with eye drops, laser "
                "treatment, or surgery.",
            ),
        ],
        url="https://medlineplus.gov/glaucoma.html",
        source="MPlus_Health_Topics",
    ),
    article(
        "ASTH_1",
        "Asthma",
        [
            (
                "Overview",
                "What is asthma: asthma is a chronic lung disease that inflames and "
                "narrows the airways of the lungs.",
            ),
            (
                "Treatment",
                "How is asthma treated: asthma is treated with long-term control "
                "medicines and quick-relief inhalers.",
            ),
        ],
        url="https://www.nhlbi.nih.gov/health/asthma",
        source="NHLBI",
    ),
    article(
        "DIAB_1",
        "Diabetes",
        [
            (
                "Overview",
                "What is diabetes: diabetes is a disease that occurs when your blood "
                "glucose, also called blood sugar, is too high.",
            ),
        ],
        url="https://www.niddk.nih.gov/health-information/diabetes",
        source="NIDDK",
    ),
    article(
        "XSS_1",
        "Scripted <b>article</b>",
        [
            (
                "Overview",
                f"What is xsstopic: xsstopic is a test condition where {XSS_SCRIPT} and "
                f"{XSS_IMG} are shown as text.",
            ),
        ],
        url="javascript:alert(1)",
        source="GARD",
    ),
]
