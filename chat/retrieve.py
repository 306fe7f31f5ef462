"""Retrieval: dense, lexical, and their fusion, with per-article diversity and filters."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from dataclasses import dataclass, replace

import numpy as np

from medcite.chat.types import SearchMode
from medcite.index.embedder import Embedder
from medcite.index.errors import InputError
from medcite.index.naming import named_articles
from medcite.index.reader import Index
from medcite.index.types import Hit

MODES = tuple(SearchMode)
# A search query (not a patient's message) longer than this is refused.
MAX_QUERY_CHARS = 1000
MAX_K = 100
# Hybrid weights, chosen on one half of the dev questions and confirmed on the other half
# (README, "Evaluation"); the passage cosine has weight 1.
W_LEXICAL = 0.3
W_LABEL = 1.0
# The passages of an article the query names by its title or a synonym ("german measles":
# Rubella; ``medcite.index.naming``) gain this much. Of the 1,366 answerable spent real-style
# quickstart questions, 0.1 and 0.2 gave 912 and 907 first quotes in a gold span (907
# without), 88 and 92 from another article (97), and the 865 unanswerable ones were answered
# as often as without (35). (The gain is not evidence of an answer: ``answer._lead``.)
W_NAMED = 0.1
# A passage made of contact details (addresses, phone numbers, e-mail and web addresses) names
# its topic ("The Glaucoma Foundation, 80 Maiden Lane...") but answers nothing: its hybrid
# score loses this much times the share of its characters that are such details.
W_CONTACT = 1.0
_CONTACT = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail
    r"|(?:https?://|www\.)\S+"  # web address
    r"|\b(?:1-)?\(?\d{3}\)?[-. ]\d{3}-\d{4}\b"  # phone number
    r"|\b[A-Z]{2} \d{5}(?:-\d{4})?\b"  # state and ZIP code
)
# Passage texts whose contact share is remembered: every passage of the quickstart index, the
# most searched of a large one (a few MB of text at most).
CONTACT_CACHE = 4096


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
    mode: str = SearchMode.HYBRID,
    filters: Filters | None = None,
    per_article: int = 2,
    depth: int = 100,
    query_vector: np.ndarray | None = None,
) -> list[Hit]:
    """The top ``k`` passages for ``query``, at most ``per_article`` from one article.

    ``query_vector`` is the caller's embedding of ``query`` as given (triage has one); it is
    used when spelling correction leaves the query unchanged."""
    if mode not in MODES:
        raise InputError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
    if not 1 <= k <= MAX_K:
        raise InputError(f"k must be between 1 and {MAX_K}")
    if not query.strip():
        raise InputError("the query is empty")
    corrected = index.speller.correct(query)
    if corrected != query:
        query, query_vector = corrected, None
    filters = filters or Filters()
    pool = max(depth, k * 4)

    if mode == SearchMode.LEXICAL:
        query_vector = None
    elif query_vector is None:
        query_vector = embedder.embed([query])[0]
    dense = _dense(index, query_vector, pool, filters) if query_vector is not None else []
    lexical = _lexical(index, query, pool, filters) if mode != SearchMode.DENSE else []
    signals: dict[int, dict[str, float]] = {}
    for name, found in (("dense", dense), ("lexical", lexical)):
        for rank, (rowid, score) in enumerate(found, 1):
            signals.setdefault(rowid, {}).update({name: score, f"{name}_rank": rank})
    if mode == SearchMode.DENSE:
        ranked = dense
    elif mode == SearchMode.LEXICAL:
        ranked = lexical
    else:
        assert query_vector is not None
        named = _within(index, named_articles(query, index.names), filters)
        named_rows = index.rowids_for_documents(sorted(named)) if named else set()
        ranked = fuse(index, query_vector, dense, lexical, signals, named_rows)
    hits = index.hits(ranked, {r: tuple(s.items()) for r, s in signals.items()})
    if mode == SearchMode.HYBRID:
        return demote_contact_details(hits, per_article, k)
    return diversify(hits, per_article)[:k]


def _within(index: Index, doc_ids: Collection[str], filters: Filters) -> set[str]:
    """The ``doc_ids`` that ``filters`` keep (both its sources and its ids, when given)."""
    kept = set(doc_ids)
    if kept and filters.doc_ids:
        kept &= set(filters.doc_ids)
    if kept and filters.sources:
        kept &= {doc_id for doc_id, _ in index.titles_by_source(filters.sources)}
    return kept


@functools.lru_cache(maxsize=CONTACT_CACHE)
def contact_share(text: str) -> float:
    """The share of ``text``'s characters that are addresses, phone numbers, e-mail or web
    addresses (``_CONTACT``). Remembered: scanning the 100-200 passages of a search's pool
    took 15-20 ms, while a passage's share never changes."""
    found = sum(len(match.group(0)) for match in _CONTACT.finditer(text))
    return found / len(text) if text else 0.0


def demote_contact_details(hits: list[Hit], per_article: int, k: int) -> list[Hit]:
    """The top ``k`` of ``hits`` (best first) by ``diversify``, after each score has lost
    ``W_CONTACT`` times its ``contact_share``: a list of addresses no longer tops a search for
    the condition it names.

    A score only falls, so once the top ``k`` of the hits rescored so far all score at least
    the next hit's score, no later hit can enter it: only those hits are scanned (scanning
    a search's whole pool of 100-200 passages took 15-20 ms)."""
    rescored: list[Hit] = []
    for hit in hits:
        if len(rescored) >= k:
            top = diversify(sorted(rescored, key=lambda h: -h.score), per_article)[:k]
            if len(top) == k and top[-1].score >= hit.score:
                return top
        share = contact_share(hit.passage.text)
        rescored.append(replace(hit, score=hit.score - W_CONTACT * share))
    return diversify(sorted(rescored, key=lambda h: -h.score), per_article)[:k]


def fuse(
    index: Index,
    query_vector: np.ndarray,
    dense: list[tuple[int, float]],
    lexical: list[tuple[int, float]],
    signals: dict[int, dict[str, float]],
    named: Collection[int] = (),
) -> list[tuple[int, float]]:
    """Score every passage either retriever found, and the passages of the articles the
    query names (``named``, rowids), by

        passage cosine + W_LEXICAL * BM25 / best BM25 + W_LABEL * section-label cosine
        + W_NAMED if the passage's article is named

    The section label ("Glaucoma — Treatment") says what a section is about, which the
    passage text often does not repeat. ``signals`` gains each passage's dense and label
    cosines."""
    dense_of = dict(dense)
    lexical_of = dict(lexical)
    rowids = list(dict.fromkeys([r for r, _ in dense] + [r for r, _ in lexical] + sorted(named)))
    missing = [r for r in rowids if r not in dense_of]
    dense_of.update(zip(missing, index.dense_scores(query_vector, missing).tolist(), strict=True))
    best_lexical = max(lexical_of.values(), default=0.0) or 1.0
    labels = index.label_scores(query_vector, rowids).tolist()
    scored = []
    for rowid, label in zip(rowids, labels, strict=True):
        score = (
            dense_of[rowid]
            + W_LEXICAL * lexical_of.get(rowid, 0.0) / best_lexical
            + W_LABEL * label
            + (W_NAMED if rowid in named else 0.0)
        )
        signals.setdefault(rowid, {}).update(dense=dense_of[rowid], label=label)
        if rowid in named:
            signals[rowid]["named"] = W_NAMED
        scored.append((rowid, score))
    return sorted(scored, key=lambda item: (-item[1], item[0]))


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


def _lexical(index: Index, query: str, k: int, filters: Filters) -> list[tuple[int, float]]:
    return index.lexical(query, k, sources=filters.sources, doc_ids=filters.doc_ids)


def _dense(
    index: Index, query_vector: np.ndarray, k: int, filters: Filters
) -> list[tuple[int, float]]:
    return index.dense(query_vector, k, sources=filters.sources, doc_ids=filters.doc_ids)
