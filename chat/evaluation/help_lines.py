"""Scoring help lines on a labelled message file: for each topic, how often the right line is
shown, and how often a line is shown to a message that needs none.

A help-line file is JSON Lines of ``{"id", "text", "support": "crisis" | "poison" | "none"}``
(``bench/data/triage/support/``): messages that are not emergencies, where a reader would want
the suicide and crisis line ("crisis"), Poison Control ("poison"), or neither ("none"). A
message triage takes for an emergency gets the urgent reply instead of a line: counted apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from medcite.chat.triage import NO_HELP, Reading
from medcite.index.errors import InputError


@dataclass(frozen=True)
class HelpCase:
    id: str
    text: str
    topic: str  # "crisis", "poison" or "none"


URGENT = "emergency"  # what a message got instead of a line: triage's urgent reply


@dataclass(frozen=True)
class HelpResult:
    case: HelpCase
    shown: str  # the topic of the line shown, "none", or URGENT


@dataclass(frozen=True)
class TopicScore:
    topic: str
    messages: int
    right: int  # the right line shown (for "none": no line and no urgent reply)
    other_line: int  # a line of another topic shown
    urgent: int  # triage's urgent reply instead (for "crisis" and "poison" it has the number)


@dataclass(frozen=True)
class HelpLineReport:
    topics: tuple[TopicScore, ...]
    wrong: tuple[HelpResult, ...]
    model: str


def load_help_file(path: Path) -> list[HelpCase]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the help-line file {path}: {exc}") from None
    cases = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            cases.append(HelpCase(str(row["id"]), str(row["text"]), str(row["support"])))
        except (ValueError, KeyError, TypeError):
            raise InputError(
                f"{path}:{number}: expected a JSON object with id, text and support"
            ) from None
    if not cases:
        raise InputError(f"the help-line file {path} has no messages")
    return cases


def evaluate_help_lines(
    cases: Iterable[HelpCase], read: Callable[[str], Reading], model: str
) -> HelpLineReport:
    """Score triage's ``read`` (``Triage.read`` with an embedder) on ``cases``."""
    results = []
    for case in cases:
        reading = read(case.text)
        if reading.emergency is not None:
            results.append(HelpResult(case, URGENT))
        else:
            results.append(
                HelpResult(case, reading.help_line.topic if reading.help_line else NO_HELP)
            )
    topics = []
    for topic in sorted({r.case.topic for r in results}):
        mine = [r for r in results if r.case.topic == topic]
        right = sum(r.shown == topic for r in mine)
        other = sum(r.shown not in (topic, NO_HELP, URGENT) for r in mine)
        urgent = sum(r.shown == URGENT for r in mine)
        topics.append(TopicScore(topic, len(mine), right, other, urgent))
    wrong = tuple(r for r in results if r.shown != r.case.topic)
    return HelpLineReport(tuple(topics), wrong, model)


def format_help_line_report(report: HelpLineReport, *, show_wrong: int = 30) -> str:
    lines = [
        f"help lines ({report.model})",
        "| topic | messages | right | another topic's line | urgent reply instead |",
        "|---|---|---|---|---|",
    ]
    for s in report.topics:
        rate = s.right / s.messages if s.messages else 0.0
        lines.append(
            f"| {s.topic} | {s.messages} | {s.right} ({rate:.3f}) | {s.other_line} | {s.urgent} |"
        )
    if report.wrong:
        lines += ["", f"wrong ({len(report.wrong)}, expected -> shown):"]
        for r in report.wrong[:show_wrong]:
            lines.append(f"  {r.case.topic} -> {r.shown}: {r.case.text[:100]}")
    return "\n".join(lines)


def help_line_report_json(report: HelpLineReport) -> dict:
    return {
        "model": report.model,
        "topics": {
            s.topic: {
                "messages": s.messages,
                "right": s.right,
                "other_line": s.other_line,
                "urgent": s.urgent,
            }
            for s in report.topics
        },
        "wrong": [
            {"id": r.case.id, "text": r.case.text, "expected": r.case.topic, "shown": r.shown}
            for r in report.wrong
        ],
    }
