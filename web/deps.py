"""The objects a running app shares between requests, and the dependencies that hand them out.

Everything lives on ``app.state`` (set up once, in the lifespan of ``web.app.create_app``);
routes reach it only through the ``Annotated[..., Depends(...)]`` aliases at the bottom.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from medcite.chat.answer import ask, topic_of
from medcite.chat.conversation import ConversationStore
from medcite.chat.feedback import FeedbackStore
from medcite.chat.retrieve import Filters
from medcite.chat.triage import Triage
from medcite.chat.types import Answer
from medcite.index.embedder import Embedder
from medcite.index.errors import IndexMissingError, MedciteError, NotFoundError
from medcite.index.reader import Index, open_index
from medcite.index.types import Document
from medcite.web.config import Settings

# The ids ingest accepts; anything else (a path, "../etc/passwd") cannot be an article.
DOC_ID = re.compile(r"[A-Za-z0-9_.#-]{1,200}")
CONVERSATION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


class IndexHolder:
    """The generation being served, swapped atomically by ``reload``.

    A request takes the current ``Index`` once and keeps using that object, so a reload never
    changes the index under a request in flight; the old one is closed by garbage collection
    when its last request lets go of it."""

    def __init__(self, root: Path, model: str) -> None:
        self.root = root
        self.model = model
        self._index: Index | None = None
        self._error: MedciteError | None = IndexMissingError("the index has not been opened yet")
        self._reload_lock = threading.Lock()

    def current(self) -> Index:
        """The index being served; raises the reason when there is none."""
        index = self._index
        if index is None:
            raise self._error or IndexMissingError("the index is not loaded")
        return index

    @property
    def error(self) -> MedciteError | None:
        return None if self._index is not None else self._error

    def load(self) -> None:
        """Open the index at start-up; a failure is remembered and reported, not raised."""
        try:
            self.reload()
        except MedciteError as exc:
            self._error = exc

    def reload(self) -> tuple[Index, Index | None]:
        """Open the current generation and swap it in; returns (new, old). If opening fails,
        the index being served stays as it is and the error is raised."""
        with self._reload_lock:
            new = open_index(self.root, model=self.model)
            old, self._index = self._index, new
            self._error = None
            return new, old


@dataclass
class Exchange:
    """One question and the answer shown for it, kept for the no-JavaScript page and for
    feedback. ``generation`` is the index generation that answered; ``rated`` is set once the
    patient sent feedback on it."""

    id: str
    answer: Answer
    generation: int | None = None
    rated: bool = False


class Transcripts:
    """The exchanges of each conversation, in memory only, never written or logged.

    Keeps the last ``per_conversation`` exchanges; conversations idle for ``ttl`` seconds are
    forgotten, and beyond ``capacity`` the least recently used ones are dropped."""

    def __init__(
        self,
        ttl: float = 30 * 60,
        capacity: int = 2_000,
        per_conversation: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self.per_conversation = per_conversation
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, list[Exchange]]] = OrderedDict()
        self._lock = threading.Lock()

    def exchanges(self, conversation_id: str) -> list[Exchange]:
        with self._lock:
            item = self._items.get(conversation_id)
            if item is None:
                return []
            if self._clock() - item[0] > self.ttl:
                del self._items[conversation_id]
                return []
            return list(item[1])

    def add(self, conversation_id: str, answer: Answer, generation: int | None = None) -> Exchange:
        exchange = Exchange(secrets.token_urlsafe(12), answer, generation)
        with self._lock:
            now = self._clock()
            _, exchanges = self._items.pop(conversation_id, (now, []))
            exchanges = (exchanges + [exchange])[-self.per_conversation :]
            self._items[conversation_id] = (now, exchanges)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
            for key in [k for k, (seen, _) in self._items.items() if now - seen > self.ttl]:
                del self._items[key]
        return exchange

    def find(self, conversation_id: str, exchange_id: str) -> Exchange | None:
        for exchange in self.exchanges(conversation_id):
            if secrets.compare_digest(exchange.id, exchange_id):
                return exchange
        return None


def new_conversation_id() -> str:
    return secrets.token_urlsafe(18)


def converse(
    index: Index,
    embedder: Embedder,
    triage: Triage,
    conversations: ConversationStore,
    conversation_id: str,
    question: str,
    filters: Filters | None = None,
) -> Answer:
    """Answer ``question`` as part of a conversation: a follow-up ("what are its symptoms?")
    is read against the conversation's last topic, and an answer sets the next topic."""
    answer = ask(
        index,
        embedder,
        question,
        triage=triage,
        topic=conversations.get(conversation_id),
        filters=filters or Filters(),
    )
    topic = topic_of(answer)
    if topic is not None:
        conversations.remember(conversation_id, topic)
    return answer


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
    document = index.document(doc_id) if DOC_ID.fullmatch(doc_id) else None
    if document is None:
        raise NotFoundError("there is no article with this id")
    return document


def get_embedder(request: Request) -> Embedder:
    return request.app.state.embedder


def get_triage(request: Request) -> Triage:
    return request.app.state.triage


def get_templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


def get_conversations(request: Request) -> ConversationStore:
    return request.app.state.conversations


def get_transcripts(request: Request) -> Transcripts:
    return request.app.state.transcripts


def get_feedback(request: Request) -> FeedbackStore:
    return request.app.state.feedback


SettingsDep = Annotated[Settings, Depends(get_settings)]
HolderDep = Annotated[IndexHolder, Depends(get_holder)]
IndexDep = Annotated[Index, Depends(get_index)]
DocumentDep = Annotated[Document, Depends(get_document)]
EmbedderDep = Annotated[Embedder, Depends(get_embedder)]
TriageDep = Annotated[Triage, Depends(get_triage)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
ConversationsDep = Annotated[ConversationStore, Depends(get_conversations)]
TranscriptsDep = Annotated[Transcripts, Depends(get_transcripts)]
FeedbackDep = Annotated[FeedbackStore, Depends(get_feedback)]
