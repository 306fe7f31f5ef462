"""Retrieval: dense, lexical, and their fusion, with per-article diversity and filters."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from index.embedder import Embedder
from index.errors import InputError
from index.reader import Index
from index.types import Hit

MODES = ("dense", "lexical", "hybrid")
MAX_K = 100
# Reciprocal rank fusion constant (Cormack et al. 2009): damps the head of each list.
RRF_K = 60


@dataclass(frozen=True)
class Filters:
    sources: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sources or self.doc_ids)


def search(
    index: Index,
    embedder: Embedder,
    query: str,
    *,
    k: int = 10,
    mode: str = "hybrid",
    filters: Filters | None = None,
    per_article: int = 2,
    depth: int = 100,
) -> list[Hit]:
    """The top ``k`` passages for ``query``, at most ``per_article`` from one article."""
    if mode not in MODES:
        raise InputError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
    if not 1 <= k <= MAX_K:
        raise InputError(f"k must be between 1 and {MAX_K}")
    if not query.strip():
        raise InputError("the query is empty")
    allowed = _allowed_rowids(index, filters or Filters())
    pool = max(depth, k * 4)
    if allowed is not None:
        pool = max(pool, index.vector_index.ntotal)

    signals: dict[int, dict[str, float]] = {}
    lists: list[list[tuple[int, float]]] = []
    if mode in ("dense", "hybrid"):
        found = _keep(index.dense(embedder.embed([query])[0], pool), allowed)
        lists.append(found)
        for rank, (rowid, score) in enumerate(found, 1):
            signals.setdefault(rowid, {}).update(dense=score, dense_rank=rank)
    if mode in ("lexical", "hybrid"):
        found = _keep(index.lexical(query, pool), allowed)
        lists.append(found)
        for rank, (rowid, score) in enumerate(found, 1):
            signals.setdefault(rowid, {}).update(lexical=score, lexical_rank=rank)

    fused = lists[0] if len(lists) == 1 else reciprocal_rank_fusion(lists)
    hits = index.hits(fused[:pool], {r: tuple(s.items()) for r, s in signals.items()})
    return diversify(hits, per_article)[:k]


def reciprocal_rank_fusion(
    lists: list[list[tuple[int, float]]], k: int = RRF_K
) -> list[tuple[int, float]]:
    scores: dict[int, float] = {}
    for ranked in lists:
        for rank, (rowid, _) in enumerate(ranked, 1):
            scores[rowid] = scores.get(rowid, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def diversify(hits: list[Hit], per_article: int) -> list[Hit]:
    """Keep the order, but no more than ``per_article`` passages of one article."""
    if per_article <= 0:
        return hits
    taken: dict[str, int] = {}
    out = []
    for hit in hits:
        count = taken.get(hit.passage.doc_id, 0)
        if count < per_article:
            out.append(hit)
            taken[hit.passage.doc_id] = count + 1
    return out


def _allowed_rowids(index: Index, filters: Filters) -> set[int] | None:
    if not filters:
        return None
    doc_ids = list(filters.doc_ids)
    if filters.sources:
        wanted: Collection[str] = set(filters.sources)
        by_source = [doc_id for doc_id, _ in index.titles_by_source(wanted)]
        doc_ids = [d for d in doc_ids if d in set(by_source)] if doc_ids else by_source
    return index.rowids_for_documents(doc_ids) if doc_ids else set()


def _keep(found: list[tuple[int, float]], allowed: set[int] | None) -> list[tuple[int, float]]:
    return found if allowed is None else [pair for pair in found if pair[0] in allowed]
