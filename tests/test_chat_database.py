"""Database URLs: a bad, unsupported or unreachable one is a one-line ``DatabaseError`` that
never shows the password; a database failing mid-request says so without the question."""

from __future__ import annotations

import logging

import pytest

from medcite.chat.conversation_db import DatabaseConversationStore
from medcite.chat.database import UNAVAILABLE, Database, DatabaseError
from medcite.chat.feedback import FeedbackStore
from medcite.chat.types import Answer, AnswerKind
from tests.support import free_port


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "not one medcite can read"),
        ("", "not one medcite can read"),
        ("mysql://user:hunter2@db/medcite", "SQLite or PostgreSQL, not mysql"),
        ("sqlite://", "in memory"),
        ("sqlite:///:memory:", "in memory"),
    ],
)
def test_an_unusable_url_is_refused_in_one_line(url: str, says: str) -> None:
    with pytest.raises(DatabaseError) as refused:
        Database(url)
    message = str(refused.value)
    assert says in message and "\n" not in message and "hunter2" not in message


def test_a_plain_postgresql_url_uses_psycopg() -> None:
    database = Database("postgresql://medcite:hunter2@db.example/medcite")
    assert database.url.drivername == "postgresql+psycopg"
    assert database.describe() == "postgresql+psycopg://medcite:***@db.example/medcite"


def unreachable() -> Database:
    return Database(f"postgresql+psycopg://medcite:hunter2@127.0.0.1:{free_port()}/medcite")


def test_an_unreachable_database_is_named_without_its_password() -> None:
    database = unreachable()
    with pytest.raises(DatabaseError) as failed:
        database.check()
    message = str(failed.value)
    assert message.startswith("cannot use the database at postgresql+psycopg://medcite:***@")
    assert "hunter2" not in message and "\n" not in message


def test_a_failing_database_says_so_without_the_question(caplog: pytest.LogCaptureFixture) -> None:
    question = "my name is Jane Roe, is my rash shingles?"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DatabaseError) as failed:
        FeedbackStore(unreachable()).add(Answer(question, AnswerKind.ANSWERED), helpful=True)
    assert str(failed.value) == UNAVAILABLE
    with pytest.raises(DatabaseError):
        DatabaseConversationStore(unreachable()).add("c" * 20, Answer(question, AnswerKind.CLARIFY))
    assert "Jane" not in caplog.text and "hunter2" not in caplog.text
    assert "OperationalError" in caplog.text
