"""Feedback: stored beside the index (never in a generation), kept across re-ingests, listed
for staff, exported as evaluation questions that ``load_questions`` reads."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from medcite.chat.evaluation.questions import load_questions
from medcite.chat.feedback import FEEDBACK_FILE, FeedbackStore, export_feedback, feedback_path
from medcite.chat.types import ANSWERED, EMERGENCY, NOT_COVERED, Answer, Citation
from medcite.index.testing import FakeEmbedder, write_jsonl
from medcite.ingest.pipeline import ingest

HX = {"HX-Request": "true"}


def ask(client: TestClient, question: str) -> str:
    """Ask through the page; returns the new exchange's id."""
    page = client.post("/ask", data={"question": question}).text
    return re.findall(r'name="exchange" value="([^"]+)"', page)[-1]


def answer(kind: str, question: str = "q?", cited: tuple[tuple[str, str], ...] = ()) -> Answer:
    citations = tuple(
        Citation(n, doc_id, "T", "", "S", "H", section_id, 0, 1)
        for n, (doc_id, section_id) in enumerate(cited, 1)
    )
    return Answer(question=question, kind=kind, citations=citations)


def test_feedback_is_stored_in_the_index_root_with_question_and_citations(
    make_client, fresh_index_root: Path
) -> None:
    client = make_client(fresh_index_root)
    exchange = ask(client, "how is glaucoma treated?")
    response = client.post(
        "/feedback",
        data={"exchange": exchange, "helpful": "yes", "comment": "clear"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/#exchange-{exchange}"
    assert (fresh_index_root / FEEDBACK_FILE).exists()
    assert not list(fresh_index_root.glob("gen-*/" + FEEDBACK_FILE))
    [item] = FeedbackStore(feedback_path(fresh_index_root)).recent()
    assert item.helpful and item.comment == "clear"
    assert item.question == "how is glaucoma treated?"
    assert item.kind == ANSWERED and item.doc_ids == ("GLAU_1",)
    assert item.section_ids == ("GLAU_1#3",) and item.generation == 1


def test_page_says_feedback_stores_the_question(client: TestClient) -> None:
    page = client.post("/ask", data={"question": "what is asthma?"}).text
    assert "Sending feedback stores your question so staff can improve answers" in page


def test_rated_answer_shows_thanks_and_is_stored_once(make_client, fresh_index_root: Path) -> None:
    client = make_client(fresh_index_root)
    exchange = ask(client, "what is asthma?")
    first = client.post("/feedback", data={"exchange": exchange, "helpful": "no"}, headers=HX)
    again = client.post("/feedback", data={"exchange": exchange, "helpful": "no"}, headers=HX)
    assert first.status_code == again.status_code == 200
    assert "Thank you for your feedback" in first.text and "<html" not in first.text
    assert client.app.state.feedback.count() == 1
    assert "Thank you for your feedback" in client.get("/").text


@pytest.mark.parametrize(
    "data",
    [
        {"exchange": "nope", "helpful": "yes"},
        {"helpful": "yes"},
        {"exchange": "{exchange}", "helpful": "maybe"},
        {"exchange": "{exchange}", "helpful": "yes", "comment": "x" * 1001},
    ],
)
def test_bad_feedback_is_a_400(make_client, fresh_index_root: Path, data: dict) -> None:
    client = make_client(fresh_index_root)
    exchange = ask(client, "what is asthma?")
    data = {k: v.format(exchange=exchange) for k, v in data.items()}
    assert client.post("/feedback", data=data).status_code == 400
    assert client.app.state.feedback.count() == 0


def test_feedback_survives_a_reingest(
    make_client,
    fresh_index_root: Path,
    corpus_file: Path,
    embedder: FakeEmbedder,
    tmp_path: Path,
    corpus_articles,
) -> None:
    client = make_client(fresh_index_root)
    client.post("/feedback", data={"exchange": ask(client, "what is asthma?"), "helpful": "yes"})
    changed = [dict(a) for a in corpus_articles]
    changed[0]["title"] = "Glaucoma (changed)"
    for _ in range(3):  # more generations than are kept: old ones get deleted
        ingest([write_jsonl(tmp_path / "changed.jsonl", changed)], fresh_index_root, embedder)
        changed[0]["title"] += "!"
    assert (fresh_index_root / "CURRENT").read_text().strip() == "gen-000004"
    assert not (fresh_index_root / "gen-000001").exists()
    assert FeedbackStore(feedback_path(fresh_index_root)).count() == 1
    assert client.post("/api/admin/reload").json()["generation"] == 4
    assert client.app.state.feedback.count() == 1


def test_staff_feedback_list_shows_ratings_escaped(make_client, fresh_index_root: Path) -> None:
    client = make_client(fresh_index_root)
    exchange = ask(client, "what is <b>asthma</b>?")
    client.post("/feedback", data={"exchange": exchange, "helpful": "no", "comment": "<i>hm</i>"})
    page = client.get("/search/feedback")
    assert page.status_code == 200
    assert "1 rating," in page.text
    assert "&lt;b&gt;asthma&lt;/b&gt;" in page.text and "&lt;i&gt;hm&lt;/i&gt;" in page.text
    assert "<b>asthma" not in page.text
    assert "Not helpful" in page.text


def test_empty_feedback_list(client: TestClient) -> None:
    page = client.get("/search/feedback")
    assert page.status_code == 200 and "0 ratings" in page.text


def test_export_writes_questions_that_the_evaluator_loads(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "index" / FEEDBACK_FILE)
    store.add(
        answer(
            ANSWERED, "how is glaucoma treated?", (("GLAU_1", "GLAU_1#3"), ("GLAU_1", "GLAU_1#1"))
        ),
        helpful=True,
    )
    store.add(answer(NOT_COVERED, "what is warfarin?"), helpful=False)
    store.add(answer(ANSWERED, "what is asthma?", (("ASTH_1", "ASTH_1#1"),)), helpful=False)
    store.add(answer(NOT_COVERED, "what is aspirin?"), helpful=True)
    store.add(answer(EMERGENCY, "chest pain now"), helpful=True)
    out = tmp_path / "out" / "feedback.jsonl"
    assert export_feedback(tmp_path / "index", out) == 2
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [
        {
            "id": "feedback-1",
            "question": "how is glaucoma treated?",
            "article_ids": ["GLAU_1"],
            "section_ids": ["GLAU_1#3", "GLAU_1#1"],
        },
        {"id": "feedback-2", "question": "what is warfarin?", "answerable": False},
    ]
    questions = load_questions(out)
    assert [q.answerable for q in questions] == [True, False]
    assert questions[0].article_ids == ("GLAU_1",)


def test_export_without_any_feedback_writes_an_empty_file(tmp_path: Path) -> None:
    out = tmp_path / "empty.jsonl"
    assert export_feedback(tmp_path, out) == 0
    assert out.read_text() == ""
    assert not (tmp_path / FEEDBACK_FILE).exists()  # reading never creates the store


class MeetingFeedbackStore(FeedbackStore):
    """Holds each ``add`` until ``parties`` of them are under way: two submits of one rating
    that both got past the "already rated?" check before either stored anything."""

    def __init__(self, path: Path, parties: int) -> None:
        super().__init__(path)
        self.meeting = threading.Barrier(parties, timeout=10)

    def add(self, *args: Any, **kwargs: Any) -> int | None:
        self.meeting.wait()
        return super().add(*args, **kwargs)


def test_a_double_submit_at_once_is_stored_once(make_client, fresh_index_root: Path) -> None:
    client = make_client(fresh_index_root)
    exchange = ask(client, "what is asthma?")
    client.app.state.feedback = MeetingFeedbackStore(feedback_path(fresh_index_root), 2)

    def submit() -> int:
        data = {"exchange": exchange, "helpful": "yes"}
        return client.post("/feedback", data=data, headers=HX).status_code

    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(lambda _: submit(), range(2)))
    assert statuses == [200, 200]
    assert FeedbackStore(feedback_path(fresh_index_root)).count() == 1


def test_a_rating_names_the_generation_that_answered_not_the_one_serving_later(
    make_client, fresh_index_root: Path, corpus_articles, tmp_path: Path
) -> None:
    client = make_client(fresh_index_root)
    exchange = ask(client, "how is glaucoma treated?")  # answered by generation 1
    changed = [dict(a) for a in corpus_articles]
    changed[0]["title"] = "Glaucoma (changed)"
    ingest([write_jsonl(tmp_path / "changed.jsonl", changed)], fresh_index_root, FakeEmbedder())
    assert client.post("/api/admin/reload").json()["generation"] == 2
    client.post("/feedback", data={"exchange": exchange, "helpful": "yes"})
    [item] = FeedbackStore(feedback_path(fresh_index_root)).recent()
    assert item.generation == 1
    later = ask(client, "how is glaucoma treated?")
    client.post("/feedback", data={"exchange": later, "helpful": "yes"})
    assert [i.generation for i in FeedbackStore(feedback_path(fresh_index_root)).recent()] == [2, 1]


def test_the_store_keeps_one_rating_per_answer_id(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / FEEDBACK_FILE)
    first = store.add(answer(ANSWERED), helpful=True, answer_id="a1")
    assert first is not None
    assert store.add(answer(ANSWERED), helpful=False, answer_id="a1") is None
    assert store.add(answer(ANSWERED), helpful=False, answer_id="a2") is not None
    assert store.add(answer(ANSWERED), helpful=False) and store.add(answer(ANSWERED), helpful=False)
    assert store.count() == 4
    assert store.recent()[-1].helpful  # the first rating of a1 is the one kept


def test_a_store_written_before_answer_ids_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / FEEDBACK_FILE
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "CREATE TABLE feedback (id INTEGER PRIMARY KEY, created TEXT NOT NULL, helpful"
            " INTEGER NOT NULL, comment TEXT NOT NULL, question TEXT NOT NULL, kind TEXT NOT"
            " NULL, doc_ids TEXT NOT NULL, section_ids TEXT NOT NULL, generation INTEGER)"
        )
        conn.execute(
            "INSERT INTO feedback VALUES (1, '2025-01-01T00:00:00+00:00', 1, '', 'old?',"
            " 'answered', '[]', '[]', 3)"
        )
    store = FeedbackStore(path)
    assert store.add(answer(ANSWERED, "new?"), helpful=False, answer_id="x") == 2
    assert store.add(answer(ANSWERED, "new?"), helpful=False, answer_id="x") is None
    assert [(i.question, i.generation) for i in store.all()] == [("old?", 3), ("new?", None)]
