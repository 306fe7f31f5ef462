"""The FAISS vector index: exact inner product by default, HNSW for very large corpora."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from medcite.index.types import VectorIndexKind

# Above this many passages, flat search starts to cost more than a query should.
HNSW_THRESHOLD = 2_000_000
KINDS = tuple(VectorIndexKind)


def build(vectors: np.ndarray, ids: np.ndarray, kind: str = VectorIndexKind.AUTO) -> faiss.Index:
    """An inner-product index over normalised ``vectors``, returning ``ids`` from searches;
    ``kind`` is a ``VectorIndexKind`` value."""
    if kind not in KINDS:
        raise ValueError(f"unknown vector index kind {kind!r}; use one of {', '.join(KINDS)}")
    dim = vectors.shape[1]
    base: faiss.Index
    if kind == VectorIndexKind.HNSW or (
        kind == VectorIndexKind.AUTO and len(vectors) >= HNSW_THRESHOLD
    ):
        hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.hnsw.efSearch = 128
        base = hnsw
    else:
        base = faiss.IndexFlatIP(dim)
    index = faiss.IndexIDMap2(base)
    if len(vectors):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def search(index: faiss.Index, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Top ``k`` (id, score) pairs for one normalised query vector."""
    if index.ntotal == 0 or k <= 0:
        return []
    scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]


def search_among(
    index: faiss.Index, query: np.ndarray, k: int, allowed: np.ndarray
) -> list[tuple[int, float]]:
    """``search`` (flat or HNSW) that only considers the ids in ``allowed``."""
    if index.ntotal == 0 or k <= 0 or not len(allowed):
        return []
    params = faiss.SearchParameters()
    params.sel = faiss.IDSelectorBatch(allowed)
    query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    scores, ids = index.search(query, min(k, len(allowed)), params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]


def save(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load(path: Path) -> faiss.Index:
    return faiss.read_index(str(path))
