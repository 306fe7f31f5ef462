"""What a question turns into: quotes from stored documents, their citations, an answer; the
kinds of answer and the search modes; and how a follow-up is read against the topic before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class AnswerKind(StrEnum):
    """What an answer is; the value is what the JSON API and stored feedback say."""

    ANSWERED = "answered"  # verbatim quotes with citations
    NOT_COVERED = "not_covered"  # the articles do not answer it: the closest topics instead
    EMERGENCY = "emergency"  # triage recognised an emergency: get help now (quotes, if any,
    # follow for a reader who was asking in general)
    CLARIFY = "clarify"  # a first message that points back at nothing ("what are its symptoms")


# The kinds by name, as answering and evaluation code compare with them.
ANSWERED = AnswerKind.ANSWERED
NOT_COVERED = AnswerKind.NOT_COVERED
EMERGENCY = AnswerKind.EMERGENCY
CLARIFY = AnswerKind.CLARIFY


class SearchMode(StrEnum):
    """How passages are retrieved; the value is the CLI's and the API's ``mode``."""

    DENSE = "dense"  # passage cosine (FAISS)
    LEXICAL = "lexical"  # BM25 over title, heading and passage text (SQLite FTS5)
    HYBRID = "hybrid"  # both, fused with the section-label cosine


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
    """An article by id and title: one offered when a question is not answered, or the one a
    conversation last answered from, which a follow-up refers back to."""

    doc_id: str
    title: str


# Words that point back at something said before ("what are its symptoms?").
_BACK_REFERENCE = re.compile(
    r"\b(it|its|it's|itself|this|that|these|those|they|them|their|the (condition|disease|"
    r"disorder|illness|syndrome|problem))\b",
    re.IGNORECASE,
)


def refers_back(question: str) -> bool:
    """Whether the question points back at something said before ("how is it treated")."""
    return _BACK_REFERENCE.search(question) is not None


def resolve_follow_up(question: str, topic: Topic | None) -> str:
    """The question as retrieval should see it: a back-reference gets the earlier topic."""
    if topic is None or not _BACK_REFERENCE.search(question):
        return question
    if topic.title.lower() in question.lower():
        return question
    return f"{question} ({topic.title})"


@dataclass(frozen=True)
class Answer:
    question: str
    kind: AnswerKind
    quotes: tuple[Quote, ...] = ()
    citations: tuple[Citation, ...] = ()
    confidence: float = 0.0
    message: str = ""
    suggestions: tuple[Topic, ...] = ()
    disclaimer: str = ""
    searched_for: str = ""  # the question as retrieval saw it, after resolving a follow-up
    emergency: str = ""  # the situation triage recognised, for EMERGENCY answers ("stroke")
    emergency_name: str = ""  # how the reply names it ("a possible stroke")
    # For a message that is not an emergency but touches on suicide or self-harm ("crisis") or
    # a possible poisoning ("poison"): the help line shown before the answer.
    help_topic: str = ""
    help_line: str = ""
