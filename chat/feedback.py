"""Patients' ratings of answers, kept so staff can improve the bot and grow the evaluation set.

The store is a ``feedback`` table in the deployment's database (``chat.database``): by default
``feedback.sqlite`` in the index ROOT directory, beside ``CURRENT`` and never inside a ``gen-*``
directory, so a re-ingest (which writes a new generation and deletes old ones) never touches it;
or the PostgreSQL database that several web servers share. Sending feedback is explicit consent
to store the question with the rating. Apart from that, question text is kept only with the
conversations (``chat.conversation``), for at most 30 idle minutes, and never logged.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    RowMapping,
    Table,
    Text,
    exc,
    func,
    inspect,
    select,
    text,
)

from medcite.chat.database import Database, sqlite_url, upsert
from medcite.chat.types import ANSWERED, NOT_COVERED, Answer

FEEDBACK_FILE = "feedback.sqlite"
MAX_COMMENT_CHARS = 1000

SCHEMA = MetaData()
FEEDBACK = Table(
    "feedback",
    SCHEMA,
    Column("id", Integer, primary_key=True),
    Column("created", Text, nullable=False),
    Column("helpful", Integer, CheckConstraint("helpful IN (0, 1)"), nullable=False),
    Column("comment", Text, nullable=False),
    Column("question", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("doc_ids", Text, nullable=False),  # JSON lists, in citation order
    Column("section_ids", Text, nullable=False),
    Column("generation", Integer),
    Column("answer_id", Text),
    # One rating per answer, however often (or however many times at once) it is sent.
    # Created after ``_add_answer_ids``: a store written before answer ids lacks the column.
    Index("feedback_answer", "answer_id", unique=True),
)


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


def feedback_database(index_root: Path, database_url: str = "") -> Database:
    """The database named by ``database_url``, or (when it is empty) the SQLite file beside
    the index at ``index_root``."""
    return Database(database_url or sqlite_url(feedback_path(index_root)))


class FeedbackStore:
    """Ratings in ``database``, or in the SQLite file at a path. Safe to share between threads
    and between processes: each call is one short transaction."""

    def __init__(self, database: Database | Path) -> None:
        self.database = (
            database if isinstance(database, Database) else Database(sqlite_url(database))
        )

    def _ready(self, *, create: bool) -> bool:
        """Whether there is a store to read; ``create`` makes one when there is none."""
        if not create and not self.database.exists():
            return False
        self.database.create(SCHEMA, upgrade=_add_answer_ids)
        return True

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
        self._ready(create=True)
        with self.database.begin() as conn:
            row = conn.execute(
                upsert(conn, FEEDBACK)
                .values(
                    created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    helpful=int(helpful),
                    comment=comment,
                    question=answer.question,
                    kind=str(answer.kind),
                    doc_ids=json.dumps(doc_ids),
                    section_ids=json.dumps(section_ids),
                    generation=generation,
                    answer_id=answer_id,
                )
                .on_conflict_do_nothing()
                .returning(FEEDBACK.c.id)
            ).first()
        return None if row is None else int(row.id)

    def recent(self, *, limit: int = 100, offset: int = 0) -> list[Feedback]:
        """Newest first."""
        if not self._ready(create=False):
            return []
        query = select(FEEDBACK).order_by(FEEDBACK.c.id.desc()).limit(limit).offset(offset)
        with self.database.begin() as conn:
            rows = conn.execute(query).mappings().all()
        return [_feedback(row) for row in rows]

    def count(self) -> int:
        if not self._ready(create=False):
            return 0
        with self.database.begin() as conn:
            return int(conn.execute(select(func.count()).select_from(FEEDBACK)).scalar_one())

    def all(self) -> list[Feedback]:
        """Oldest first, for export."""
        if not self._ready(create=False):
            return []
        with self.database.begin() as conn:
            rows = conn.execute(select(FEEDBACK).order_by(FEEDBACK.c.id)).mappings().all()
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


def _answer_id_missing(conn: Connection) -> bool:
    return "answer_id" not in {column["name"] for column in inspect(conn).get_columns("feedback")}


def _add_answer_ids(conn: Connection) -> None:
    """Give a store written before answer ids its ``answer_id`` column."""
    if not _answer_id_missing(conn):
        return
    try:
        conn.execute(text("ALTER TABLE feedback ADD COLUMN answer_id TEXT"))
    except exc.OperationalError:
        # SQLite: another process added it first (PostgreSQL upgrades under a lock instead).
        if _answer_id_missing(conn):
            raise


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


def export_feedback(index_root: Path, out: Path, database_url: str = "") -> int:
    """``medcite feedback export``: the ratings stored beside the index at ``index_root`` (or
    in the database at ``database_url``), written to ``out`` as evaluation questions. Returns
    the number of lines written."""
    database = feedback_database(index_root, database_url)
    try:
        return FeedbackStore(database).export_qrels(out)
    finally:
        database.close()


def _feedback(row: RowMapping) -> Feedback:
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
