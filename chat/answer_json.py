"""An ``Answer`` as JSON and back, for the conversations kept in a database (no pickle: a row
must be readable by any worker, and by the next version of medcite during a rolling restart).

``answer_from_json(answer_to_json(a)) == a`` for every answer. Reading ignores keys it does not
know and gives fields that are missing their defaults, so a row written by a slightly older or
newer medcite still reads.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, TypeVar

from medcite.chat.types import Answer, AnswerKind, Citation, Quote, Topic

T = TypeVar("T")


def answer_to_json(answer: Answer) -> str:
    return json.dumps(
        {
            "question": answer.question,
            "kind": answer.kind.value if isinstance(answer.kind, AnswerKind) else answer.kind,
            "quotes": [dataclasses.asdict(quote) for quote in answer.quotes],
            "citations": [dataclasses.asdict(citation) for citation in answer.citations],
            "confidence": answer.confidence,
            "message": answer.message,
            "suggestions": [dataclasses.asdict(topic) for topic in answer.suggestions],
            "disclaimer": answer.disclaimer,
            "searched_for": answer.searched_for,
            "emergency": answer.emergency,
            "emergency_name": answer.emergency_name,
            "help_topic": answer.help_topic,
            "help_line": answer.help_line,
        },
        ensure_ascii=False,
    )


def answer_from_json(data: str) -> Answer:
    fields = json.loads(data)
    return _build(
        Answer,
        fields
        | {
            "kind": AnswerKind(fields["kind"]),
            "quotes": tuple(_build(Quote, item) for item in fields.get("quotes", ())),
            "citations": tuple(_build(Citation, item) for item in fields.get("citations", ())),
            "suggestions": tuple(_build(Topic, item) for item in fields.get("suggestions", ())),
        },
    )


def _build(cls: type[T], fields: Mapping[str, Any]) -> T:
    """``cls`` from those of ``fields`` it has (a missing one gets its default, if any)."""
    assert dataclasses.is_dataclass(cls)
    known = {field.name for field in dataclasses.fields(cls)}
    return cls(**{name: value for name, value in fields.items() if name in known})
