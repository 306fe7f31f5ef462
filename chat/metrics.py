"""Retrieval metrics: pure functions over (relevant ids, ranked ids), scored like BEIR.

Every function first drops repeated ids from the ranked list, keeping the first occurrence:
when passages are mapped to their articles, an article's second passage is not a second
article. Relevance is binary. ``relevant`` must not be empty: callers leave unanswerable
questions out before scoring.

Cross-checked against trec_eval (through ir-measures) in ``tests/test_chat_metrics.py``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_KS: tuple[int, ...] = (1, 3, 5, 10)


def dedupe(ranked: Sequence[str]) -> list[str]:
    """The ids in order, each kept at its first occurrence only."""
    return list(dict.fromkeys(ranked))


def recall_at(relevant: Collection[str], ranked: Sequence[str], k: int) -> float:
    """1.0 if any relevant id is in the top k of the deduplicated ranking, else 0.0.

    This is "R@k" as the corpus README defines it: averaged over questions it is the share of
    questions with a relevant item in the top k. With one gold id per question that equals
    recall; with several it is a hit rate (success@k, ir-measures' ``Success@k``), not the
    share of relevant ids found; for that see ``true_recall_at``.
    """
    gold = _gold(relevant)
    return 1.0 if any(doc in gold for doc in _top(ranked, k)) else 0.0


def true_recall_at(relevant: Collection[str], ranked: Sequence[str], k: int) -> float:
    """|relevant ∩ top k| / |relevant| over the deduplicated ranking (ir-measures' ``R@k``)."""
    gold = _gold(relevant)
    found = sum(1 for doc in _top(ranked, k) if doc in gold)
    return found / len(gold)


def reciprocal_rank(relevant: Collection[str], ranked: Sequence[str], k: int = 10) -> float:
    """1 / rank of the first relevant id within the top k (ranks from 1), or 0.0 if none."""
    gold = _gold(relevant)
    for rank, doc in enumerate(_top(ranked, k), start=1):
        if doc in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at(relevant: Collection[str], ranked: Sequence[str], k: int) -> float:
    """nDCG@k with binary gains: DCG = sum of 1 / log2(rank + 1) over relevant ids in the top k,
    divided by the DCG of an ideal ranking of min(|relevant|, k) relevant ids."""
    gold = _gold(relevant)
    dcg = sum(_discount(rank) for rank, doc in enumerate(_top(ranked, k), start=1) if doc in gold)
    ideal = sum(_discount(rank) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal


@dataclass(frozen=True)
class RetrievalScores:
    """Means over ``n`` questions. ``recall[k]`` is the hit rate at k (see ``recall_at``)."""

    n: int
    recall: dict[int, float]
    mrr10: float
    ndcg10: float


def score_runs(
    qrels: Mapping[str, Collection[str]],
    runs: Mapping[str, Sequence[str]],
    ks: Sequence[int] = DEFAULT_KS,
) -> RetrievalScores:
    """Mean R@k (for each k in ``ks``), MRR@10 and nDCG@10 over every question in ``qrels``.

    A question with no entry in ``runs`` scores 0 and still counts in the divisor, which is
    always ``len(qrels)``. Runs for question ids not in ``qrels`` are ignored.
    """
    if not qrels:
        raise ValueError("no questions to score: qrels is empty")
    for k in ks:
        _check_k(k)
    recall_sums = dict.fromkeys(ks, 0.0)
    rr_sum = 0.0
    ndcg_sum = 0.0
    for qid, relevant in qrels.items():
        ranked = runs.get(qid, ())
        for k in ks:
            recall_sums[k] += recall_at(relevant, ranked, k)
        rr_sum += reciprocal_rank(relevant, ranked, 10)
        ndcg_sum += ndcg_at(relevant, ranked, 10)
    n = len(qrels)
    return RetrievalScores(
        n=n,
        recall={k: total / n for k, total in recall_sums.items()},
        mrr10=rr_sum / n,
        ndcg10=ndcg_sum / n,
    )


def write_trec_run(path: Path, runs: Mapping[str, Sequence[tuple[str, float]]], tag: str) -> None:
    """Write ``qid Q0 docid rank score tag`` lines, ranks from 1, repeated docids dropped.

    trec_eval orders a question's documents by score, not by the rank column (ties by docid),
    so the scores given should fall strictly down each list for the file to mean this ranking.
    """
    _check_token(tag, "run tag")
    lines = []
    for qid, scored in runs.items():
        _check_token(qid, "question id")
        seen: set[str] = set()
        rank = 0
        for doc, score in scored:
            if doc in seen:
                continue
            _check_token(doc, "document id")
            seen.add(doc)
            rank += 1
            lines.append(f"{qid} Q0 {doc} {rank} {float(score)!r} {tag}\n")
    Path(path).write_text("".join(lines), encoding="utf-8")


def write_trec_qrels(path: Path, qrels: Mapping[str, Collection[str]]) -> None:
    """Write ``qid 0 docid 1`` lines: binary relevance, docids sorted within a question."""
    lines = []
    for qid, relevant in qrels.items():
        _check_token(qid, "question id")
        for doc in sorted(_gold(relevant)):
            _check_token(doc, "document id")
            lines.append(f"{qid} 0 {doc} 1\n")
    Path(path).write_text("".join(lines), encoding="utf-8")


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0 <= p <= 100) with linear interpolation between closest ranks,
    as numpy's default ``np.percentile(values, p)``."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {p}")
    if any(math.isnan(v) for v in values):
        raise ValueError("percentile of values containing NaN")
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


def _gold(relevant: Collection[str]) -> frozenset[str]:
    # A bare string is a Collection[str] of characters: a common slip, so refuse it.
    if isinstance(relevant, str):
        raise TypeError("relevant must be a collection of ids, not a single string")
    if not relevant:
        raise ValueError("no relevant ids: leave unanswerable questions out before scoring")
    return frozenset(relevant)


def _top(ranked: Sequence[str], k: int) -> list[str]:
    if isinstance(ranked, str):
        raise TypeError("ranked must be a sequence of ids, not a single string")
    _check_k(k)
    return dedupe(ranked)[:k]


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _discount(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


def _check_token(value: str, what: str) -> None:
    """TREC files are whitespace-separated: an id with spaces would shift every column."""
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"{what} {value!r} is empty or contains whitespace")
