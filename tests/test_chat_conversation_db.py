"""The conversation store in a database, on SQLite and on PostgreSQL: the same topic, transcript,
expiry and cap as the in-memory store, shared by every store (every worker) on one database,
with expired conversations deleted from it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from medcite.chat.conversation import converse
from medcite.chat.conversation_db import CONVERSATIONS, EXCHANGES, DatabaseConversationStore
from medcite.chat.database import Database
from medcite.chat.triage import make_triage
from medcite.chat.types import Answer, AnswerKind, Citation, Quote, Topic
from medcite.index.reader import open_index
from medcite.index.testing import FakeEmbedder

GLAUCOMA = Topic("GLAU_1", "Glaucoma")


def answer(question: str = "how is glaucoma treated?") -> Answer:
    return Answer(question=question, kind=AnswerKind.NOT_COVERED)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def rows(database: Database) -> tuple[int, int]:
    """How many conversations and exchanges the database holds, expired ones included."""
    with database.begin() as conn:
        count = select(func.count())
        return (
            conn.execute(count.select_from(CONVERSATIONS)).scalar_one(),
            conn.execute(count.select_from(EXCHANGES)).scalar_one(),
        )


def test_topic_and_transcript_live_in_one_conversation(database: Database) -> None:
    store = DatabaseConversationStore(database)
    store.remember("a", GLAUCOMA)
    first = store.add("a", answer("one"), generation=3)
    second = store.add("a", answer("two"))
    assert len(store) == 1
    assert store.topic("a") == GLAUCOMA
    assert store.exchanges("a") == [first, second]
    assert store.find("a", first.id) == first and first.generation == 3
    assert store.find("a", second.id) == second and second.generation is None
    assert store.find("b", first.id) is None and store.find("a", "nope") is None
    assert store.exchanges("b") == [] and store.topic("b") is None


def test_answers_come_back_whole(database: Database) -> None:
    store = DatabaseConversationStore(database)
    full = Answer(
        question="how is glaucoma treated? “drops”",
        kind=AnswerKind.ANSWERED,
        quotes=(Quote("Eye drops.", "GLAU_1", 5, 15, "GLAU_1#3", "Treatment", 1, 0.75),),
        citations=(Citation(1, "GLAU_1", "Glaucoma", "", "NEI", "Treatment", "GLAU_1#3", 0, 9),),
        confidence=0.9,
    )
    store.add("a", full, generation=2)
    [exchange] = store.exchanges("a")
    assert exchange.answer == full and exchange.generation == 2 and not exchange.rated


def test_every_store_on_one_database_sees_the_same_conversations(database: Database) -> None:
    worker_a, worker_b = DatabaseConversationStore(database), DatabaseConversationStore(database)
    worker_a.remember("c", GLAUCOMA)
    exchange = worker_a.add("c", answer())
    assert worker_b.topic("c") == GLAUCOMA
    assert worker_b.find("c", exchange.id) == exchange
    worker_b.mark_rated("c", exchange.id)
    [rated] = worker_a.exchanges("c")
    assert rated.rated and rated.id == exchange.id


def test_rating_one_exchange_leaves_the_others_and_other_conversations(database: Database) -> None:
    store = DatabaseConversationStore(database)
    first, second = store.add("a", answer()), store.add("a", answer())
    other = store.add("b", answer())
    store.mark_rated("a", first.id)
    store.mark_rated("b", first.id)  # not b's exchange: nothing happens
    assert [e.rated for e in store.exchanges("a")] == [True, False]
    assert not store.find("b", other.id).rated  # type: ignore[union-attr]
    assert store.find("a", second.id) == second


def test_transcript_keeps_the_last_exchanges(database: Database) -> None:
    store = DatabaseConversationStore(database, per_conversation=3)
    for n in range(5):
        store.add("a", answer(str(n)))
    store.add("b", answer("other"))
    assert [e.answer.question for e in store.exchanges("a")] == ["2", "3", "4"]
    assert rows(database) == (2, 4)  # the dropped exchanges are deleted, not hidden


def test_idle_conversation_is_forgotten_whole(database: Database, clock: Clock) -> None:
    store = DatabaseConversationStore(database, ttl=60, clock=clock)
    start = clock.now
    store.remember("a", GLAUCOMA)
    clock.now = start + 50
    store.add("a", answer())  # any activity keeps the conversation, topic included
    clock.now = start + 100
    assert store.topic("a") == GLAUCOMA and len(store.exchanges("a")) == 1
    clock.now = start + 111
    assert store.topic("a") is None and store.exchanges("a") == []
    assert len(store) == 0
    store.add("a", answer("again"))  # a new conversation under the same id: nothing revived
    assert [e.answer.question for e in store.exchanges("a")] == ["again"]
    assert store.topic("a") is None


def test_expired_conversations_are_deleted_from_the_database(
    database: Database, clock: Clock
) -> None:
    store = DatabaseConversationStore(database, ttl=60, clock=clock, sweep_every=100)
    start = clock.now
    store.remember("old", GLAUCOMA)  # the first write sweeps: nothing to delete yet
    store.add("old", answer())
    store.add("old", answer())
    clock.now = start + 61
    store.add("new", answer())
    assert len(store) == 1 and store.exchanges("old") == []  # expired: gone at once...
    assert rows(database) == (2, 3)  # ...and deleted by the first write of the next sweep
    clock.now = start + 100
    store.remember("new", GLAUCOMA)
    assert rows(database) == (1, 1)
    clock.now = start + 3600
    store.forget_expired()  # what a sweep does, at any time
    assert rows(database) == (0, 0)


def test_answers_added_at_once_from_many_workers_are_all_kept(database: Database) -> None:
    stores = [DatabaseConversationStore(database, per_conversation=50) for _ in range(4)]
    stores[0].remember("busy", GLAUCOMA)  # the schema exists before the race starts

    def add(n: int) -> str:
        return stores[n % 4].add("busy", answer(str(n))).id

    with ThreadPoolExecutor(4) as pool:
        added = set(pool.map(add, range(24)))
    assert {e.id for e in stores[1].exchanges("busy")} == added
    assert stores[2].topic("busy") == GLAUCOMA


def test_converse_reads_a_follow_up_against_the_topic_another_worker_stored(
    index_root: Path, database: Database
) -> None:
    index, embedder, triage = open_index(index_root), FakeEmbedder(), make_triage()
    worker_a, worker_b = DatabaseConversationStore(database), DatabaseConversationStore(database)
    first = converse(index, embedder, triage, worker_a, "c1", "how is glaucoma treated?")
    assert first.kind == AnswerKind.ANSWERED
    follow = converse(index, embedder, triage, worker_b, "c1", "what are its symptoms?")
    assert follow.searched_for.endswith("(Glaucoma)")
    alone = converse(index, embedder, triage, worker_b, "c2", "what are its symptoms?")
    assert "(Glaucoma)" not in alone.searched_for
    index.close()
