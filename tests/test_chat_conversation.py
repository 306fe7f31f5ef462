"""The conversation store: one entry per conversation for its last topic and its transcript,
forgotten when idle and capped, and ``converse`` reading follow-ups against the last topic."""

from __future__ import annotations

from pathlib import Path

from medcite.chat.conversation import (
    CONVERSATION_ID,
    ConversationStore,
    converse,
    new_conversation_id,
)
from medcite.chat.triage import make_triage
from medcite.chat.types import Answer, AnswerKind, Topic
from medcite.index.reader import open_index
from medcite.index.testing import FakeEmbedder

GLAUCOMA = Topic("GLAU_1", "Glaucoma")


def answer(question: str = "how is glaucoma treated?") -> Answer:
    return Answer(question=question, kind=AnswerKind.NOT_COVERED)


def test_new_ids_are_ids_a_client_may_send_back() -> None:
    ids = {new_conversation_id() for _ in range(50)}
    assert len(ids) == 50 and all(CONVERSATION_ID.fullmatch(i) for i in ids)
    assert not CONVERSATION_ID.fullmatch("../../etc/passwd")


def test_topic_and_transcript_live_in_one_conversation() -> None:
    store = ConversationStore()
    store.remember("a", GLAUCOMA)
    first = store.add("a", answer("one"), generation=3)
    second = store.add("a", answer("two"))
    assert len(store) == 1
    assert store.topic("a") == GLAUCOMA
    assert [e.answer.question for e in store.exchanges("a")] == ["one", "two"]
    assert store.find("a", first.id) is first and first.generation == 3
    assert store.find("a", second.id) is second
    assert store.find("b", first.id) is None and store.find("a", "nope") is None
    assert store.exchanges("b") == [] and store.topic("b") is None


def test_transcript_keeps_the_last_exchanges() -> None:
    store = ConversationStore(per_conversation=3)
    for n in range(5):
        store.add("a", answer(str(n)))
    assert [e.answer.question for e in store.exchanges("a")] == ["2", "3", "4"]


def test_idle_conversation_is_forgotten_whole() -> None:
    now = [0.0]
    store = ConversationStore(ttl=60, clock=lambda: now[0])
    store.remember("a", GLAUCOMA)
    now[0] = 50.0
    store.add("a", answer())  # any activity keeps the conversation, topic included
    now[0] = 100.0
    assert store.topic("a") == GLAUCOMA and len(store.exchanges("a")) == 1
    now[0] = 111.0
    assert store.topic("a") is None and store.exchanges("a") == []
    store.add("a", answer("again"))  # a new conversation under the same id: nothing revived
    assert [e.answer.question for e in store.exchanges("a")] == ["again"]
    assert store.topic("a") is None


def test_beyond_capacity_the_least_recently_active_conversation_is_dropped() -> None:
    store = ConversationStore(capacity=2)
    store.add("a", answer())
    store.remember("b", GLAUCOMA)
    store.add("a", answer())  # "a" is now more recent than "b"
    store.add("c", answer())
    assert len(store) == 2
    assert store.topic("b") is None and len(store.exchanges("a")) == 2


def test_only_the_most_recent_transcripts_are_kept() -> None:
    store = ConversationStore(capacity=10, transcripts=2)
    store.remember("a", GLAUCOMA)
    for conversation in "abc":
        store.add(conversation, answer())
    assert store.exchanges("a") == []  # its exchanges are dropped, its topic is kept
    assert store.topic("a") == GLAUCOMA
    assert len(store.exchanges("b")) == len(store.exchanges("c")) == 1


def test_converse_reads_a_follow_up_against_the_last_topic(index_root: Path) -> None:
    index, embedder, triage = open_index(index_root), FakeEmbedder(), make_triage()
    store = ConversationStore()
    first = converse(index, embedder, triage, store, "c1", "how is glaucoma treated?")
    assert first.kind == AnswerKind.ANSWERED
    assert store.topic("c1") == GLAUCOMA
    follow = converse(index, embedder, triage, store, "c1", "what are its symptoms?")
    assert follow.searched_for.endswith("(Glaucoma)")
    assert store.exchanges("c1") == []  # the transcript is the chat page's to keep
    alone = converse(index, embedder, triage, store, "c2", "what are its symptoms?")
    assert "(Glaucoma)" not in alone.searched_for
    index.close()
