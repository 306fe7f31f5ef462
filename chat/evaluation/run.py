"""Running search and ask over a question set: retrieval per mode and level, answers, latency.

What is counted (also printed at the top of every report):

- Retrieval runs only on answerable questions. Each search asks for the top ``depth`` passages
  with no per-article cap (``per_article=0``), so every passage of an article can be seen.
- The passage list is turned into two ranked lists, each deduplicated keeping the first
  occurrence: article ids and section ids. An article's (section's) score is the score of its
  best passage.
- Levels (``LEVELS``): ``article`` (relevant = ``article_ids``), ``article-lenient``
  (``article_ids`` + ``equivalent_article_ids``, scored on the article ranking), ``section``
  (relevant = ``section_ids``; questions without section ids are left out, and ``n`` says how
  many were counted). Metrics are ``metrics.score_runs``: R@k is the share of questions with a
  relevant id in the top k, MRR@10 and nDCG@10 with binary relevance.
- Answers go through the ``answer`` function (``chat.answer.ask`` with hybrid retrieval and the
  abstention policy), on every question, answerable or not; ``metrics.judge_answer`` gives
  the verdicts and ``metrics.ANSWER_METRICS`` says how they are counted.
- Latency: the time of each ``search`` (per mode) or ``ask`` call, measured with ``clock``
  (two readings per call, before and after), in ms; the first ``warmup`` calls of each
  mode, and of ``ask``, are left out of the percentiles.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from medcite.chat.evaluation.metrics import (
    ANSWER_METRICS,
    DEFAULT_KS,
    AnswerGroup,
    AnswerRecord,
    RetrievalScores,
    Tally,
    answer_metric,
    dedupe,
    judge_answer,
    percentile,
    score_runs,
    tally,
)
from medcite.chat.evaluation.questions import Question
from medcite.chat.retrieve import MAX_K, MODES, search
from medcite.chat.types import Answer
from medcite.index.embedder import Embedder
from medcite.index.errors import InputError
from medcite.index.reader import Index
from medcite.index.types import Hit

ARTICLE = "article"
ARTICLE_LENIENT = "article-lenient"
SECTION = "section"


@dataclass(frozen=True)
class Level:
    """A retrieval level: ``key`` names it in the JSON and the TREC files, ``label`` in the
    text table; it is scored on the ranking ``ranked_by`` against ``relevant``."""

    key: str
    label: str
    ranked_by: str
    relevant: str


LEVELS: tuple[Level, ...] = (
    Level(ARTICLE, "article", ARTICLE, "asked article"),
    Level(ARTICLE_LENIENT, "article (lenient)", ARTICLE, "+ equivalent_article_ids"),
    Level(
        SECTION,
        "section",
        SECTION,
        "any gold section (questions without section ids left out, see n)",
    ),
)
# The rankings a search gives: every level is scored on one of them.
RANKINGS = (ARTICLE, SECTION)

Clock = Callable[[], float]
AskFunction = Callable[[Index, Embedder, str], Answer]
# Called as progress(stage, done, total), e.g. ("search lexical", 10, 2000) or ("ask", 3, 2500).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Ranking:
    """One question's deduplicated ranked ids at one level, best first, with the score of
    each id's best passage."""

    question_id: str
    ids: tuple[str, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class Latency:
    """Per-call latency: ``calls`` timed, the first ``calls - counted`` were warm-up.
    Percentiles are None when no call is left after warm-up."""

    calls: int
    counted: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class ModeResult:
    """Retrieval results of one search mode. ``scores[level]`` is None when no question has
    gold ids at that level; ``rankings`` has the article and section rankings of every
    answerable question, in question order."""

    mode: str
    scores: Mapping[str, RetrievalScores | None]
    rankings: Mapping[str, tuple[Ranking, ...]]
    latency: Latency


@dataclass(frozen=True)
class AnswerScores:
    """Every question's ``AnswerRecord``, counted by the metrics of ``ANSWER_METRICS``."""

    records: tuple[AnswerRecord, ...]
    latency: Latency

    def n(self, group: AnswerGroup) -> int:
        """The number of questions in ``group``."""
        return sum(1 for r in self.records if group.member(r))

    def tally(self, metric_id: str) -> Tally:
        """A metric by its id ("answerable.answered", "unanswerable.abstained", ...)."""
        return tally(answer_metric(metric_id), self.records)

    def tallies(self) -> dict[str, Tally]:
        """Every metric of ``ANSWER_METRICS``, by id, in table order."""
        return {metric.id: tally(metric, self.records) for metric in ANSWER_METRICS}


@dataclass(frozen=True)
class EvalReport:
    questions_file: str
    index: str
    model: str
    documents: int
    passages: int
    answerable: int
    unanswerable: int
    depth: int
    warmup: int
    # level -> question id -> gold ids; only the questions counted at that level.
    qrels: Mapping[str, Mapping[str, tuple[str, ...]]]
    modes: tuple[ModeResult, ...]
    answers: AnswerScores | None
    split: str = ""


def evaluate(
    index: Index,
    embedder: Embedder,
    questions: Sequence[Question],
    *,
    modes: Sequence[str] = ("lexical", "dense", "hybrid"),
    depth: int = 30,
    answers: bool = True,
    warmup: int = 5,
    clock: Clock = time.perf_counter,
    questions_file: str = "",
    split: str = "",
    answer: AskFunction,
    progress: Progress | None = None,
) -> EvalReport:
    """Retrieval scores per mode and level, answer metrics, and latency for ``questions``.

    ``questions_file`` and ``split`` (the split the questions were chosen from, if any) only
    label the report. ``answer`` is the function under test for the answer metrics
    (``chat.answer.ask`` with its triage bound). Raises ``InputError`` for an empty question
    set, an unknown or missing mode, a depth outside 1..``MAX_K``, a negative warmup, or a
    question that search or ask refuses (naming the question).
    """
    if not questions:
        raise InputError("no questions to evaluate: the question set is empty")
    modes = tuple(dedupe(list(modes)))
    if not modes:
        raise InputError(f"no search mode given; use one or more of {', '.join(MODES)}")
    for mode in modes:
        if mode not in MODES:
            raise InputError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
    if not 1 <= depth <= MAX_K:
        raise InputError(f"depth must be between 1 and {MAX_K}, got {depth}")
    if warmup < 0:
        raise InputError(f"warmup must be 0 or more, got {warmup}")

    answerable = [q for q in questions if q.answerable]
    results = tuple(
        _evaluate_mode(index, embedder, answerable, mode, depth, warmup, clock, progress)
        for mode in modes
        if answerable
    )
    answer_scores = (
        _evaluate_answers(index, embedder, questions, answer, warmup, clock, progress)
        if answers
        else None
    )
    return EvalReport(
        questions_file=questions_file,
        index=str(index.root),
        model=index.manifest.model,
        documents=index.manifest.documents,
        passages=index.manifest.passages,
        answerable=len(answerable),
        unanswerable=len(questions) - len(answerable),
        depth=depth,
        warmup=warmup,
        qrels=build_qrels(answerable),
        modes=results,
        answers=answer_scores,
        split=split,
    )


def build_qrels(questions: Iterable[Question]) -> dict[str, dict[str, tuple[str, ...]]]:
    """Gold ids per level for the questions counted there (see the module docstring)."""
    qrels: dict[str, dict[str, tuple[str, ...]]] = {level.key: {} for level in LEVELS}
    for q in questions:
        if not q.answerable:
            continue
        if q.article_ids:
            qrels[ARTICLE][q.id] = q.article_ids
            qrels[ARTICLE_LENIENT][q.id] = tuple(
                dedupe([*q.article_ids, *q.equivalent_article_ids])
            )
        if q.section_ids:
            qrels[SECTION][q.id] = q.section_ids
    return qrels


def rankings_from_hits(question_id: str, hits: Sequence[Hit]) -> dict[str, Ranking]:
    """The article and section rankings of one passage list, deduplicated, best first."""
    return {
        ARTICLE: _ranking(question_id, [(h.passage.doc_id, h.score) for h in hits]),
        SECTION: _ranking(
            question_id, [(h.passage.section_id, h.score) for h in hits if h.passage.section_id]
        ),
    }


def latency(seconds: Sequence[float], warmup: int) -> Latency:
    """p50/p95 in ms of the calls after the first ``warmup``."""
    counted = [s * 1000.0 for s in seconds[warmup:]]
    return Latency(
        calls=len(seconds),
        counted=len(counted),
        p50_ms=percentile(counted, 50) if counted else None,
        p95_ms=percentile(counted, 95) if counted else None,
    )


T = TypeVar("T")


def _timed(clock: Clock, call: Callable[[], T]) -> tuple[T, float]:
    start = clock()
    result = call()
    return result, clock() - start


def _evaluate_mode(
    index: Index,
    embedder: Embedder,
    questions: Sequence[Question],
    mode: str,
    depth: int,
    warmup: int,
    clock: Clock,
    progress: Progress | None,
) -> ModeResult:
    seconds: list[float] = []
    rankings: dict[str, list[Ranking]] = {ranked: [] for ranked in RANKINGS}
    for done, q in enumerate(questions, 1):
        try:
            hits, took = _timed(
                clock,
                partial(search, index, embedder, q.text, k=depth, mode=mode, per_article=0),
            )
        except InputError as error:
            raise InputError(f"question {q.id}: {error}") from None
        seconds.append(took)
        for ranked, ranking in rankings_from_hits(q.id, hits).items():
            rankings[ranked].append(ranking)
        if progress is not None:
            progress(f"search {mode}", done, len(questions))
    qrels = build_qrels(questions)
    scores: dict[str, RetrievalScores | None] = {}
    for level in LEVELS:
        gold = qrels[level.key]
        runs = {r.question_id: r.ids for r in rankings[level.ranked_by]}
        scores[level.key] = score_runs(gold, runs, DEFAULT_KS) if gold else None
    return ModeResult(
        mode=mode,
        scores=scores,
        rankings={ranked: tuple(found) for ranked, found in rankings.items()},
        latency=latency(seconds, warmup),
    )


def _evaluate_answers(
    index: Index,
    embedder: Embedder,
    questions: Sequence[Question],
    answer: AskFunction,
    warmup: int,
    clock: Clock,
    progress: Progress | None,
) -> AnswerScores:
    texts: dict[str, str | None] = {}

    def document_text(doc_id: str) -> str | None:
        if doc_id not in texts:
            document = index.document(doc_id)
            texts[doc_id] = document.text if document is not None else None
        return texts[doc_id]

    seconds: list[float] = []
    records: list[AnswerRecord] = []
    for done, q in enumerate(questions, 1):
        try:
            reply, took = _timed(clock, partial(answer, index, embedder, q.text))
        except InputError as error:
            raise InputError(f"question {q.id}: {error}") from None
        seconds.append(took)
        records.append(judge_answer(q, reply, document_text))
        if progress is not None:
            progress("ask", done, len(questions))
    return AnswerScores(records=tuple(records), latency=latency(seconds, warmup))


def _ranking(question_id: str, scored: Sequence[tuple[str, float]]) -> Ranking:
    best: dict[str, float] = {}
    for item, score in scored:
        best.setdefault(item, score)
    return Ranking(question_id, tuple(best), tuple(best.values()))
