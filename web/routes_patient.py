"""The patient chat: a conversation page that works with plain form posts, and that htmx
enhances by appending each answer in place.

The conversation id lives in an HttpOnly, SameSite=Lax cookie. The exchanges shown on the page
are kept for 30 idle minutes, in memory, or in the shared database when several workers serve
(``chat.conversation``); question text is never logged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from medcite.chat.conversation import CONVERSATION_ID, converse, new_conversation_id
from medcite.chat.feedback import MAX_COMMENT_CHARS
from medcite.index.errors import InputError
from medcite.web.deps import (
    ConversationsDep,
    EmbedderDep,
    FeedbackDep,
    IndexDep,
    TemplatesDep,
    TriageDep,
)

router = APIRouter(tags=["patient chat"], include_in_schema=False)

COOKIE = "medcite_conversation"
COOKIE_MAX_AGE = 24 * 60 * 60


def _conversation(request: Request) -> str | None:
    value = request.cookies.get(COOKIE, "")
    return value if CONVERSATION_ID.fullmatch(value) else None


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _keep_cookie(request: Request, response: Response, conversation_id: str) -> Response:
    response.set_cookie(
        COOKIE,
        conversation_id,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.get("/", response_class=HTMLResponse)
def chat_page(
    request: Request, index: IndexDep, templates: TemplatesDep, conversations: ConversationsDep
) -> Response:
    """The conversation so far (from the cookie) and the question box. Taking ``index``
    makes the page a 503 with the reason while no index is loaded."""
    conversation_id = _conversation(request)
    exchanges = conversations.exchanges(conversation_id) if conversation_id else []
    return templates.TemplateResponse(request, "chat.html", {"exchanges": exchanges})


@router.post("/ask", response_class=HTMLResponse)
def ask_question(
    request: Request,
    index: IndexDep,
    embedder: EmbedderDep,
    triage: TriageDep,
    conversations: ConversationsDep,
    templates: TemplatesDep,
    question: Annotated[str, Form()] = "",
) -> Response:
    """Answer a question. htmx gets the new exchange as a fragment; a plain form post gets
    the whole page with the conversation so far."""
    conversation_id = _conversation(request) or new_conversation_id()
    answer = converse(index, embedder, triage, conversations, conversation_id, question)
    exchange = conversations.add(conversation_id, answer, index.generation)
    if _is_htmx(request):
        response = templates.TemplateResponse(request, "_exchange.html", {"exchange": exchange})
    else:
        response = templates.TemplateResponse(
            request,
            "chat.html",
            {"exchanges": conversations.exchanges(conversation_id), "latest": exchange.id},
        )
    return _keep_cookie(request, response, conversation_id)


@router.post("/feedback", response_class=HTMLResponse)
def send_feedback(
    request: Request,
    index: IndexDep,
    conversations: ConversationsDep,
    feedback: FeedbackDep,
    templates: TemplatesDep,
    exchange: Annotated[str, Form(max_length=64)] = "",
    helpful: Annotated[str, Form(max_length=8)] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Store a rating of an answer shown in this conversation, with its question and the
    index generation that answered it (a reload since then does not change it). Sending the
    same rating twice, even at once, stores it once. Taking ``index`` makes it a 503 with the
    reason while no index is loaded, as the chat page is."""
    if helpful not in ("yes", "no"):
        raise InputError("say whether the answer was helpful (yes or no)")
    if len(comment) > MAX_COMMENT_CHARS:
        raise InputError(f"the comment is longer than {MAX_COMMENT_CHARS} characters")
    conversation_id = _conversation(request)
    found = conversations.find(conversation_id, exchange) if conversation_id and exchange else None
    if found is None or conversation_id is None:
        raise InputError(
            "this answer can no longer be rated (conversations are forgotten after 30 minutes)"
        )
    if not found.rated:
        feedback.add(
            found.answer,
            helpful=helpful == "yes",
            comment=comment,
            generation=found.generation,
            answer_id=found.id,
        )
        conversations.mark_rated(conversation_id, found.id)
        found = replace(found, rated=True)
    if _is_htmx(request):
        return templates.TemplateResponse(request, "_feedback.html", {"exchange": found})
    return RedirectResponse(f"/#exchange-{found.id}", status_code=303)
