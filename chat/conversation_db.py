"""Conversations kept in the deployment's database, so that any web worker (or any web server)
can continue one: ``medcite serve --workers N`` and servers sharing a ``MEDCITE_DATABASE_URL``.

What is stored: per conversation its id, when it was last active and its last topic (an article
id and title); per exchange its id, the answer shown (question text included, as JSON: see
``chat.answer_json``), the index generation and whether it was rated. A conversation idle for
30 minutes is treated as gone at once and its rows are deleted by the next write (at most a
minute later while the server is in use). Nothing here is logged.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    case,
    delete,
    exists,
    func,
    insert,
    null,
    select,
    update,
)

from medcite.chat.answer_json import answer_from_json, answer_to_json
from medcite.chat.conversation import Exchange, find_exchange
from medcite.chat.database import Database, upsert
from medcite.chat.types import Answer, Topic

SCHEMA = MetaData()
CONVERSATIONS = Table(
    "conversations",
    SCHEMA,
    Column("id", String(64), primary_key=True),
    # Seconds since the epoch: every worker's clock must agree on it, so not time.monotonic.
    Column("seen", Float, nullable=False),
    Column("topic_doc_id", Text),
    Column("topic_title", Text),
    Index("conversations_seen", "seen"),
)
EXCHANGES = Table(
    "conversation_exchanges",
    SCHEMA,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # the order they were added
    Column("conversation_id", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("answer", Text, nullable=False),
    Column("generation", Integer),
    Column("rated", Boolean, nullable=False, default=False),
    Index("conversation_exchanges_conversation", "conversation_id", "seq"),
)


class DatabaseConversationStore:
    """Every conversation's last topic and its last ``per_conversation`` exchanges, in
    ``database``; the same behaviour as ``ConversationStore`` except that there is no cap on
    the number of conversations (idle ones are deleted after ``ttl`` seconds).

    Each call is one transaction, so workers may share a conversation: two answers added to
    it at once are both kept."""

    def __init__(
        self,
        database: Database,
        ttl: float = 30 * 60,
        per_conversation: int = 20,
        clock: Callable[[], float] = time.time,
        sweep_every: float = 60,
    ) -> None:
        self.database = database
        self.ttl = ttl
        self.per_conversation = per_conversation
        self.sweep_every = sweep_every
        self._clock = clock
        self._swept: float | None = None

    def topic(self, conversation_id: str) -> Topic | None:
        """The topic a follow-up in this conversation refers back to, if any."""
        query = select(CONVERSATIONS.c.topic_doc_id, CONVERSATIONS.c.topic_title).where(
            CONVERSATIONS.c.id == conversation_id, self._is_live()
        )
        with self._begin() as conn:
            row = conn.execute(query).first()
        if row is None or row.topic_doc_id is None:
            return None
        return Topic(row.topic_doc_id, row.topic_title or "")

    def exchanges(self, conversation_id: str) -> list[Exchange]:
        query = (
            select(EXCHANGES.c.id, EXCHANGES.c.answer, EXCHANGES.c.generation, EXCHANGES.c.rated)
            .join(CONVERSATIONS, CONVERSATIONS.c.id == EXCHANGES.c.conversation_id)
            .where(EXCHANGES.c.conversation_id == conversation_id, self._is_live())
            .order_by(EXCHANGES.c.seq)
        )
        with self._begin() as conn:
            rows = conn.execute(query).all()
        return [
            Exchange(row.id, answer_from_json(row.answer), row.generation, bool(row.rated))
            for row in rows
        ]

    def find(self, conversation_id: str, exchange_id: str) -> Exchange | None:
        return find_exchange(self.exchanges(conversation_id), exchange_id)

    def remember(self, conversation_id: str, topic: Topic) -> None:
        with self._begin() as conn:
            self._touch(conn, conversation_id)
            conn.execute(
                update(CONVERSATIONS)
                .where(CONVERSATIONS.c.id == conversation_id)
                .values(topic_doc_id=topic.doc_id, topic_title=topic.title)
            )
        self._sweep_now_and_then()

    def add(self, conversation_id: str, answer: Answer, generation: int | None = None) -> Exchange:
        exchange = Exchange(secrets.token_urlsafe(12), answer, generation)
        mine = EXCHANGES.c.conversation_id == conversation_id
        # The seq of the newest exchange that no longer fits (None while all of them fit).
        oldest_dropped = (
            select(EXCHANGES.c.seq)
            .where(mine)
            .order_by(EXCHANGES.c.seq.desc())
            .limit(1)
            .offset(self.per_conversation)
            .scalar_subquery()
        )
        with self._begin() as conn:
            self._touch(conn, conversation_id)
            conn.execute(
                insert(EXCHANGES).values(
                    conversation_id=conversation_id,
                    id=exchange.id,
                    answer=answer_to_json(answer),
                    generation=generation,
                    rated=False,
                )
            )
            conn.execute(delete(EXCHANGES).where(mine, EXCHANGES.c.seq <= oldest_dropped))
        self._sweep_now_and_then()
        return exchange

    def mark_rated(self, conversation_id: str, exchange_id: str) -> None:
        """Note that the patient sent feedback on this exchange (the page then thanks them)."""
        with self._begin() as conn:
            conn.execute(
                update(EXCHANGES)
                .where(EXCHANGES.c.conversation_id == conversation_id)
                .where(EXCHANGES.c.id == exchange_id)
                .values(rated=True)
            )

    def forget_expired(self) -> None:
        """Delete every conversation idle for longer than ``ttl``, with its exchanges."""
        now = self._clock()
        stale = select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.seen < now - self.ttl)
        with self._begin() as conn:
            # Exchanges first, then conversations: the order ``_touch`` takes them in, so
            # that two workers doing both never wait for each other in a circle.
            conn.execute(delete(EXCHANGES).where(EXCHANGES.c.conversation_id.in_(stale)))
            conn.execute(delete(CONVERSATIONS).where(CONVERSATIONS.c.seen < now - self.ttl))
        self._swept = now

    def __len__(self) -> int:
        """The number of live conversations."""
        query = select(func.count()).select_from(CONVERSATIONS).where(self._is_live())
        with self._begin() as conn:
            return int(conn.execute(query).scalar_one())

    def _begin(self) -> AbstractContextManager[Connection]:
        self.database.create(SCHEMA)
        return self.database.begin()

    def _is_live(self) -> ColumnElement[bool]:
        return CONVERSATIONS.c.seen >= self._clock() - self.ttl

    def _touch(self, conn: Connection, conversation_id: str) -> None:
        """Make the conversation active as of now: a new one if it was unknown or had expired
        (then nothing of the expired one is kept: not its exchanges, not its topic)."""
        now = self._clock()
        expired = CONVERSATIONS.c.seen < now - self.ttl
        conn.execute(
            delete(EXCHANGES).where(
                EXCHANGES.c.conversation_id == conversation_id,
                exists().where(CONVERSATIONS.c.id == conversation_id, expired),
            )
        )
        statement = upsert(conn, CONVERSATIONS).values(id=conversation_id, seen=now)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[CONVERSATIONS.c.id],
                set_={
                    "seen": statement.excluded.seen,
                    "topic_doc_id": case((expired, null()), else_=CONVERSATIONS.c.topic_doc_id),
                    "topic_title": case((expired, null()), else_=CONVERSATIONS.c.topic_title),
                },
            )
        )

    def _sweep_now_and_then(self) -> None:
        if self._swept is None or self._clock() - self._swept >= self.sweep_every:
            self.forget_expired()
