"""Staff pages: passage search with highlighted matches and copyable citations, and the
feedback patients sent."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from medcite.chat.retrieve import MAX_K, Filters, search
from medcite.index.text import stem, topic_terms, word_matches
from medcite.index.types import Hit
from medcite.web.deps import EmbedderDep, FeedbackDep, IndexDep, TemplatesDep
from medcite.web.schemas import doc_link, safe_url
from medcite.web.security import StaffOnly

router = APIRouter(prefix="/search", tags=["staff"], include_in_schema=False)

PER_PAGE = 10
FEEDBACK_PER_PAGE = 50


@dataclass(frozen=True)
class Segment:
    text: str
    match: bool = False


@dataclass(frozen=True)
class Result:
    rank: int
    hit: Hit
    link: str
    url: str
    segments: tuple[Segment, ...]
    citation: str


def query_terms(query: str) -> set[str]:
    return set(topic_terms(query))


def highlight(text: str, terms: set[str]) -> tuple[Segment, ...]:
    """``text`` cut into plain and matching runs; the template marks the matching ones, so no
    HTML is ever built from the text. Words are those of ``index.text``, so highlighting agrees
    with what search matched on."""
    segments: list[Segment] = []
    cursor = 0
    for match in word_matches(text):
        if stem(match.group(0).lower()) not in terms:
            continue
        if match.start() > cursor:
            segments.append(Segment(text[cursor : match.start()]))
        segments.append(Segment(match.group(0), True))
        cursor = match.end()
    if cursor < len(text):
        segments.append(Segment(text[cursor:]))
    return tuple(segments)


def citation_text(hit: Hit, base_url: str) -> str:
    p = hit.passage
    where = safe_url(hit.url) or base_url.rstrip("/") + doc_link(p.doc_id)
    heading = f", section “{p.heading}”" if p.heading else ""
    source = f" {hit.source}." if hit.source else ""
    return f"“{hit.title}”{heading}.{source} {where} (characters {p.start}–{p.end})"


@router.get("", response_class=HTMLResponse)
def search_page(
    request: Request,
    _: StaffOnly,
    index: IndexDep,
    embedder: EmbedderDep,
    templates: TemplatesDep,
    q: Annotated[str, Query(max_length=1000)] = "",
    source: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=MAX_K // PER_PAGE)] = 1,
) -> Response:
    """Up to 100 passages for ``q``, 10 a page, optionally from one source only."""
    sources = [(name, count) for name, count in index.sources() if name]
    context: dict[str, object] = {"q": q, "source": source, "sources": sources, "page": page}
    if q.strip():
        started = time.perf_counter()
        hits = search(
            index,
            embedder,
            q,
            k=MAX_K,
            filters=Filters(sources=(source,) if source else ()),
        )
        took_ms = (time.perf_counter() - started) * 1000
        terms = query_terms(q)
        first = (page - 1) * PER_PAGE
        base = str(request.base_url)
        context |= {
            "searched": True,
            "total": len(hits),
            "took_ms": took_ms,
            "first": first + 1,
            "pages": max(1, math.ceil(len(hits) / PER_PAGE)),
            "results": [
                Result(
                    rank=first + i + 1,
                    hit=hit,
                    link=doc_link(hit.passage.doc_id, hit.passage.start, hit.passage.end),
                    url=safe_url(hit.url),
                    segments=highlight(hit.passage.text, terms),
                    citation=citation_text(hit, base),
                )
                for i, hit in enumerate(hits[first : first + PER_PAGE])
            ],
        }
    return templates.TemplateResponse(request, "search.html", context)


@router.get("/feedback", response_class=HTMLResponse)
def feedback_page(
    request: Request,
    _: StaffOnly,
    feedback: FeedbackDep,
    templates: TemplatesDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Patients' ratings, newest first."""
    total = feedback.count()
    items = feedback.recent(limit=FEEDBACK_PER_PAGE, offset=(page - 1) * FEEDBACK_PER_PAGE)
    return templates.TemplateResponse(
        request,
        "feedback.html",
        {
            "items": items,
            "total": total,
            "page": page,
            "pages": max(1, math.ceil(total / FEEDBACK_PER_PAGE)),
        },
    )
