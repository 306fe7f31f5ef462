"""Scoring triage on a labelled message file: recall, false alarms and misses per situation.

A triage file is JSON Lines of ``{"id", "text", "label": "emergency" | "not_emergency",
"situation"}`` (``bench/data/triage/``); ``situation`` names the emergency, or for a look-alike
the topic it resembles.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from medcite.chat.triage import Emergency
from medcite.index.errors import InputError

EMERGENCY_LABEL = "emergency"
NOT_EMERGENCY_LABEL = "not_emergency"


@dataclass(frozen=True)
class TriageCase:
    id: str
    text: str
    emergency: bool
    situation: str


@dataclass(frozen=True)
class TriageResult:
    case: TriageCase
    found: Emergency | None


@dataclass(frozen=True)
class SituationScore:
    situation: str
    emergencies: int
    caught: int
    named_right: int
    look_alikes: int
    false_alarms: int

    @property
    def recall(self) -> float | None:
        return self.caught / self.emergencies if self.emergencies else None

    @property
    def false_alarm_rate(self) -> float | None:
        return self.false_alarms / self.look_alikes if self.look_alikes else None


@dataclass(frozen=True)
class TriageReport:
    situations: tuple[SituationScore, ...]
    misses: tuple[TriageResult, ...]
    false_alarms: tuple[TriageResult, ...]
    latency_ms_p50: float
    model: str
    totals: SituationScore = field(init=False)

    def __post_init__(self) -> None:
        total = SituationScore(
            "all",
            sum(s.emergencies for s in self.situations),
            sum(s.caught for s in self.situations),
            sum(s.named_right for s in self.situations),
            sum(s.look_alikes for s in self.situations),
            sum(s.false_alarms for s in self.situations),
        )
        object.__setattr__(self, "totals", total)


def load_triage_file(path: Path) -> list[TriageCase]:
    cases = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the triage file {path}: {exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            label = row["label"]
            if label not in (EMERGENCY_LABEL, NOT_EMERGENCY_LABEL):
                raise ValueError(
                    f"label {label!r} is not {EMERGENCY_LABEL!r} or {NOT_EMERGENCY_LABEL!r}"
                )
            cases.append(
                TriageCase(
                    str(row["id"]), str(row["text"]), label == EMERGENCY_LABEL, row["situation"]
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}, line {number}: not a triage case ({exc})") from None
    if not cases:
        raise InputError(f"{path} holds no triage cases")
    return cases


def evaluate_triage(
    cases: Iterable[TriageCase], assess: Callable[[str], Emergency | None], model: str
) -> TriageReport:
    """Runs ``assess`` (one message in, an Emergency or None out) on every case."""
    results, seconds = [], []
    for case in cases:
        started = time.perf_counter()
        found = assess(case.text)
        seconds.append(time.perf_counter() - started)
        results.append(TriageResult(case, found))
    return summarise(results, seconds, model)


def summarise(
    results: Sequence[TriageResult], seconds: Sequence[float], model: str
) -> TriageReport:
    situations = sorted({r.case.situation for r in results})
    scores = []
    for situation in situations:
        mine = [r for r in results if r.case.situation == situation]
        emergencies = [r for r in mine if r.case.emergency]
        look_alikes = [r for r in mine if not r.case.emergency]
        scores.append(
            SituationScore(
                situation,
                len(emergencies),
                sum(r.found is not None for r in emergencies),
                sum(r.found is not None and r.found.situation == situation for r in emergencies),
                len(look_alikes),
                sum(r.found is not None for r in look_alikes),
            )
        )
    ordered = sorted(seconds)
    p50 = ordered[len(ordered) // 2] * 1000 if ordered else 0.0
    return TriageReport(
        situations=tuple(scores),
        misses=tuple(r for r in results if r.case.emergency and r.found is None),
        false_alarms=tuple(r for r in results if not r.case.emergency and r.found is not None),
        latency_ms_p50=p50,
        model=model,
    )


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_triage_report(report: TriageReport, *, show_misses: int = 50) -> str:
    rows = [f"triage: {report.model}; p50 {report.latency_ms_p50:.1f} ms a message", ""]
    rows.append(
        f"{'situation':<16} {'emergencies':>11} {'recall':>7} {'named':>6} "
        f"{'look-alikes':>11} {'false alarms':>12}"
    )
    for s in (*report.situations, report.totals):
        named = _rate(s.named_right / s.caught if s.caught else None)
        rows.append(
            f"{s.situation:<16} {s.emergencies:>11} {_rate(s.recall):>7} {named:>6} "
            f"{s.look_alikes:>11} {_rate(s.false_alarm_rate):>12}"
        )
    for title, found in (("missed", report.misses), ("false alarms", report.false_alarms)):
        if found:
            rows += ["", f"{title} ({len(found)}):"]
            for result in found[:show_misses]:
                said = f" -> {result.found.situation}" if result.found else ""
                rows.append(f"  [{result.case.situation}{said}] {result.case.text[:150]}")
            if len(found) > show_misses:
                rows.append(f"  ... and {len(found) - show_misses} more")
    return "\n".join(rows)


def report_json(report: TriageReport) -> dict:
    def score(s: SituationScore) -> dict:
        return {
            "situation": s.situation,
            "emergencies": s.emergencies,
            "caught": s.caught,
            "recall": s.recall,
            "named_right": s.named_right,
            "look_alikes": s.look_alikes,
            "false_alarms": s.false_alarms,
            "false_alarm_rate": s.false_alarm_rate,
        }

    def case(result: TriageResult) -> dict:
        found = result.found.situation if result.found else None
        return {"id": result.case.id, "situation": result.case.situation, "found": found}

    return {
        "model": report.model,
        "latency_ms_p50": report.latency_ms_p50,
        "totals": score(report.totals),
        "situations": [score(s) for s in report.situations],
        "misses": [case(r) | {"text": r.case.text} for r in report.misses],
        "false_alarms": [case(r) | {"text": r.case.text} for r in report.false_alarms],
    }
