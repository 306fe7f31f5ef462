"""A question in, an Answer out: safety first, then retrieval, then quotes or a plain 'no'."""

from __future__ import annotations

import math
from dataclasses import dataclass

from chat.conversation import resolve_follow_up
from chat.quotes import query_weights, select_windows
from chat.retrieve import Filters, search
from chat.safety import DISCLAIMER, detect_emergency
from chat.types import ANSWERED, EMERGENCY, NOT_COVERED, Answer, Citation, Quote, Topic
from index.embedder import Embedder
from index.errors import InputError
from index.reader import Index
from index.types import Hit

MAX_QUESTION_CHARS = 1000
NOT_COVERED_MESSAGE = (
    "The articles I can quote from do not seem to answer this question, so I would rather not "
    "guess. These are the closest topics they do cover:"
)


@dataclass(frozen=True)
class AbstainPolicy:
    """Confidence = logistic(bias + w_dense * top dense cosine + w_cover * question coverage).

    Coefficients and threshold come from bench/calibrate.py on the dev questions (answerable
    vs unanswerable); see the README's evaluation section."""

    bias: float = -9.0
    w_dense: float = 10.0
    w_cover: float = 6.0
    threshold: float = 0.5

    def confidence(self, dense: float, coverage: float) -> float:
        z = self.bias + self.w_dense * dense + self.w_cover * coverage
        return 1.0 / (1.0 + math.exp(-z))


DEFAULT_POLICY = AbstainPolicy()


def clean_question(question: str) -> str:
    text = " ".join(question.replace("\x00", " ").split())
    if not text:
        raise InputError("the question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    return text


def ask(
    index: Index,
    embedder: Embedder,
    question: str,
    *,
    topic: Topic | None = None,
    policy: AbstainPolicy = DEFAULT_POLICY,
    filters: Filters | None = None,
    k: int = 8,
) -> Answer:
    """Answer ``question`` with verbatim quotes, say it is not covered, or, for an
    emergency, tell the reader to get help now. ``topic`` is the conversation's last topic."""
    text = clean_question(question)
    emergency = detect_emergency(text)
    if emergency is not None:
        return Answer(
            question=text,
            kind=EMERGENCY,
            message=emergency.message,
            disclaimer=DISCLAIMER,
            emergency=emergency.kind,
            confidence=1.0,
        )
    searched = resolve_follow_up(text, topic)
    hits = search(index, embedder, searched, k=k, mode="hybrid", filters=filters)
    weights = query_weights(searched, index.idf)
    dense, coverage = answer_features(hits, weights)
    confidence = policy.confidence(dense, coverage)
    if not hits or confidence < policy.threshold:
        return Answer(
            question=text,
            kind=NOT_COVERED,
            message=NOT_COVERED_MESSAGE,
            suggestions=_topics(hits),
            confidence=confidence,
            disclaimer=DISCLAIMER,
            searched_for=searched,
        )
    quotes, citations = [], []
    for number, window in enumerate(select_windows(hits, weights), 1):
        hit, passage = window.hit, window.hit.passage
        quote_text = passage.text[window.start - passage.start : window.end - passage.start]
        quotes.append(
            Quote(
                quote_text,
                passage.doc_id,
                window.start,
                window.end,
                passage.section_id,
                passage.heading,
                number,
                window.score,
            )
        )
        citations.append(
            Citation(
                number,
                passage.doc_id,
                hit.title,
                hit.url,
                hit.source,
                passage.heading,
                passage.section_id,
                window.start,
                window.end,
            )
        )
    return Answer(
        question=text,
        kind=ANSWERED,
        quotes=tuple(quotes),
        citations=tuple(citations),
        confidence=confidence,
        disclaimer=DISCLAIMER,
        searched_for=searched,
    )


def answer_features(hits: list[Hit], weights: dict[str, float]) -> tuple[float, float]:
    """(best dense cosine among the hits, share of the question's idf weight that the best
    article's title and passage contain)."""
    if not hits:
        return 0.0, 0.0
    from index.text import terms

    dense = max(hit.signal("dense", 0.0) for hit in hits)
    top = hits[0]
    present = set(terms(top.title + " " + top.passage.text))
    total = sum(weights.values())
    coverage = sum(w for t, w in weights.items() if t in present) / total if total else 0.0
    return dense, coverage


def _topics(hits: list[Hit], limit: int = 5) -> tuple[Topic, ...]:
    seen: dict[str, Topic] = {}
    for hit in hits:
        seen.setdefault(hit.passage.doc_id, Topic(hit.passage.doc_id, hit.title))
    return tuple(list(seen.values())[:limit])


def topic_of(answer: Answer) -> Topic | None:
    """What a follow-up question would refer back to."""
    if answer.kind != ANSWERED or not answer.citations:
        return None
    first = answer.citations[0]
    return Topic(first.doc_id, first.title)
