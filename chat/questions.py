"""Evaluation questions: one JSON object per line, as in the corpus's question files.

A line looks like ``{"id", "question", "article_id" (or "article_ids"), "section_ids",
"equivalent_article_ids", "qtype"}``; an unanswerable one carries ``"answerable": false`` and no
gold ids. Unknown fields are ignored, blank lines skipped. See ``corpus/README-data.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medcite.index.errors import InputError


class _BadLineError(Exception):
    """What is wrong with one line; ``load_questions`` adds the file name and line number."""


@dataclass(frozen=True)
class Question:
    """A question with its gold articles and sections (both empty when unanswerable)."""

    id: str
    text: str
    article_ids: tuple[str, ...]
    section_ids: tuple[str, ...]
    equivalent_article_ids: tuple[str, ...]
    answerable: bool
    qtype: str = ""


def load_questions(path: Path) -> list[Question]:
    """Read a questions JSONL file, in file order.

    Raises ``InputError`` if the file cannot be read, or naming the file and line number of the
    first line that is not a valid question (bad JSON, missing or mistyped field, duplicate id,
    an answerable question without gold ids, an unanswerable one with them).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such questions file") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None

    questions: list[Question] = []
    first_line_of: dict[str, int] = {}
    # Split on "\n" only: str.splitlines() would also break on U+2028 inside JSON strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            question = _parse_line(line)
            if question.id in first_line_of:
                raise _BadLineError(
                    f"duplicate id {question.id!r} (first on line {first_line_of[question.id]})"
                )
        except _BadLineError as error:
            raise InputError(f"{path.name} line {number}: {error}") from None
        first_line_of[question.id] = number
        questions.append(question)
    return questions


def _parse_line(line: str) -> Question:
    """One non-blank line to a Question; ``_BadLineError`` says what is wrong with it."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise _BadLineError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise _BadLineError(f"expected a JSON object, got {type(record).__name__}")

    question_id = _required_text(record, "id")
    text = _required_text(record, "question")
    article_ids = _article_ids(record)
    section_ids = _id_list(record, "section_ids")
    equivalent_article_ids = _id_list(record, "equivalent_article_ids")
    qtype = record.get("qtype", "")
    if not isinstance(qtype, str):
        raise _BadLineError("'qtype' must be a string")
    answerable = record.get("answerable", True)
    if not isinstance(answerable, bool):
        raise _BadLineError("'answerable' must be true or false")

    if answerable and not article_ids and not section_ids:
        raise _BadLineError("answerable question has no 'article_id' and no 'section_ids'")
    if not answerable and (article_ids or section_ids or equivalent_article_ids):
        raise _BadLineError("'answerable' is false but gold article or section ids are given")

    return Question(
        id=question_id,
        text=text,
        article_ids=article_ids,
        section_ids=section_ids,
        equivalent_article_ids=equivalent_article_ids,
        answerable=answerable,
        qtype=qtype,
    )


def _required_text(record: dict[str, Any], field: str) -> str:
    if field not in record:
        raise _BadLineError(f"missing {field!r}")
    value = record[field]
    if not isinstance(value, str) or not value.strip():
        raise _BadLineError(f"{field!r} must be a non-empty string")
    return value


def _article_ids(record: dict[str, Any]) -> tuple[str, ...]:
    """``article_id`` (one string) or ``article_ids`` (a list), not both."""
    if "article_id" in record and "article_ids" in record:
        raise _BadLineError("give either 'article_id' or 'article_ids', not both")
    if "article_id" in record:
        value = record["article_id"]
        if not isinstance(value, str) or not value:
            raise _BadLineError("'article_id' must be a non-empty string")
        return (value,)
    return _id_list(record, "article_ids")


def _id_list(record: dict[str, Any], field: str) -> tuple[str, ...]:
    """An optional list of non-empty id strings; duplicates are dropped, order kept."""
    value = record.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _BadLineError(f"{field!r} must be a list of non-empty strings")
    return tuple(dict.fromkeys(value))
