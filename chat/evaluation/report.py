"""A run's report: the terminal table, JSON, one row per question, and TREC files.

The retrieval rows come from ``run.LEVELS`` and the answer rows from
``metrics.ANSWER_METRICS``: adding a level or an answer metric there adds it to every output.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medcite.chat.evaluation.metrics import (
    ANSWER_GROUPS,
    ANSWER_METRICS,
    DEFAULT_KS,
    AnswerGroup,
    AnswerMetric,
    AnswerRecord,
    relevant_ids,
)
from medcite.chat.evaluation.run import LEVELS, RANKINGS, AnswerScores, EvalReport, Latency
from medcite.index.errors import InputError

BASELINE_NOTE = (
    '"lexical" is the plain BM25 baseline (SQLite FTS5 bm25 over title, heading and passage '
    "text), not the bm25s table in the corpus README"
)


def describe(report: EvalReport) -> list[str]:
    """What was counted, in sentences: the header of the table and of the JSON."""
    name = report.questions_file or "(unnamed question set)"
    if report.split:
        name += f" (split {report.split})"
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
            "levels: " + "; ".join(f"{level.label} = {level.relevant}" for level in LEVELS),
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


# --- text --------------------------------------------------------------------------------


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
        label = level.label
        found = [m.scores[level.key] for m in report.modes]
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
    tallies = a.tallies()
    lines = [f"{'answers':<44}{'rate':>7}  count", "-" * 62]
    for group in ANSWER_GROUPS:
        n = a.n(group)
        if group.optional and not n:
            continue
        indent = "  " if group.title else ""
        if group.title:
            lines.append(f"{group.title}: {n}")
        for metric in _metrics_of(group):
            found = tallies[metric.id]
            lines.append(
                f"{indent}{metric.label:<{44 - len(indent)}}{_num(found.rate):>7}  "
                f"{found.count}/{found.total}{metric.unit}"
            )
    lat = a.latency
    lines.append(
        f"ask latency: p50 {_ms(lat.p50_ms)} ms, p95 {_ms(lat.p95_ms)} ms "
        f"({lat.counted} of {lat.calls} calls timed)"
    )
    return lines


def _metrics_of(group: AnswerGroup) -> list[AnswerMetric]:
    return [metric for metric in ANSWER_METRICS if metric.group is group]


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


# --- JSON --------------------------------------------------------------------------------


def report_json(report: EvalReport, *, rankings: bool = False) -> dict[str, Any]:
    """The report as plain JSON data; with ``rankings``, every question's ranked ids too."""
    data: dict[str, Any] = {
        "description": describe(report),
        "questions_file": report.questions_file,
        "split": report.split or None,
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
        "retrieval": {m.mode: _mode_json(m.scores, m.latency) for m in report.modes},
        "answers": _answers_json(report.answers) if report.answers is not None else None,
    }
    if rankings:
        data["rankings"] = {
            m.mode: {
                ranked: {r.question_id: list(r.ids) for r in found}
                for ranked, found in m.rankings.items()
            }
            for m in report.modes
        }
    return data


def _mode_json(scores: Mapping[str, Any], latency: Latency) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for level in LEVELS:
        found = scores[level.key]
        if found is None:
            data[level.key] = {"n": 0}
            continue
        data[level.key] = {
            "n": found.n,
            **{f"R@{k}": v for k, v in found.recall.items()},
            "MRR@10": found.mrr10,
            "nDCG@10": found.ndcg10,
        }
    data["latency_ms"] = _latency_json(latency)
    return data


def _answers_json(a: AnswerScores) -> dict[str, Any]:
    """Each group's object holds its ``n``, then per metric the divisor (when it is not
    ``n``), the count and the rate; the group with key "" writes into this object itself."""
    tallies = a.tallies()
    data: dict[str, Any] = {}
    for group in ANSWER_GROUPS:
        target = data
        if group.key:
            target = data[group.key] = {"n": a.n(group)}
        for metric in _metrics_of(group):
            found = tallies[metric.id]
            if metric.out_of is not None:
                target[metric.total_key] = found.total
            target[metric.count_key] = found.count
            target[metric.rate_key] = found.rate
    data["definitions"] = {metric.id: metric.description for metric in ANSWER_METRICS}
    data["latency_ms"] = _latency_json(a.latency)
    return data


def _latency_json(value: Latency) -> dict[str, Any]:
    return {
        "p50": value.p50_ms,
        "p95": value.p95_ms,
        "counted": value.counted,
        "calls": value.calls,
    }


# --- one row per question ----------------------------------------------------------------


def question_rows(report: EvalReport) -> Iterator[dict[str, Any]]:
    """One JSON object per question, in question order, for a person to read what went
    wrong: the question, the reply's kind and quotes (doc ids, offsets, text), the gold, and
    the verdicts of every answer metric whose group holds the question (a count metric
    gives its count and its divisor, e.g. ``gold_spans_hit`` of ``gold_spans``).

    Raises ``InputError`` when the run skipped the answers."""
    if report.answers is None:
        raise InputError("no answers to write per question: the run skipped them")
    for record in report.answers.records:
        yield _question_row(record)


def write_question_rows(report: EvalReport, path: Path) -> int:
    """Write ``question_rows`` as JSON Lines to ``path`` (its parent directory is created);
    returns how many rows were written."""
    rows = [json.dumps(row, ensure_ascii=False) + "\n" for row in question_rows(report)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(rows), encoding="utf-8")
    return len(rows)


def _question_row(record: AnswerRecord) -> dict[str, Any]:
    question, reply = record.question, record.reply
    verdicts: dict[str, Any] = {}
    for metric in ANSWER_METRICS:
        if not metric.group.member(record):
            continue
        if metric.out_of is None:
            verdicts[metric.name] = bool(metric.count(record))
        else:
            verdicts[metric.name] = int(metric.count(record))
            verdicts[metric.total_key] = metric.out_of(record)
    return {
        "id": question.id,
        "question": question.text,
        "expected": "answerable" if question.answerable else "unanswerable",
        "split": question.split or None,
        "category": question.category or None,
        "kind": reply.kind,
        "emergency": reply.emergency or None,
        "help_line": reply.help_topic or None,
        "confidence": reply.confidence,
        "quotes": [
            {
                "doc_id": quote.doc_id,
                "start": quote.start,
                "end": quote.end,
                "section_id": quote.section_id,
                "text": quote.text,
            }
            for quote in reply.quotes
        ],
        "article_ids": list(question.article_ids),
        "section_ids": list(question.section_ids),
        "gold": [
            {"doc_id": span.doc_id, "start": span.start, "end": span.end} for span in question.gold
        ],
        "verdicts": verdicts,
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
    ``medcite-<mode>-<level>``; qrels for every level of ``LEVELS`` (``article``,
    ``article-lenient`` and ``section``). The lenient level is the article run scored against
    the lenient qrels (``pairs`` lists it). Each run holds the questions counted at its level,
    ids deduplicated; the score column is ``len(list) - rank + 1`` rather than the retrieval
    score, because trec_eval orders by score and retrieval scores can tie, which would
    reorder the list (the retrieval scores are in ``Ranking.scores``). A question with no
    hit has no lines, as trec_eval expects; it still counts 0 in the report's divisor.
    """
    run_base = _trec_base(Path(run_prefix))
    qrels_base = _trec_base(Path(qrels_prefix if qrels_prefix is not None else run_prefix))

    qrels_paths: dict[str, Path] = {}
    for level in LEVELS:
        if report.qrels[level.key]:
            qrels_paths[level.key] = _name(qrels_base, f"{level.key}.qrels")
            write_trec_qrels(qrels_paths[level.key], report.qrels[level.key])

    runs: list[Path] = []
    pairs: list[tuple[str, str, Path, Path]] = []
    for result in report.modes:
        for ranked in RANKINGS:
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
            if level.key in qrels_paths:
                run = _name(run_base, f"{result.mode}.{level.ranked_by}.run")
                pairs.append((result.mode, level.key, run, qrels_paths[level.key]))
    return TrecFiles(tuple(runs), tuple(qrels_paths.values()), tuple(pairs))


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
        for doc in sorted(relevant_ids(relevant)):
            _check_token(doc, "document id")
            lines.append(f"{qid} 0 {doc} 1\n")
    Path(path).write_text("".join(lines), encoding="utf-8")


def _check_token(value: str, what: str) -> None:
    """TREC files are whitespace-separated: an id with spaces would shift every column."""
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"{what} {value!r} is empty or contains whitespace")


def _trec_base(prefix: Path) -> Path:
    if prefix.is_dir():
        return prefix
    prefix.parent.mkdir(parents=True, exist_ok=True)
    return prefix


def _name(base: Path, suffix: str) -> Path:
    return base / suffix if base.is_dir() else base.with_name(f"{base.name}.{suffix}")
