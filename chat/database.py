"""The database that keeps what must outlive a request and be shared by every web worker:
patients' feedback (``chat.feedback``) and, when several workers serve one deployment, the
conversations (``chat.conversation_db``).

A database is named by an SQLAlchemy URL: ``sqlite:////path/feedback.sqlite`` (the default is
``feedback.sqlite`` in the index root) or ``postgresql+psycopg://user:password@host/database``
(``pip install 'medcite[postgres]'``). Every failure becomes a ``DatabaseError`` with a one-line
message that never shows the password, the SQL or its values (which may hold a question).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, exc, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateIndex, CreateTable

from medcite.index.errors import MedciteError

logger = logging.getLogger("medcite.chat")

# Held while a PostgreSQL schema is created or upgraded, so that workers starting together
# take turns (CREATE TABLE IF NOT EXISTS alone can still collide there). Any fixed number.
SCHEMA_LOCK = 4_173_561
URL_FORMS = "sqlite:////path/to/file.sqlite or postgresql+psycopg://USER:PASSWORD@HOST/DATABASE"
UNAVAILABLE = "the database is not available right now: please try again in a moment"


class DatabaseError(MedciteError):
    """A database URL that cannot be used, or a database that failed or cannot be reached."""


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


class Database:
    """One database and its connection pool, shared by the stores that keep state in it.

    Nothing connects until a store first needs to; ``check`` connects at once (``medcite
    serve`` calls it, so a wrong URL is reported before the server starts)."""

    def __init__(self, url: str) -> None:
        self.url = _parse(url)
        self.engine = _engine(self.url)
        self._created: set[int] = set()
        self._lock = threading.Lock()

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def file(self) -> Path | None:
        """The SQLite file, or None for a database server."""
        return Path(self.url.database or "") if self.dialect == "sqlite" else None

    def describe(self) -> str:
        """The URL, as safe to show as any: without its password."""
        return self.url.render_as_string(hide_password=True)

    def exists(self) -> bool:
        """False only for an SQLite file not written yet (reading it need not create it)."""
        return self.file is None or self.file.exists()

    def check(self) -> None:
        """Connect once; a ``DatabaseError`` saying why when that fails."""
        try:
            self._make_room()
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except exc.SQLAlchemyError as error:
            raise DatabaseError(
                f"cannot use the database at {self.describe()}: {_first_line(error)}"
            ) from error

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed when the block ends without an error."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except exc.SQLAlchemyError as error:
            # Only the kind of failure is logged: the statement's values may be a question.
            detail = _first_line(error) if isinstance(error, _CONNECTION_ERRORS) else ""
            logger.warning("database error (%s) %s", type(error).__name__, detail)
            raise DatabaseError(UNAVAILABLE) from error

    def create(
        self, metadata: MetaData, upgrade: Callable[[Connection], None] | None = None
    ) -> None:
        """Create ``metadata``'s tables and indexes where missing, once per process; ``upgrade``
        runs between the two, to bring tables written by an older medcite up to date."""
        if id(metadata) in self._created:
            return
        with self._lock:
            if id(metadata) in self._created:
                return
            self._make_room()
            with self.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
                for table in metadata.sorted_tables:
                    conn.execute(CreateTable(table, if_not_exists=True))
                if upgrade is not None:
                    upgrade(conn)
                for table in metadata.sorted_tables:
                    for index in sorted(table.indexes, key=lambda index: str(index.name)):
                        conn.execute(CreateIndex(index, if_not_exists=True))
            self._created.add(id(metadata))

    def close(self) -> None:
        self.engine.dispose()

    def _make_room(self) -> None:
        if self.file is not None:
            self.file.parent.mkdir(parents=True, exist_ok=True)


def upsert(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that can say what to do on a conflict (``on_conflict_do_nothing`` and
    ``on_conflict_do_update`` read the same on both databases)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


_CONNECTION_ERRORS = (exc.OperationalError, exc.InterfaceError)


def _first_line(error: exc.SQLAlchemyError) -> str:
    """The driver's own message, first line only: what went wrong, without the statement."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return lines[0].strip() if lines else type(original).__name__


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        # The URL itself is left out: it may hold a password.
        raise DatabaseError(f"the database URL is not one medcite can read: {URL_FORMS}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseError(f"medcite keeps its data in SQLite or PostgreSQL, not {backend}")
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise DatabaseError(
            "an SQLite database in memory is not shared by anything: name a file"
            " (sqlite:////path/to/file.sqlite)"
        )
    return parsed


def _engine(url: URL) -> Engine:
    try:
        if url.get_backend_name() == "sqlite":
            # A short connection per use, as SQLite wants when several processes share a file;
            # a writer waits up to 10 s for another's transaction to end.
            return create_engine(url, poolclass=NullPool, connect_args={"timeout": 10})
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except ImportError:
        raise DatabaseError(
            f"{url.drivername} needs a driver that is not installed: for PostgreSQL,"
            " pip install 'medcite[postgres]'"
        ) from None
    except exc.ArgumentError as error:
        raise DatabaseError(f"the database URL cannot be used: {_first_line(error)}") from None
