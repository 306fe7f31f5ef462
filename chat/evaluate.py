"""Evaluation over a question file: retrieval per mode and level, answers, latency.

What is counted (also printed at the top of every report):

- Retrieval runs only on answerable questions. Each search asks for the top ``depth`` passages
  with no per-article cap (``per_article=0``), so every passage of an article can be seen.
- The passage list is turned into two ranked lists, each deduplicated keeping the first
  occurrence: article ids and section ids. An article's (section's) score is the score of its
  best passage.
- Levels: ``article`` (relevant = ``article_ids``), ``article-lenient`` (``article_ids`` +
  ``equivalent_article_ids``, scored on the article ranking), ``section`` (relevant =
  ``section_ids``; questions without section ids are left out, and ``n`` says how many were
  counted). Metrics are ``chat.metrics.score_runs``: R@k is the share of questions with a
  relevant id in the top k, MRR@10 and nDCG@10 with binary relevance.
- Answers go through ``chat.answer.ask`` (hybrid retrieval and the abstention policy), on
  every question, answerable or not.
- Latency: the time of each ``search`` (per mode) or ``ask`` call, measured with ``clock``
  (two readings per call, before and after), in ms; the first ``warmup`` calls of each
  mode, and of ``ask``, are left out of the percentiles.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from medcite.chat.metrics import (
    DEFAULT_KS,
    RetrievalScores,
    dedupe,
    percentile,
    score_runs,
    write_trec_qrels,
    write_trec_run,
)
from medcite.chat.questions import Question
from medcite.chat.retrieve import MAX_K, MODES, search
from medcite.chat.types import ANSWERED, EMERGENCY, NOT_COVERED, Answer
from medcite.index.embedder import Embedder
from medcite.index.errors import InputError
from medcite.index.reader import Index
from medcite.index.types import Hit

ARTICLE = "article"
ARTICLE_LENIENT = "article-lenient"
SECTION = "section"
LEVELS = (ARTICLE, ARTICLE_LENIENT, SECTION)
# The ranked list each level is scored on: the lenient level re-scores the article ranking.
RANKED_BY = {ARTICLE: ARTICLE, ARTICLE_LENIENT: ARTICLE, SECTION: SECTION}
LEVEL_NAMES = {ARTICLE: "article", ARTICLE_LENIENT: "article (lenient)", SECTION: "section"}

BASELINE_NOTE = (
    '"lexical" is the plain BM25 baseline (SQLite FTS5 bm25 over title, heading and passage '
    "text), not the bm25s table in the corpus README"
)

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
class AnswerRecord:
    """How ``ask`` did on one question. The hit fields are False unless it answered."""

    question_id: str
    answerable: bool
    kind: str
    quotes: int
    faithful_quotes: int
    quote_hit: bool
    article_hit: bool


@dataclass(frozen=True)
class AnswerScores:
    """Counts over ``records``; the rates are properties (None when the divisor is 0)."""

    records: tuple[AnswerRecord, ...]
    latency: Latency

    def _count(self, answerable: bool, test: Callable[[AnswerRecord], bool]) -> int:
        return sum(1 for r in self.records if r.answerable == answerable and test(r))

    @property
    def answerable(self) -> int:
        return self._count(True, lambda r: True)

    @property
    def unanswerable(self) -> int:
        return self._count(False, lambda r: True)

    @property
    def answered(self) -> int:
        return self._count(True, lambda r: r.kind == ANSWERED)

    @property
    def quote_hits(self) -> int:
        return self._count(True, lambda r: r.quote_hit)

    @property
    def article_hits(self) -> int:
        return self._count(True, lambda r: r.article_hit)

    @property
    def emergencies(self) -> int:
        return self._count(True, lambda r: r.kind == EMERGENCY)

    @property
    def abstained(self) -> int:
        """Unanswerable questions answered NOT_COVERED (an EMERGENCY reply is not counted)."""
        return self._count(False, lambda r: r.kind == NOT_COVERED)

    @property
    def answered_unanswerable(self) -> int:
        return self._count(False, lambda r: r.kind == ANSWERED)

    @property
    def emergencies_unanswerable(self) -> int:
        return self._count(False, lambda r: r.kind == EMERGENCY)

    @property
    def quotes(self) -> int:
        return sum(r.quotes for r in self.records)

    @property
    def faithful_quotes(self) -> int:
        return sum(r.faithful_quotes for r in self.records)

    @property
    def answer_rate(self) -> float | None:
        return _rate(self.answered, self.answerable)

    @property
    def quote_hit_rate(self) -> float | None:
        """First quote in a gold section (or gold article if the question has no section
        ids), over all answerable questions: not answering is a miss."""
        return _rate(self.quote_hits, self.answerable)

    @property
    def article_hit_rate(self) -> float | None:
        """First quote from a gold article (``article_ids``), over all answerable questions."""
        return _rate(self.article_hits, self.answerable)

    @property
    def emergency_rate(self) -> float | None:
        return _rate(self.emergencies, self.answerable)

    @property
    def abstention_rate(self) -> float | None:
        return _rate(self.abstained, self.unanswerable)

    @property
    def answered_unanswerable_rate(self) -> float | None:
        return _rate(self.answered_unanswerable, self.unanswerable)

    @property
    def emergency_unanswerable_rate(self) -> float | None:
        return _rate(self.emergencies_unanswerable, self.unanswerable)

    @property
    def citation_fidelity(self) -> float | None:
        """Share of all quotes, over every answer, equal to their article's text span."""
        return _rate(self.faithful_quotes, self.quotes)


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
    answer: AskFunction,
    progress: Progress | None = None,
) -> EvalReport:
    """Retrieval scores per mode and level, answer rates, and latency for ``questions``.

    ``questions_file`` only labels the report. ``answer`` is the function under test for the
    answer metrics (``chat.answer.ask`` with its triage bound). Raises ``InputError`` for an empty
    question set, an unknown or missing mode, a depth outside 1..``MAX_K``, a negative warmup,
    or a question that search or ask refuses (naming the question).
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
    )


def build_qrels(questions: Iterable[Question]) -> dict[str, dict[str, tuple[str, ...]]]:
    """Gold ids per level for the questions counted there (see the module docstring)."""
    qrels: dict[str, dict[str, tuple[str, ...]]] = {level: {} for level in LEVELS}
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


def judge_answer(
    question: Question, reply: Answer, document_text: Callable[[str], str | None]
) -> AnswerRecord:
    """Score one answer: the first quote against the question's gold, every quote against
    its article's text (``document_text(doc_id)``, None for a missing article)."""
    faithful = 0
    for quote in reply.quotes:
        text = document_text(quote.doc_id)
        if text is not None and text[quote.start : quote.end] == quote.text:
            faithful += 1
    quote_hit = article_hit = False
    if reply.kind == ANSWERED and reply.quotes and question.answerable:
        first = reply.quotes[0]
        article_hit = first.doc_id in question.article_ids
        if question.section_ids:
            quote_hit = first.section_id in question.section_ids
        else:
            quote_hit = article_hit
    return AnswerRecord(
        question_id=question.id,
        answerable=question.answerable,
        kind=reply.kind,
        quotes=len(reply.quotes),
        faithful_quotes=faithful,
        quote_hit=quote_hit,
        article_hit=article_hit,
    )


def latency(seconds: Sequence[float], warmup: int) -> Latency:
    """p50/p95 in ms of the calls after the first ``warmup``."""
    counted = [s * 1000.0 for s in seconds[warmup:]]
    return Latency(
        calls=len(seconds),
        counted=len(counted),
        p50_ms=percentile(counted, 50) if counted else None,
        p95_ms=percentile(counted, 95) if counted else None,
    )


# --- running -----------------------------------------------------------------------------

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
    rankings: dict[str, list[Ranking]] = {ARTICLE: [], SECTION: []}
    for done, q in enumerate(questions, 1):
        try:
            hits, took = _timed(
                clock,
                partial(search, index, embedder, q.text, k=depth, mode=mode, per_article=0),
            )
        except InputError as error:
            raise InputError(f"question {q.id}: {error}") from None
        seconds.append(took)
        for level, ranking in rankings_from_hits(q.id, hits).items():
            rankings[level].append(ranking)
        if progress is not None:
            progress(f"search {mode}", done, len(questions))
    qrels = build_qrels(questions)
    scores: dict[str, RetrievalScores | None] = {}
    for level in LEVELS:
        runs = {r.question_id: r.ids for r in rankings[RANKED_BY[level]]}
        scores[level] = score_runs(qrels[level], runs, DEFAULT_KS) if qrels[level] else None
    return ModeResult(
        mode=mode,
        scores=scores,
        rankings={level: tuple(found) for level, found in rankings.items()},
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


def _rate(count: int, total: int) -> float | None:
    return count / total if total else None


# --- reporting ---------------------------------------------------------------------------


def describe(report: EvalReport) -> list[str]:
    """What was counted, in sentences: the header of the table and of the JSON."""
    name = report.questions_file or "(unnamed question set)"
    lines = [
        f"questions: {name}: {report.answerable} answerable, {report.unanswerable} unanswerable",
        f"index: {report.index} ({report.model}; {report.documents} documents, "
        f"{report.passages} passages)",
    ]
    if report.modes:
        lines += [
            f"retrieval: answerable questions only; top {report.depth} passages per question, "
            "no per-article cap; ranked lists deduplicated per level (article ids, section "
            "ids), so R@10 counts the articles or sections among those passages",
            "levels: article = asked article; article (lenient) = + equivalent_article_ids; "
            "section = any gold section (questions without section ids left out, see n)",
            "R@k = share of questions with a relevant id in the top k; MRR@10, nDCG@10 "
            "binary relevance",
            BASELINE_NOTE,
        ]
    else:
        lines.append("retrieval: no answerable questions, so nothing to score")
    if report.answers is not None:
        lines.append(
            "answers: medcite ask (hybrid retrieval + abstention policy) on every question"
        )
    lines.append(
        f"latency: ms per call; the first {report.warmup} call(s) of each mode, and of ask, "
        "left out as warm-up"
    )
    return lines


def format_report(report: EvalReport) -> str:
    """A terminal table: retrieval metrics with the modes side by side, then answers."""
    first, *rest = describe(report)
    out = [f"medcite eval — {first}"]
    for line in rest:
        out += textwrap.wrap(line, 100, initial_indent="  ", subsequent_indent="    ")
    if report.modes:
        out += ["", *_retrieval_table(report)]
    if report.answers is not None:
        out += ["", *_answer_table(report.answers)]
    return "\n".join(out) + "\n"


def _retrieval_table(report: EvalReport) -> list[str]:
    names = [m.mode for m in report.modes]
    rows: list[tuple[str, str, list[str]]] = []
    for level in LEVELS:
        label = LEVEL_NAMES[level]
        found = [m.scores[level] for m in report.modes]
        if all(s is None for s in found):
            rows.append((label, "n", ["0"] * len(names)))
            continue
        for k in DEFAULT_KS:
            rows.append((label, f"R@{k}", [_num(s.recall[k] if s else None) for s in found]))
            label = ""
        rows.append(("", "MRR@10", [_num(s.mrr10 if s else None) for s in found]))
        rows.append(("", "nDCG@10", [_num(s.ndcg10 if s else None) for s in found]))
        rows.append(("", "n", [str(s.n if s else 0) for s in found]))
    lat = [m.latency for m in report.modes]
    rows.append(("search latency", "p50 ms", [_ms(x.p50_ms) for x in lat]))
    rows.append(("", "p95 ms", [_ms(x.p95_ms) for x in lat]))
    rows.append(("", "timed", [str(x.counted) for x in lat]))

    width = max(9, *(len(n) + 2 for n in names))
    head = f"{'level':<20}{'metric':<10}" + "".join(f"{n:>{width}}" for n in names)
    lines = [head, "-" * len(head)]
    for label, metric, cells in rows:
        lines.append(f"{label:<20}{metric:<10}" + "".join(f"{c:>{width}}" for c in cells))
    return lines


def _answer_table(a: AnswerScores) -> list[str]:
    def row(label: str, count: int, total: int) -> str:
        return f"  {label:<42}{_num(_rate(count, total)):>7}  {count}/{total}"

    lat = a.latency
    return [
        f"{'answers':<44}{'rate':>7}  count",
        "-" * 62,
        f"answerable questions: {a.answerable}",
        row("answered", a.answered, a.answerable),
        row("first quote in a gold section", a.quote_hits, a.answerable),
        row("first quote from the gold article", a.article_hits, a.answerable),
        row("emergency reply", a.emergencies, a.answerable),
        f"unanswerable questions: {a.unanswerable}",
        row("abstained (not covered)", a.abstained, a.unanswerable),
        row("answered", a.answered_unanswerable, a.unanswerable),
        row("emergency reply", a.emergencies_unanswerable, a.unanswerable),
        f"citation fidelity (quote == article text): {_num(a.citation_fidelity)}  "
        f"{a.faithful_quotes}/{a.quotes} quotes",
        f"ask latency: p50 {_ms(lat.p50_ms)} ms, p95 {_ms(lat.p95_ms)} ms "
        f"({lat.counted} of {lat.calls} calls timed)",
    ]


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def report_json(report: EvalReport, *, rankings: bool = False) -> dict[str, Any]:
    """The report as plain JSON data; with ``rankings``, every question's ranked ids too."""
    data: dict[str, Any] = {
        "description": describe(report),
        "questions_file": report.questions_file,
        "index": {
            "path": report.index,
            "model": report.model,
            "documents": report.documents,
            "passages": report.passages,
        },
        "answerable": report.answerable,
        "unanswerable": report.unanswerable,
        "depth": report.depth,
        "warmup": report.warmup,
        "retrieval": {m.mode: _mode_json(m) for m in report.modes},
        "answers": _answers_json(report.answers) if report.answers is not None else None,
    }
    if rankings:
        data["rankings"] = {
            m.mode: {
                level: {r.question_id: list(r.ids) for r in found}
                for level, found in m.rankings.items()
            }
            for m in report.modes
        }
    return data


def _mode_json(result: ModeResult) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for level, scores in result.scores.items():
        if scores is None:
            data[level] = {"n": 0}
            continue
        data[level] = {
            "n": scores.n,
            **{f"R@{k}": v for k, v in scores.recall.items()},
            "MRR@10": scores.mrr10,
            "nDCG@10": scores.ndcg10,
        }
    data["latency_ms"] = _latency_json(result.latency)
    return data


def _answers_json(a: AnswerScores) -> dict[str, Any]:
    return {
        "answerable": {
            "n": a.answerable,
            "answered": a.answered,
            "answer_rate": a.answer_rate,
            "quote_hits": a.quote_hits,
            "quote_hit_rate": a.quote_hit_rate,
            "article_hits": a.article_hits,
            "article_hit_rate": a.article_hit_rate,
            "emergencies": a.emergencies,
            "emergency_rate": a.emergency_rate,
        },
        "unanswerable": {
            "n": a.unanswerable,
            "abstained": a.abstained,
            "abstention_rate": a.abstention_rate,
            "answered": a.answered_unanswerable,
            "answered_rate": a.answered_unanswerable_rate,
            "emergencies": a.emergencies_unanswerable,
            "emergency_rate": a.emergency_unanswerable_rate,
        },
        "quotes": a.quotes,
        "faithful_quotes": a.faithful_quotes,
        "citation_fidelity": a.citation_fidelity,
        "latency_ms": _latency_json(a.latency),
    }


def _latency_json(value: Latency) -> dict[str, Any]:
    return {
        "p50": value.p50_ms,
        "p95": value.p95_ms,
        "counted": value.counted,
        "calls": value.calls,
    }


# --- TREC files --------------------------------------------------------------------------


@dataclass(frozen=True)
class TrecFiles:
    """The files ``write_trec`` wrote. ``pairs`` is (mode, level, run, qrels) for each
    scored level: what to give trec_eval to reproduce the report's numbers."""

    runs: tuple[Path, ...]
    qrels: tuple[Path, ...]
    pairs: tuple[tuple[str, str, Path, Path], ...]


def write_trec(
    report: EvalReport, run_prefix: Path | str, qrels_prefix: Path | str | None = None
) -> TrecFiles:
    """Write TREC run and qrels files for every mode and level.

    Naming, for ``--trec-run OUT``: OUT is a prefix, so ``OUT.<mode>.<level>.run`` and
    ``OUT.<level>.qrels`` (``qrels_prefix`` defaults to ``run_prefix``); if OUT is an
    existing directory, the files go inside it as ``<mode>.<level>.run`` and
    ``<level>.qrels``. A missing parent directory is created.

    Runs are written for the two rankings, ``article`` and ``section``, with tag
    ``medcite-<mode>-<level>``; qrels for the three levels ``article``, ``article-lenient``
    and ``section``. The lenient level is the article run scored against the lenient qrels
    (``pairs`` lists it). Each run holds the questions counted at its level, ids
    deduplicated; the score column is ``len(list) - rank + 1`` rather than the retrieval
    score, because trec_eval orders by score and retrieval scores can tie, which would
    reorder the list (the retrieval scores are in ``Ranking.scores``). A question with no
    hit has no lines, as trec_eval expects; it still counts 0 in the report's divisor.
    """
    run_base = _trec_base(Path(run_prefix))
    qrels_base = _trec_base(Path(qrels_prefix if qrels_prefix is not None else run_prefix))

    qrels_paths: dict[str, Path] = {}
    for level in LEVELS:
        if report.qrels[level]:
            qrels_paths[level] = _name(qrels_base, f"{level}.qrels")
            write_trec_qrels(qrels_paths[level], report.qrels[level])

    runs: list[Path] = []
    pairs: list[tuple[str, str, Path, Path]] = []
    for result in report.modes:
        for ranked in (ARTICLE, SECTION):
            counted = report.qrels[ranked]
            if not counted:
                continue
            path = _name(run_base, f"{result.mode}.{ranked}.run")
            write_trec_run(
                path,
                {
                    r.question_id: [(doc, float(len(r.ids) - i)) for i, doc in enumerate(r.ids)]
                    for r in result.rankings[ranked]
                    if r.question_id in counted
                },
                f"medcite-{result.mode}-{ranked}",
            )
            runs.append(path)
        for level in LEVELS:
            if level in qrels_paths:
                run = _name(run_base, f"{result.mode}.{RANKED_BY[level]}.run")
                pairs.append((result.mode, level, run, qrels_paths[level]))
    return TrecFiles(tuple(runs), tuple(qrels_paths.values()), tuple(pairs))


def _trec_base(prefix: Path) -> Path:
    if prefix.is_dir():
        return prefix
    prefix.parent.mkdir(parents=True, exist_ok=True)
    return prefix


def _name(base: Path, suffix: str) -> Path:
    return base / suffix if base.is_dir() else base.with_name(f"{base.name}.{suffix}")
