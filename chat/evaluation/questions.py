"""Evaluation questions: one JSON object per line, in either of two shapes.

The corpus's question files (``corpus/README-data.md``): ``{"id", "question", "article_id"
(or "article_ids"), "section_ids", "equivalent_article_ids", "qtype"}``; an unanswerable one
carries ``"answerable": false`` and no gold ids.

Questions with gold answer spans (``bench/data/real/*.jsonl``): ``{"id", "question", "kind":
"answerable" | "unanswerable", "article_ids", "gold": [{"doc_id", "start", "end"}], "split",
"category"}``. A gold span is ``document.text[start:end]`` of a passage that answers the
question; when ``article_ids`` is missing, the gold spans' articles are the gold articles.

Unknown fields are ignored, blank lines skipped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from medcite.index.errors import InputError

ANSWERABLE_KIND = "answerable"
UNANSWERABLE_KIND = "unanswerable"


class _BadLineError(Exception):
    """What is wrong with one line; ``load_questions`` adds the file name and line number."""


@dataclass(frozen=True)
class Span:
    """Characters ``start:end`` of the stored document ``doc_id``."""

    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Question:
    """A question with its gold articles and sections (both empty when unanswerable).

    ``gold`` holds the answer spans when the file gives them; ``split`` ("tune", "check") and
    ``category`` (why an unanswerable question is not answered) are empty when it does not."""

    id: str
    text: str
    article_ids: tuple[str, ...]
    section_ids: tuple[str, ...]
    equivalent_article_ids: tuple[str, ...]
    answerable: bool
    qtype: str = ""
    gold: tuple[Span, ...] = ()
    split: str = ""
    category: str = ""

    @property
    def gold_articles(self) -> frozenset[str]:
        """``article_ids`` and the articles of the gold spans."""
        return frozenset(self.article_ids) | {span.doc_id for span in self.gold}


def load_questions(path: Path) -> list[Question]:
    """Read a questions JSONL file, in file order.

    Raises ``InputError`` if the file cannot be read, or naming the file and line number of the
    first line that is not a valid question (bad JSON, missing or mistyped field, duplicate id,
    an answerable question without gold ids or spans, an unanswerable one with them, a ``kind``
    that contradicts ``answerable``).
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


def select_split(questions: Sequence[Question], split: str) -> list[Question]:
    """The questions of one ``split``, in order. Raises ``InputError`` when no question has a
    split (the file has no such field) or none is in this one."""
    splits = sorted({q.split for q in questions if q.split})
    if not splits:
        raise InputError(f"the questions have no 'split' field, so there is no {split!r} split")
    chosen = [q for q in questions if q.split == split]
    if not chosen:
        raise InputError(f"no question is in split {split!r}; the splits are {', '.join(splits)}")
    return chosen


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
    gold = _gold_spans(record)
    qtype = _optional_text(record, "qtype")
    split = _optional_text(record, "split")
    category = _optional_text(record, "category")
    answerable = _answerable(record)

    if answerable and not article_ids and not section_ids and not gold:
        raise _BadLineError(
            "answerable question has no 'article_id', no 'section_ids' and no 'gold' spans"
        )
    if not answerable and (article_ids or section_ids or equivalent_article_ids or gold):
        raise _BadLineError(
            "'answerable' is false but gold article or section ids or gold spans are given"
        )
    if gold and not article_ids:
        article_ids = tuple(dict.fromkeys(span.doc_id for span in gold))

    return Question(
        id=question_id,
        text=text,
        article_ids=article_ids,
        section_ids=section_ids,
        equivalent_article_ids=equivalent_article_ids,
        answerable=answerable,
        qtype=qtype,
        gold=gold,
        split=split,
        category=category,
    )


def _answerable(record: dict[str, Any]) -> bool:
    """``answerable`` (true or false, default true) or ``kind``; both given must agree."""
    answerable = record.get("answerable", True)
    if not isinstance(answerable, bool):
        raise _BadLineError("'answerable' must be true or false")
    if "kind" not in record:
        return answerable
    kind = record["kind"]
    if kind not in (ANSWERABLE_KIND, UNANSWERABLE_KIND):
        raise _BadLineError(f"'kind' must be {ANSWERABLE_KIND!r} or {UNANSWERABLE_KIND!r}")
    if "answerable" in record and answerable != (kind == ANSWERABLE_KIND):
        raise _BadLineError(f"'kind' is {kind!r} but 'answerable' is {str(answerable).lower()}")
    return kind == ANSWERABLE_KIND


def _required_text(record: dict[str, Any], field: str) -> str:
    if field not in record:
        raise _BadLineError(f"missing {field!r}")
    value = record[field]
    if not isinstance(value, str) or not value.strip():
        raise _BadLineError(f"{field!r} must be a non-empty string")
    return value


def _optional_text(record: dict[str, Any], field: str) -> str:
    value = record.get(field, "")
    if not isinstance(value, str):
        raise _BadLineError(f"{field!r} must be a string")
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


def _gold_spans(record: dict[str, Any]) -> tuple[Span, ...]:
    """An optional list of ``{"doc_id", "start", "end"}`` with 0 <= start < end; duplicates
    are dropped, order kept."""
    value = record.get("gold", [])
    if not isinstance(value, list):
        raise _BadLineError("'gold' must be a list of {'doc_id', 'start', 'end'} objects")
    spans = []
    for number, item in enumerate(value, 1):
        if not isinstance(item, dict):
            raise _BadLineError(f"gold span {number} must be an object")
        doc_id, start, end = item.get("doc_id"), item.get("start"), item.get("end")
        if not isinstance(doc_id, str) or not doc_id:
            raise _BadLineError(f"gold span {number}: 'doc_id' must be a non-empty string")
        if not (_is_offset(start) and _is_offset(end)):
            raise _BadLineError(f"gold span {number}: 'start' and 'end' must be integers")
        if not 0 <= start < end:
            raise _BadLineError(f"gold span {number}: needs 0 <= start < end, got {start}:{end}")
        spans.append(Span(doc_id, start, end))
    return tuple(dict.fromkeys(spans))


def _is_offset(value: object) -> TypeGuard[int]:
    # bool is an int in Python; a true/false offset is a slip, not an offset.
    return isinstance(value, int) and not isinstance(value, bool)
