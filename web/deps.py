"""The dependencies that hand routes the objects a running app shares between requests.

Everything lives on ``app.state`` (set up once, in ``web.app.create_app``); routes reach it only
through the ``Annotated[..., Depends(...)]`` aliases at the bottom.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from medcite.chat.conversation import Conversations
from medcite.chat.feedback import FeedbackStore
from medcite.chat.triage import Triage
from medcite.index.embedder import Embedder
from medcite.index.errors import NotFoundError
from medcite.index.reader import Index, IndexHolder
from medcite.index.text import DOC_ID
from medcite.index.types import Document
from medcite.web.config import Settings

# A path segment longer than this is refused before any lookup.
MAX_DOC_ID_CHARS = 200


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_holder(request: Request) -> IndexHolder:
    return request.app.state.index_holder


def get_index(request: Request) -> Index:
    """The index for this request (taken once); 503 with the reason when there is none."""
    return get_holder(request).current()


def get_document(doc_id: str, request: Request) -> Document:
    """The article named in the path; 404 for unknown or malformed ids."""
    index = get_index(request)
    valid = len(doc_id) <= MAX_DOC_ID_CHARS and DOC_ID.fullmatch(doc_id)
    document = index.document(doc_id) if valid else None
    if document is None:
        raise NotFoundError("there is no article with this id")
    return document


def get_embedder(request: Request) -> Embedder:
    return request.app.state.embedder


def get_triage(request: Request) -> Triage:
    return request.app.state.triage


def get_templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


def get_conversations(request: Request) -> Conversations:
    return request.app.state.conversations


def get_feedback(request: Request) -> FeedbackStore:
    return request.app.state.feedback


SettingsDep = Annotated[Settings, Depends(get_settings)]
HolderDep = Annotated[IndexHolder, Depends(get_holder)]
IndexDep = Annotated[Index, Depends(get_index)]
DocumentDep = Annotated[Document, Depends(get_document)]
EmbedderDep = Annotated[Embedder, Depends(get_embedder)]
TriageDep = Annotated[Triage, Depends(get_triage)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
ConversationsDep = Annotated[Conversations, Depends(get_conversations)]
FeedbackDep = Annotated[FeedbackStore, Depends(get_feedback)]
