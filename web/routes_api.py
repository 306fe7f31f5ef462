"""The JSON API, and its documentation page (Swagger UI served from /static, no CDN)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from medcite.chat.conversation import converse, new_conversation_id
from medcite.chat.retrieve import MAX_K, MAX_QUERY_CHARS, Filters, search
from medcite.chat.types import SearchMode
from medcite.web.deps import (
    ConversationsDep,
    DocumentDep,
    EmbedderDep,
    IndexDep,
    TemplatesDep,
    TriageDep,
)
from medcite.web.schemas import AnswerOut, AskRequest, DocumentOut, ErrorOut, HitOut, SearchOut

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 404, 413, 422, 503)
}

router = APIRouter(prefix="/api", tags=["api"], responses=ERRORS)
docs_router = APIRouter(include_in_schema=False)


@router.post("/ask")
def api_ask(
    body: AskRequest,
    index: IndexDep,
    embedder: EmbedderDep,
    triage: TriageDep,
    conversations: ConversationsDep,
) -> AnswerOut:
    """Answer a question with verbatim quotes and numbered citations. Pass back the returned
    ``conversation_id`` so that follow-ups ("what are its symptoms?") resolve."""
    conversation_id = body.conversation_id or new_conversation_id()
    filters = Filters(sources=tuple(body.sources or ()))
    answer = converse(
        index, embedder, triage, conversations, conversation_id, body.question, filters
    )
    return AnswerOut.of(answer, conversation_id)


@router.get("/search")
def api_search(
    index: IndexDep,
    embedder: EmbedderDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS)],
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    mode: SearchMode = SearchMode.HYBRID,
    source: Annotated[list[str] | None, Query(max_length=20)] = None,
) -> SearchOut:
    """Passages for ``q``, best first, at most two per article; ``source`` may be repeated."""
    started = time.perf_counter()
    hits = search(index, embedder, q, k=k, mode=mode, filters=Filters(sources=tuple(source or ())))
    return SearchOut(
        query=q,
        mode=mode,
        k=k,
        count=len(hits),
        took_ms=(time.perf_counter() - started) * 1000,
        hits=[HitOut.of(hit) for hit in hits],
    )


@router.get("/doc/{doc_id}")
def api_document(document: DocumentDep) -> DocumentOut:
    """A whole article with its sections (``text[start:end]`` is each section's text)."""
    return DocumentOut.of(document)


@docs_router.get("/docs", response_class=HTMLResponse)
async def api_docs(request: Request, templates: TemplatesDep) -> Response:
    return templates.TemplateResponse(request, "docs.html")
