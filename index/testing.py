"""Test doubles that behave like the real thing, fast."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from index.text import words


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
