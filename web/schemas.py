"""The JSON API's request and response bodies, and how chat/index objects become them."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, Field, StringConstraints

from medcite.chat.answer import MAX_QUESTION_CHARS
from medcite.chat.conversation import CONVERSATION_ID
from medcite.chat.types import Answer, AnswerKind, Citation, SearchMode
from medcite.index.types import Document, Hit

CONVERSATION_ID_PATTERN = f"^{CONVERSATION_ID.pattern}$"
SourceName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


def safe_url(url: str) -> str:
    """The article's original address if it is a plain http(s) URL, else "" (a corpus could
    hold ``javascript:`` URLs, which autoescaping does not defuse in an href)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


def doc_link(doc_id: str, start: int | None = None, end: int | None = None) -> str:
    """Where the article view shows ``doc_id``, with the span highlighted when given."""
    path = f"/doc/{quote(doc_id, safe='')}"
    if start is None or end is None:
        return path
    return f"{path}?start={start}&end={end}#quote"


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    conversation_id: str | None = Field(default=None, pattern=CONVERSATION_ID_PATTERN)
    sources: list[SourceName] | None = Field(default=None, max_length=20)


class QuoteOut(BaseModel):
    text: str
    doc_id: str
    start: int
    end: int
    section_id: str
    heading: str
    citation: int


class CitationOut(BaseModel):
    number: int
    doc_id: str
    title: str
    url: str
    source: str
    heading: str
    section_id: str
    start: int
    end: int
    link: str

    @classmethod
    def of(cls, citation: Citation) -> CitationOut:
        return cls(
            number=citation.number,
            doc_id=citation.doc_id,
            title=citation.title,
            url=safe_url(citation.url),
            source=citation.source,
            heading=citation.heading,
            section_id=citation.section_id,
            start=citation.start,
            end=citation.end,
            link=doc_link(citation.doc_id, citation.start, citation.end),
        )


class TopicOut(BaseModel):
    doc_id: str
    title: str


class AnswerOut(BaseModel):
    kind: AnswerKind
    question: str
    quotes: list[QuoteOut]
    citations: list[CitationOut]
    message: str
    suggestions: list[TopicOut]
    disclaimer: str
    confidence: float
    searched_for: str
    conversation_id: str
    emergency: str = Field(
        "", description="for kind 'emergency': the situation recognised, e.g. 'stroke'"
    )
    emergency_name: str = Field("", description="how the reply names it: 'a possible stroke'")
    help_topic: str = Field(
        "",
        description="for a message that is not an emergency but touches on suicide or "
        "self-harm ('crisis') or a possible poisoning ('poison'): the help line's topic",
    )
    help_line: str = Field("", description="the help line to show before the answer")

    @classmethod
    def of(cls, answer: Answer, conversation_id: str) -> AnswerOut:
        return cls(
            kind=answer.kind,
            question=answer.question,
            quotes=[
                QuoteOut(
                    text=q.text,
                    doc_id=q.doc_id,
                    start=q.start,
                    end=q.end,
                    section_id=q.section_id,
                    heading=q.heading,
                    citation=q.citation,
                )
                for q in answer.quotes
            ],
            citations=[CitationOut.of(c) for c in answer.citations],
            message=answer.message,
            suggestions=[TopicOut(doc_id=t.doc_id, title=t.title) for t in answer.suggestions],
            disclaimer=answer.disclaimer,
            confidence=answer.confidence,
            searched_for=answer.searched_for,
            conversation_id=conversation_id,
            emergency=answer.emergency,
            emergency_name=answer.emergency_name,
            help_topic=answer.help_topic,
            help_line=answer.help_line,
        )


class HitOut(BaseModel):
    doc_id: str
    title: str
    url: str
    source: str
    section_id: str
    heading: str
    start: int
    end: int
    text: str
    score: float
    link: str

    @classmethod
    def of(cls, hit: Hit) -> HitOut:
        p = hit.passage
        return cls(
            doc_id=p.doc_id,
            title=hit.title,
            url=safe_url(hit.url),
            source=hit.source,
            section_id=p.section_id,
            heading=p.heading,
            start=p.start,
            end=p.end,
            text=p.text,
            score=hit.score,
            link=doc_link(p.doc_id, p.start, p.end),
        )


class SearchOut(BaseModel):
    query: str
    mode: SearchMode
    k: int
    count: int
    took_ms: float
    hits: list[HitOut]


class SectionOut(BaseModel):
    id: str
    heading: str
    start: int
    end: int


class DocumentOut(BaseModel):
    id: str
    title: str
    url: str
    source: str
    text: str
    sections: list[SectionOut]

    @classmethod
    def of(cls, document: Document) -> DocumentOut:
        return cls(
            id=document.id,
            title=document.title,
            url=safe_url(document.url),
            source=document.source,
            text=document.text,
            sections=[
                SectionOut(id=s.id, heading=s.heading, start=s.start, end=s.end)
                for s in document.sections
            ],
        )


class ReloadOut(BaseModel):
    generation: int
    previous_generation: int | None
    documents: int
    passages: int


class ErrorOut(BaseModel):
    error: str
