"""Test doubles that behave like the real thing, fast."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medcite.index.text import words


class FakeEmbedder:
    """Deterministic hashing embedder: a bag of word (and word-bigram) hashes, normalised.

    Texts sharing words get similar vectors, so retrieval tests mean something, and it
    runs in microseconds."""

    def __init__(self, dim: int = 64, name: str = "fake-hashing-embedder") -> None:
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

    def embed_with_layers(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """One "layer": the vector itself."""
        vectors = self.embed(texts)
        return vectors, vectors.copy()


def article(doc_id: str, title: str, sections: list[tuple[str, str]], **extra: object) -> dict:
    """A corpus-format record (see the corpus README) with exact section offsets."""
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
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# A tiny corpus whose answers a reader can predict.
SMALL_CORPUS = [
    article(
        "T_glaucoma",
        "Glaucoma",
        [
            (
                "Overview",
                "Glaucoma is a group of diseases that can damage the eye's optic nerve. "
                "It can cause vision loss and blindness.",
            ),
            (
                "Symptoms",
                "At first, open-angle glaucoma has no symptoms. Over time, side vision "
                "may slowly be lost. People may see halos around lights.",
            ),
            (
                "Treatment",
                "Glaucoma is treated with eye drops, laser surgery or conventional "
                "surgery. Treatment can slow or prevent vision loss.",
            ),
        ],
        url="https://example.org/glaucoma",
        source="TestSource",
    ),
    article(
        "T_asthma",
        "Asthma",
        [
            (
                "Overview",
                "Asthma is a chronic disease that affects your airways. The airways "
                "become inflamed and narrow, which makes breathing hard.",
            ),
            (
                "Treatment",
                "Asthma is treated with two kinds of medicines: quick-relief medicines "
                "and long-term control medicines such as inhaled corticosteroids.",
            ),
        ],
        source="TestSource",
    ),
    article(
        "T_diabetes",
        "Diabetes",
        [
            (
                "Overview",
                "Diabetes is a disease in which your blood glucose, or blood sugar, "
                "levels are too high. Insulin helps glucose get into your cells.",
            ),
            (
                "Symptoms",
                "Symptoms of diabetes include being very thirsty, urinating often, "
                "feeling very hungry and blurry vision.",
            ),
        ],
        source="OtherSource",
    ),
    article(
        "T_gout",
        "Gout",
        [
            (
                "Overview",
                "Gout is a common, painful form of arthritis. It causes swollen, red, hot "
                "and stiff joints, often in the big toe.",
            )
        ],
        source="OtherSource",
    ),
]
