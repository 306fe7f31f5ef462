"""Patients' ratings of answers, kept so staff can improve the bot and grow the evaluation set.

The store is ``feedback.sqlite`` in the index ROOT directory, beside ``CURRENT`` and never inside
a ``gen-*`` directory, so a re-ingest (which writes a new generation and deletes old ones) never
touches it. Sending feedback is explicit consent to store the question with the rating; nothing
else in medcite stores or logs question text.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from medcite.chat.types import ANSWERED, NOT_COVERED, Answer

FEEDBACK_FILE = "feedback.sqlite"
MAX_COMMENT_CHARS = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    created TEXT NOT NULL,
    helpful INTEGER NOT NULL CHECK (helpful IN (0, 1)),
    comment TEXT NOT NULL,
    question TEXT NOT NULL,
    kind TEXT NOT NULL,
    doc_ids TEXT NOT NULL,
    section_ids TEXT NOT NULL,
    generation INTEGER,
    answer_id TEXT
);
"""
# One rating per answer, however often (or however many times at once) it is sent. Created
# apart from the table, after a store written before answer ids has gained the column.
UNIQUE_ANSWER = "CREATE UNIQUE INDEX IF NOT EXISTS feedback_answer ON feedback(answer_id)"


@dataclass(frozen=True)
class Feedback:
    """One rating. ``doc_ids`` and ``section_ids`` are what the rated answer cited, in order."""

    id: int
    created: str
    helpful: bool
    comment: str
    question: str
    kind: str
    doc_ids: tuple[str, ...]
    section_ids: tuple[str, ...]
    generation: int | None = None


def feedback_path(index_root: Path) -> Path:
    return Path(index_root) / FEEDBACK_FILE


class FeedbackStore:
    """SQLite-backed, one short connection per call: safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection | None]:
        with self._lock:
            if not create and not self.path.exists():
                yield None
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=10)) as conn:
                conn.row_factory = sqlite3.Row
                conn.executescript(SCHEMA)
                _add_answer_ids(conn)
                yield conn

    def add(
        self,
        answer: Answer,
        *,
        helpful: bool,
        comment: str = "",
        generation: int | None = None,
        answer_id: str | None = None,
    ) -> int | None:
        """Store a rating of ``answer`` and return its id. ``generation`` is the index
        generation that produced the answer. An answer with an ``answer_id`` is rated once:
        a rating of an answer already rated is not stored, and None is returned."""
        comment = comment.strip()[:MAX_COMMENT_CHARS]
        doc_ids = list(dict.fromkeys(c.doc_id for c in answer.citations))
        section_ids = list(dict.fromkeys(c.section_id for c in answer.citations if c.section_id))
        with self._connect(create=True) as conn:
            assert conn is not None
            with conn:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO feedback (created, helpful, comment, question, kind,"
                    " doc_ids, section_ids, generation, answer_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        int(helpful),
                        comment,
                        answer.question,
                        answer.kind,
                        json.dumps(doc_ids),
                        json.dumps(section_ids),
                        generation,
                        answer_id,
                    ),
                )
            return int(cursor.lastrowid) if cursor.rowcount == 1 and cursor.lastrowid else None

    def recent(self, *, limit: int = 100, offset: int = 0) -> list[Feedback]:
        """Newest first."""
        with self._connect(create=False) as conn:
            if conn is None:
                return []
            rows = conn.execute(
                "SELECT * FROM feedback ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
        return [_feedback(row) for row in rows]

    def count(self) -> int:
        with self._connect(create=False) as conn:
            if conn is None:
                return 0
            return int(conn.execute("SELECT count(*) FROM feedback").fetchone()[0])

    def all(self) -> list[Feedback]:
        """Oldest first, for export."""
        with self._connect(create=False) as conn:
            if conn is None:
                return []
            rows = conn.execute("SELECT * FROM feedback ORDER BY id").fetchall()
        return [_feedback(row) for row in rows]

    def export_qrels(self, out: Path) -> int:
        """Write ratings as evaluation questions (the format ``medcite eval`` reads); returns the
        number of lines written.

        A helpful answered question becomes ``{"id", "question", "article_ids", "section_ids"}``
        with the cited articles and sections as the relevant ones; an unhelpful "not covered"
        answer becomes ``{"id", "question", "answerable": false}``. Other ratings say nothing
        certain about relevance and are skipped."""
        lines = [line for item in self.all() if (line := qrel_line(item)) is not None]
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        return len(lines)


def _add_answer_ids(conn: sqlite3.Connection) -> None:
    """Give a store written before answer ids their column and unique index."""
    columns = {row["name"] for row in conn.execute("PRAGMA table_info(feedback)")}
    if "answer_id" not in columns:
        conn.execute("BEGIN IMMEDIATE")  # another process may be upgrading it too
        try:
            columns = {row["name"] for row in conn.execute("PRAGMA table_info(feedback)")}
            if "answer_id" not in columns:
                conn.execute("ALTER TABLE feedback ADD COLUMN answer_id TEXT")
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise
    conn.execute(UNIQUE_ANSWER)


def qrel_line(item: Feedback) -> dict[str, object] | None:
    question_id = f"feedback-{item.id}"
    if item.helpful and item.kind == ANSWERED and item.doc_ids:
        return {
            "id": question_id,
            "question": item.question,
            "article_ids": list(item.doc_ids),
            "section_ids": list(item.section_ids),
        }
    if not item.helpful and item.kind == NOT_COVERED:
        return {"id": question_id, "question": item.question, "answerable": False}
    return None


def export_feedback(index_root: Path, out: Path) -> int:
    """``medcite feedback export``: the ratings stored beside the index at ``index_root``,
    written to ``out`` as evaluation questions. Returns the number of lines written."""
    return FeedbackStore(feedback_path(index_root)).export_qrels(out)


def _feedback(row: sqlite3.Row) -> Feedback:
    return Feedback(
        id=int(row["id"]),
        created=str(row["created"]),
        helpful=bool(row["helpful"]),
        comment=str(row["comment"]),
        question=str(row["question"]),
        kind=str(row["kind"]),
        doc_ids=tuple(json.loads(row["doc_ids"])),
        section_ids=tuple(json.loads(row["section_ids"])),
        generation=None if row["generation"] is None else int(row["generation"]),
    )
