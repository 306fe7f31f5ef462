"""Feedback in a database named by URL, on SQLite and on PostgreSQL: the same store behaviour
as the file beside the index (one rating per answer, newest first, export), shared by every
store on the database."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from medcite.chat.database import Database
from medcite.chat.feedback import FeedbackStore, export_feedback
from medcite.chat.types import ANSWERED, NOT_COVERED, Answer, Citation
from medcite.web import cli


def answer(kind: str, question: str = "q?", cited: tuple[tuple[str, str], ...] = ()) -> Answer:
    citations = tuple(
        Citation(n, doc_id, "T", "", "S", "H", section_id, 0, 1)
        for n, (doc_id, section_id) in enumerate(cited, 1)
    )
    return Answer(question=question, kind=kind, citations=citations)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.close()


def test_an_empty_database_has_no_feedback(database: Database) -> None:
    store = FeedbackStore(database)
    assert store.recent() == [] and store.all() == [] and store.count() == 0


def test_ratings_are_stored_and_listed_newest_first(database: Database) -> None:
    store = FeedbackStore(database)
    glaucoma = answer(ANSWERED, "how is glaucoma treated? “drops”", (("GLAU_1", "GLAU_1#3"),))
    first = store.add(glaucoma, helpful=True, comment="  clear  ", generation=4, answer_id="a1")
    second = store.add(answer(NOT_COVERED, "what is warfarin?"), helpful=False)
    assert first is not None and second is not None and second > first
    assert store.count() == 2
    newest, oldest = store.recent()
    assert (newest.id, oldest.id) == (second, first)
    assert oldest.question == glaucoma.question and oldest.comment == "clear"
    assert oldest.helpful and oldest.kind == ANSWERED and oldest.generation == 4
    assert oldest.doc_ids == ("GLAU_1",) and oldest.section_ids == ("GLAU_1#3",)
    assert not newest.helpful and newest.generation is None and newest.doc_ids == ()
    assert [item.id for item in store.all()] == [first, second]
    assert [item.id for item in store.recent(limit=1, offset=1)] == [first]


def test_one_rating_per_answer_id_across_stores(database: Database) -> None:
    worker_a, worker_b = FeedbackStore(database), FeedbackStore(database)
    assert worker_a.add(answer(ANSWERED), helpful=True, answer_id="a1") is not None
    assert worker_b.add(answer(ANSWERED), helpful=False, answer_id="a1") is None
    assert worker_b.add(answer(ANSWERED), helpful=False, answer_id="a2") is not None
    assert worker_a.add(answer(ANSWERED), helpful=False) and worker_b.add(
        answer(ANSWERED), helpful=False
    )
    assert worker_a.count() == worker_b.count() == 4
    assert worker_b.recent()[-1].helpful  # the first rating of a1 is the one kept


def test_a_double_submit_at_once_from_two_workers_is_stored_once(database: Database) -> None:
    stores = [FeedbackStore(database), FeedbackStore(database)]
    meeting = threading.Barrier(2, timeout=10)

    def submit(store: FeedbackStore) -> int | None:
        meeting.wait()
        return store.add(answer(ANSWERED), helpful=True, answer_id="same")

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(submit, stores))
    assert sum(result is not None for result in results) == 1
    assert stores[0].count() == 1


def test_export_reads_the_database_it_is_given(database_url: str, tmp_path: Path) -> None:
    store = FeedbackStore(Database(database_url))
    store.add(answer(ANSWERED, "how is glaucoma treated?", (("GLAU_1", "GLAU_1#3"),)), helpful=True)
    store.add(answer(NOT_COVERED, "what is warfarin?"), helpful=False)
    store.add(answer(ANSWERED, "what is asthma?"), helpful=True)  # cites nothing: skipped
    out = tmp_path / "out.jsonl"
    assert export_feedback(tmp_path / "unused-index", out, database_url=database_url) == 2
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["question"] for line in lines] == ["how is glaucoma treated?", "what is warfarin?"]
    assert not (tmp_path / "unused-index").exists()
    # The command reads the same database.
    argv = ["feedback", "export", str(tmp_path / "cli.jsonl"), "--database-url", database_url]
    assert cli.main([*argv, "--index", str(tmp_path / "unused-index")]) == 0
    assert (tmp_path / "cli.jsonl").read_text() == out.read_text()
