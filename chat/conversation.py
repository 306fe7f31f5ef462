"""Conversations, held server-side: each one's last topic (what a follow-up refers back to) and
its transcript (the exchanges the chat page shows and patients rate).

A conversation is forgotten after 30 idle minutes, and nothing of it is logged. One web process
keeps them in its memory (``ConversationStore``), never on disk. When several workers serve one
deployment they keep them in the shared database instead (``chat.conversation_db``): the topic
and each exchange's answer, question text included, sit there until the conversation has been
idle for 30 minutes and are then deleted.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from medcite.chat.answer import AbstainPolicy, ask, topic_of
from medcite.chat.calibration import policy_for
from medcite.chat.retrieve import Filters
from medcite.chat.triage import Triage
from medcite.chat.types import Answer, Topic
from medcite.index.embedder import Embedder
from medcite.index.reader import Index

# The ids a client may send back: ``new_conversation_id`` makes 24 of these characters.
CONVERSATION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_conversation_id() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class Exchange:
    """One question and the answer shown for it, kept for the no-JavaScript page and for
    feedback. ``generation`` is the index generation that answered; ``rated`` is set once the
    patient sent feedback on it."""

    id: str
    answer: Answer
    generation: int | None = None
    rated: bool = False


class Conversations(Protocol):
    """What the chat needs of a conversation store: ``ConversationStore`` (one process's
    memory) or ``conversation_db.DatabaseConversationStore`` (shared by every worker)."""

    def topic(self, conversation_id: str) -> Topic | None: ...

    def exchanges(self, conversation_id: str) -> list[Exchange]: ...

    def find(self, conversation_id: str, exchange_id: str) -> Exchange | None: ...

    def remember(self, conversation_id: str, topic: Topic) -> None: ...

    def add(
        self, conversation_id: str, answer: Answer, generation: int | None = None
    ) -> Exchange: ...

    def mark_rated(self, conversation_id: str, exchange_id: str) -> None: ...


def find_exchange(exchanges: list[Exchange], exchange_id: str) -> Exchange | None:
    """The exchange with this id (compared in constant time: ids are capabilities)."""
    for exchange in exchanges:
        if secrets.compare_digest(exchange.id, exchange_id):
            return exchange
    return None


@dataclass
class Conversation:
    """What is kept of one conversation; ``seen`` is when it was last written to."""

    seen: float
    topic: Topic | None = None
    exchanges: list[Exchange] = field(default_factory=list)


class ConversationStore:
    """Every conversation's last topic and its last ``per_conversation`` exchanges.

    A conversation nothing was remembered in or added to for ``ttl`` seconds is forgotten.
    Beyond ``capacity`` conversations the least recently active are dropped, and only the
    ``transcripts`` most recently active keep their exchanges (the exchanges are what takes
    memory; a topic is two short strings)."""

    def __init__(
        self,
        ttl: float = 30 * 60,
        capacity: int = 10_000,
        transcripts: int = 2_000,
        per_conversation: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self.transcripts = transcripts
        self.per_conversation = per_conversation
        self._clock = clock
        self._items: OrderedDict[str, Conversation] = OrderedDict()  # least recently active first
        self._lock = threading.Lock()

    def topic(self, conversation_id: str) -> Topic | None:
        """The topic a follow-up in this conversation refers back to, if any."""
        with self._lock:
            conversation = self._live(conversation_id)
            return conversation.topic if conversation is not None else None

    def exchanges(self, conversation_id: str) -> list[Exchange]:
        with self._lock:
            conversation = self._live(conversation_id)
            return list(conversation.exchanges) if conversation is not None else []

    def find(self, conversation_id: str, exchange_id: str) -> Exchange | None:
        return find_exchange(self.exchanges(conversation_id), exchange_id)

    def mark_rated(self, conversation_id: str, exchange_id: str) -> None:
        """Note that the patient sent feedback on this exchange (the page then thanks them)."""
        with self._lock:
            conversation = self._live(conversation_id)
            if conversation is None:
                return
            conversation.exchanges = [
                replace(e, rated=True) if e.id == exchange_id else e for e in conversation.exchanges
            ]

    def remember(self, conversation_id: str, topic: Topic) -> None:
        with self._lock:
            self._touch(conversation_id).topic = topic
            self._trim()

    def add(self, conversation_id: str, answer: Answer, generation: int | None = None) -> Exchange:
        exchange = Exchange(secrets.token_urlsafe(12), answer, generation)
        with self._lock:
            conversation = self._touch(conversation_id)
            conversation.exchanges = (conversation.exchanges + [exchange])[-self.per_conversation :]
            self._trim()
            holding = [c for c in self._items.values() if c.exchanges]
            for older in holding[: max(0, len(holding) - self.transcripts)]:
                older.exchanges = []
        return exchange

    def __len__(self) -> int:
        return len(self._items)

    def _live(self, conversation_id: str) -> Conversation | None:
        conversation = self._items.get(conversation_id)
        if conversation is not None and self._clock() - conversation.seen > self.ttl:
            del self._items[conversation_id]
            return None
        return conversation

    def _touch(self, conversation_id: str) -> Conversation:
        """The conversation (a new one if it was unknown or had expired), active as of now."""
        now = self._clock()
        conversation = self._live(conversation_id) or Conversation(now)
        conversation.seen = now
        self._items[conversation_id] = conversation
        self._items.move_to_end(conversation_id)
        return conversation

    def _trim(self) -> None:
        """Drop expired conversations and those beyond ``capacity``, least recently active
        first (the order of ``_items``)."""
        now = self._clock()
        while self._items:
            oldest = next(iter(self._items.values()))
            if len(self._items) > self.capacity or now - oldest.seen > self.ttl:
                self._items.popitem(last=False)
            else:
                break


def converse(
    index: Index,
    embedder: Embedder,
    triage: Triage,
    conversations: Conversations,
    conversation_id: str,
    question: str,
    filters: Filters | None = None,
    *,
    policy: AbstainPolicy | None = None,
) -> Answer:
    """Answer ``question`` as part of a conversation: a follow-up ("what are its symptoms?")
    is read against the conversation's last topic, and an answer sets the next topic.
    ``policy`` defaults to the one in force for ``index`` (``calibration.policy_for``)."""
    answer = ask(
        index,
        embedder,
        question,
        triage=triage,
        topic=conversations.topic(conversation_id),
        policy=policy if policy is not None else policy_for(index),
        filters=filters or Filters(),
    )
    topic = topic_of(answer)
    if topic is not None:
        conversations.remember(conversation_id, topic)
    return answer
