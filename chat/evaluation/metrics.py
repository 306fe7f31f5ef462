"""Pure scoring functions, and the one table of answer metrics.

Retrieval: functions over (relevant ids, ranked ids), scored like BEIR. Every function first
drops repeated ids from the ranked list, keeping the first occurrence: when passages are mapped
to their articles, an article's second passage is not a second article. Relevance is binary.
``relevant`` must not be empty: callers leave unanswerable questions out before scoring.
Cross-checked against trec_eval (through ir-measures) in ``tests/test_chat_metrics.py``.

Answers: ``judge_answer`` gives the verdicts on one reply (an ``AnswerRecord``), from the
span functions (``overlaps``, ``spans_overlapped``, ``chars_inside``) for questions with gold
answer spans. ``ANSWER_METRICS`` is the only list of answer metrics: each row says which
questions it counts over, how a record counts, and what to divide by; the text table, the JSON
and the per-question rows of ``report`` are all read from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from medcite.chat.evaluation.questions import Question
from medcite.chat.types import ANSWERED, EMERGENCY, NOT_COVERED, Answer

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
    gold = relevant_ids(relevant)
    return 1.0 if any(doc in gold for doc in _top(ranked, k)) else 0.0


def true_recall_at(relevant: Collection[str], ranked: Sequence[str], k: int) -> float:
    """|relevant ∩ top k| / |relevant| over the deduplicated ranking (ir-measures' ``R@k``)."""
    gold = relevant_ids(relevant)
    found = sum(1 for doc in _top(ranked, k) if doc in gold)
    return found / len(gold)


def reciprocal_rank(relevant: Collection[str], ranked: Sequence[str], k: int = 10) -> float:
    """1 / rank of the first relevant id within the top k (ranks from 1), or 0.0 if none."""
    gold = relevant_ids(relevant)
    for rank, doc in enumerate(_top(ranked, k), start=1):
        if doc in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at(relevant: Collection[str], ranked: Sequence[str], k: int) -> float:
    """nDCG@k with binary gains: DCG = sum of 1 / log2(rank + 1) over relevant ids in the top k,
    divided by the DCG of an ideal ranking of min(|relevant|, k) relevant ids."""
    gold = relevant_ids(relevant)
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


def relevant_ids(relevant: Collection[str]) -> frozenset[str]:
    """The relevant ids as a set; refuses none (``ValueError``) and a bare string."""
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


# --- spans -------------------------------------------------------------------------------


class Located(Protocol):
    """Characters ``start:end`` of the stored document ``doc_id``: a gold span or a quote."""

    @property
    def doc_id(self) -> str: ...

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


def overlaps(a: Located, b: Located) -> bool:
    """True when the two spans share at least one character of the same document."""
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end


def spans_overlapped(gold: Sequence[Located], quotes: Sequence[Located]) -> int:
    """How many of the ``gold`` spans share a character with at least one of the ``quotes``."""
    return sum(1 for span in gold if any(overlaps(span, quote) for quote in quotes))


def span_chars(spans: Sequence[Located]) -> int:
    """The characters of the spans, added up."""
    return sum(span.end - span.start for span in spans)


def chars_inside(quotes: Sequence[Located], gold: Sequence[Located]) -> int:
    """Characters of the ``quotes`` that lie inside a ``gold`` span. Overlapping gold spans
    cover a character once; two quotes of the same character count it twice, as
    ``span_chars`` does, so ``chars_inside(q, g) <= span_chars(q)``."""
    covered: dict[str, list[tuple[int, int]]] = {}
    for span in sorted(gold, key=lambda s: (s.doc_id, s.start)):
        runs = covered.setdefault(span.doc_id, [])
        if runs and span.start <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], span.end))
        else:
            runs.append((span.start, span.end))
    inside = 0
    for quote in quotes:
        for start, end in covered.get(quote.doc_id, ()):
            inside += max(0, min(end, quote.end) - max(start, quote.start))
    return inside


# --- answers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerRecord:
    """One question, the reply ``ask`` gave it, and the verdicts on the reply.

    Verdicts on the first quote are False unless the reply is ANSWERED with quotes; the
    gold-span verdicts are 0 or False for a question without gold spans."""

    question: Question
    reply: Answer
    faithful_quotes: int  # quotes equal to their article's text at their offsets
    quote_hit: bool  # first quote in a gold section (gold article if no section ids)
    article_hit: bool  # first quote from a gold article (``article_ids``)
    answered_right: bool  # first quote overlaps a gold span
    gold_spans_hit: int  # gold spans overlapped by any quote
    quoted_chars: int  # characters quoted in an answer to a question with gold spans
    quoted_chars_in_gold: int  # ... of them inside a gold span
    wrong_topic: bool  # first quote from an article that is not a gold article
    # the first quote overlaps a gold span, also when it is folded under an emergency reply
    right_under_urgent: bool = False

    @property
    def question_id(self) -> str:
        return self.question.id

    @property
    def answerable(self) -> bool:
        return self.question.answerable

    @property
    def kind(self) -> str:
        return self.reply.kind


def judge_answer(
    question: Question, reply: Answer, document_text: Callable[[str], str | None]
) -> AnswerRecord:
    """Score one reply: its first quote against the question's gold sections, articles and
    spans, all its quotes against the gold spans, and every quote against its article's text
    (``document_text(doc_id)``, None for a missing article)."""
    faithful = 0
    for quote in reply.quotes:
        text = document_text(quote.doc_id)
        if text is not None and text[quote.start : quote.end] == quote.text:
            faithful += 1
    quotes = reply.quotes if reply.kind == ANSWERED and question.answerable else ()
    first = quotes[0] if quotes else None
    gold = question.gold
    article_hit = first is not None and first.doc_id in question.article_ids
    if first is not None and question.section_ids:
        quote_hit = first.section_id in question.section_ids
    else:
        quote_hit = article_hit
    return AnswerRecord(
        question=question,
        reply=reply,
        faithful_quotes=faithful,
        quote_hit=quote_hit,
        article_hit=article_hit,
        answered_right=first is not None and any(overlaps(first, span) for span in gold),
        gold_spans_hit=spans_overlapped(gold, quotes),
        quoted_chars=span_chars(quotes) if gold else 0,
        quoted_chars_in_gold=chars_inside(quotes, gold),
        wrong_topic=first is not None and bool(gold) and first.doc_id not in question.gold_articles,
        right_under_urgent=_first_quote_right(question, reply),
    )


def _first_quote_right(question: Question, reply: Answer) -> bool:
    """Whether the first quote of an answer, or of the quotes an emergency reply folds under
    its urgent message (for a reader who was asking in general), overlaps a gold span."""
    if not question.answerable or reply.kind not in (ANSWERED, EMERGENCY) or not reply.quotes:
        return False
    return any(overlaps(reply.quotes[0], span) for span in question.gold)


@dataclass(frozen=True)
class AnswerGroup:
    """The questions a metric counts over. ``key`` names the group's JSON object, which also
    holds ``n``, the number of questions in it; the group with key "" has no object: its
    metrics sit in the answers object itself. ``title`` heads its rows in the text table,
    where an ``optional`` group is left out when no question is in it."""

    key: str
    title: str
    member: Callable[[AnswerRecord], bool]
    optional: bool = False


ANSWERABLE = AnswerGroup("answerable", "answerable questions", lambda r: r.answerable)
WITH_GOLD = AnswerGroup(
    "gold", "answerable questions with gold spans", lambda r: bool(r.question.gold), optional=True
)
UNANSWERABLE = AnswerGroup("unanswerable", "unanswerable questions", lambda r: not r.answerable)
EVERY_QUESTION = AnswerGroup("", "", lambda r: True)
ANSWER_GROUPS = (ANSWERABLE, WITH_GOLD, UNANSWERABLE, EVERY_QUESTION)


@dataclass(frozen=True)
class AnswerMetric:
    """One answer metric: ``sum(count) / sum(out_of)`` over the records of ``group``
    (``out_of`` None: each question counts 1, and the divisor is the group's ``n``).

    ``name`` is the verdict's key in a per-question row and, after the group's key, the
    metric's id ("answerable.answered"); ``count_key``, ``rate_key`` and ``total_key`` are
    its JSON keys; ``label`` and ``unit`` its row in the text table."""

    group: AnswerGroup
    name: str
    label: str
    description: str
    count: Callable[[AnswerRecord], int]
    count_key: str
    rate_key: str
    out_of: Callable[[AnswerRecord], int] | None = None
    total_key: str = "n"
    unit: str = ""

    @property
    def id(self) -> str:
        return f"{self.group.key}.{self.name}" if self.group.key else self.name


def _emergency_replies(group: AnswerGroup) -> AnswerMetric:
    return AnswerMetric(
        group,
        "emergency",
        "emergency reply",
        "triage replied with an emergency message first (quotes, if any, folded below it)",
        lambda r: r.kind == EMERGENCY,
        "emergencies",
        "emergency_rate",
    )


ANSWER_METRICS: tuple[AnswerMetric, ...] = (
    AnswerMetric(
        ANSWERABLE,
        "answered",
        "answered",
        "the reply quotes the articles (kind answered)",
        lambda r: r.kind == ANSWERED,
        "answered",
        "answer_rate",
    ),
    AnswerMetric(
        ANSWERABLE,
        "quote_hit",
        "first quote in a gold section",
        "the first quote lies in a gold section (in a gold article when the question has no "
        "section ids); not answering is a miss",
        lambda r: r.quote_hit,
        "quote_hits",
        "quote_hit_rate",
    ),
    AnswerMetric(
        ANSWERABLE,
        "article_hit",
        "first quote from the gold article",
        "the first quote comes from a gold article (article_ids); not answering is a miss",
        lambda r: r.article_hit,
        "article_hits",
        "article_hit_rate",
    ),
    _emergency_replies(ANSWERABLE),
    AnswerMetric(
        ANSWERABLE,
        "not_covered",
        "refused (not covered)",
        "the reply says the articles do not cover the question (kind not_covered)",
        lambda r: r.kind == NOT_COVERED,
        "not_covered",
        "not_covered_rate",
    ),
    AnswerMetric(
        WITH_GOLD,
        "answered_right",
        "answered right (first quote in gold span)",
        "answered, and the first quote shares a character with a gold span",
        lambda r: r.answered_right,
        "answered_right",
        "answered_right_rate",
    ),
    AnswerMetric(
        WITH_GOLD,
        "right_under_urgent",
        "right, urgent replies' quotes included",
        "the first quote shares a character with a gold span, whether the reply answered or gave "
        "the emergency message first and the quotes below it",
        lambda r: r.right_under_urgent,
        "right_under_urgent",
        "right_under_urgent_rate",
    ),
    AnswerMetric(
        WITH_GOLD,
        "gold_spans_hit",
        "gold spans overlapped by a quote",
        "gold-span recall: gold spans sharing a character with any quote of the answer, over "
        "all gold spans (not answering finds none)",
        lambda r: r.gold_spans_hit,
        "gold_spans_hit",
        "gold_span_recall",
        out_of=lambda r: len(r.question.gold),
        total_key="gold_spans",
        unit=" spans",
    ),
    AnswerMetric(
        WITH_GOLD,
        "quoted_chars_in_gold",
        "quoted characters inside gold spans",
        "quote precision: characters of the answers' quotes that lie inside a gold span, over "
        "all quoted characters",
        lambda r: r.quoted_chars_in_gold,
        "quoted_chars_in_gold",
        "quote_precision",
        out_of=lambda r: r.quoted_chars,
        total_key="quoted_chars",
        unit=" characters",
    ),
    AnswerMetric(
        WITH_GOLD,
        "wrong_topic",
        "wrong topic (not from a gold article)",
        "answered, but the first quote (the first citation) is from an article that is neither "
        "in article_ids nor holds a gold span",
        lambda r: r.wrong_topic,
        "wrong_topic",
        "wrong_topic_rate",
    ),
    AnswerMetric(
        UNANSWERABLE,
        "abstained",
        "abstained (not covered)",
        "the reply says the articles do not cover the question (an emergency reply is not counted)",
        lambda r: r.kind == NOT_COVERED,
        "abstained",
        "abstention_rate",
    ),
    AnswerMetric(
        UNANSWERABLE,
        "answered",
        "answered",
        "the reply quotes the articles although they do not answer the question",
        lambda r: r.kind == ANSWERED,
        "answered",
        "answered_rate",
    ),
    _emergency_replies(UNANSWERABLE),
    AnswerMetric(
        EVERY_QUESTION,
        "faithful_quotes",
        "citation fidelity (quote == article text)",
        "quotes, over every reply, equal to their article's text at their offsets",
        lambda r: r.faithful_quotes,
        "faithful_quotes",
        "citation_fidelity",
        out_of=lambda r: len(r.reply.quotes),
        total_key="quotes",
        unit=" quotes",
    ),
)


@dataclass(frozen=True)
class Tally:
    """``count`` out of ``total``; ``rate`` is None when ``total`` is 0."""

    count: int
    total: int

    @property
    def rate(self) -> float | None:
        return self.count / self.total if self.total else None


def tally(metric: AnswerMetric, records: Sequence[AnswerRecord]) -> Tally:
    """``metric`` over the records of its group."""
    members = [r for r in records if metric.group.member(r)]
    count = sum(int(metric.count(r)) for r in members)
    total = sum(metric.out_of(r) for r in members) if metric.out_of else len(members)
    return Tally(count, total)


def answer_metric(metric_id: str) -> AnswerMetric:
    """The metric of ``ANSWER_METRICS`` with this id ("answerable.answered")."""
    for metric in ANSWER_METRICS:
        if metric.id == metric_id:
            return metric
    known = ", ".join(m.id for m in ANSWER_METRICS)
    raise KeyError(f"no answer metric {metric_id!r}; the metrics are {known}")
