"""What a question turns into: quotes from stored documents, their citations, an answer."""

from __future__ import annotations

from dataclasses import dataclass

# Answer kinds
ANSWERED = "answered"
NOT_COVERED = "not_covered"
EMERGENCY = "emergency"


@dataclass(frozen=True)
class Citation:
    """Where a quote comes from: enough to link to the article and highlight the span."""

    number: int
    doc_id: str
    title: str
    url: str
    source: str
    heading: str
    section_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Quote:
    """Verbatim text: ``quote.text == document.text[quote.start:quote.end]``."""

    text: str
    doc_id: str
    start: int
    end: int
    section_id: str
    heading: str
    citation: int
    score: float


@dataclass(frozen=True)
class Topic:
    """A covered article offered when the question is not answered."""

    doc_id: str
    title: str


@dataclass(frozen=True)
class Answer:
    question: str
    kind: str
    quotes: tuple[Quote, ...] = ()
    citations: tuple[Citation, ...] = ()
    confidence: float = 0.0
    message: str = ""
    suggestions: tuple[Topic, ...] = ()
    disclaimer: str = ""
    searched_for: str = ""  # the question as retrieval saw it, after resolving a follow-up
    emergency: str = ""  # the situation triage recognised, for EMERGENCY answers ("stroke")
    emergency_name: str = ""  # how the reply names it ("a possible stroke")
