"""The SQLite store: documents, passages, their vectors, and an FTS5 lexical index."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from medcite.index.naming import synonyms_of
from medcite.index.text import STOPWORDS, section_label, sentence_spans, words
from medcite.index.types import Document, Passage, Section, content_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    url TEXT NOT NULL,
    source TEXT NOT NULL,
    checksum TEXT NOT NULL,
    origin TEXT NOT NULL,
    sections TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(id),
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    section_id TEXT NOT NULL,
    heading TEXT NOT NULL,
    embed_key TEXT NOT NULL,
    vector BLOB
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE INDEX IF NOT EXISTS passages_key ON passages(embed_key);
CREATE TABLE IF NOT EXISTS words (word TEXT PRIMARY KEY, df INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS labels (key TEXT PRIMARY KEY, vector BLOB NOT NULL);
-- The vectors quotes are chosen with: every passage sentence and document title, float16.
CREATE TABLE IF NOT EXISTS sentences (key TEXT PRIMARY KEY, vector BLOB NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts
    USING fts5(title, heading, body, tokenize='porter unicode61');
"""

# Column weights for bm25(): a title match says more than a body match.
BM25_WEIGHTS = (4.0, 2.0, 1.0)


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        # A committed generation never changes: immutable skips locking and journal checks.
        conn = sqlite3.connect(
            f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(path)
        conn.executescript(SCHEMA)
    conn.row_factory = sqlite3.Row
    return conn


def copy_store(source: Path, target: Path) -> None:
    """A consistent copy of a store, made with SQLite's backup API."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


# --- writing ----------------------------------------------------------------------------


def document_states(conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    """doc id -> (checksum, origin) of every stored document."""
    rows = conn.execute("SELECT id, checksum, origin FROM documents")
    return {row["id"]: (row["checksum"], row["origin"]) for row in rows}


def vectors_for_keys(conn: sqlite3.Connection, keys: Iterable[str]) -> dict[str, bytes]:
    """Stored vectors by embedding key, so unchanged passage text is never embedded twice."""
    query = "SELECT embed_key, vector FROM passages WHERE vector IS NOT NULL AND embed_key IN"
    return {row[0]: row[1] for row in _rows_for_keys(conn, query, keys)}


def delete_document(conn: sqlite3.Connection, doc_id: str) -> None:
    conn.execute(
        "DELETE FROM passages_fts WHERE rowid IN (SELECT rowid FROM passages WHERE doc_id = ?)",
        (doc_id,),
    )
    conn.execute("DELETE FROM passages WHERE doc_id = ?", (doc_id,))
    conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))


def insert_document(
    conn: sqlite3.Connection,
    document: Document,
    origin: str,
    passages: Sequence[Passage],
    embed_keys: Sequence[str],
    vectors: dict[str, bytes],
) -> None:
    """Insert a document and its passages; a passage whose key is in ``vectors`` reuses it."""
    sections = [[s.id, s.heading, s.start, s.end] for s in document.sections]
    conn.execute(
        "INSERT INTO documents (id, title, text, url, source, checksum, origin, sections, metadata)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            document.id,
            document.title,
            document.text,
            document.url,
            document.source,
            document.checksum,
            origin,
            json.dumps(sections),
            json.dumps(list(document.metadata)),
        ),
    )
    for passage, key in zip(passages, embed_keys, strict=True):
        cursor = conn.execute(
            "INSERT INTO passages (id, doc_id, start_char, end_char, section_id, heading,"
            " embed_key, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                passage.id,
                passage.doc_id,
                passage.start,
                passage.end,
                passage.section_id,
                passage.heading,
                key,
                vectors.get(key),
            ),
        )
        conn.execute(
            "INSERT INTO passages_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)",
            (cursor.lastrowid, document.title, passage.heading, passage.text),
        )


def passages_without_vectors(conn: sqlite3.Connection) -> list[tuple[int, str, str, str]]:
    """(rowid, title, heading, passage text) of passages still to embed."""
    rows = conn.execute(
        "SELECT p.rowid, d.title, p.heading, substr(d.text, p.start_char + 1,"
        " p.end_char - p.start_char) AS body FROM passages p JOIN documents d ON d.id = p.doc_id"
        " WHERE p.vector IS NULL ORDER BY p.rowid"
    )
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def set_vectors(conn: sqlite3.Connection, rowids: Sequence[int], vectors: np.ndarray) -> None:
    conn.executemany(
        "UPDATE passages SET vector = ? WHERE rowid = ?",
        [(vectors[i].astype(np.float32).tobytes(), rowid) for i, rowid in enumerate(rowids)],
    )


def all_vectors(conn: sqlite3.Connection, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(rowids, matrix) of every passage vector, in rowid order."""
    rows = conn.execute("SELECT rowid, vector FROM passages ORDER BY rowid").fetchall()
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    matrix = np.zeros((len(rows), dim), dtype=np.float32)
    for i, row in enumerate(rows):
        matrix[i] = np.frombuffer(row[1], dtype=np.float32)
    return ids, matrix


def vector_key(model: str, text: str) -> str:
    """The cache key of a text's vector: the same text under the same model is embedded once."""
    return content_id(model, text, length=32)


def passage_labels(conn: sqlite3.Connection, model: str) -> list[tuple[int, str, str]]:
    """(rowid, label key, label text) of every passage; the label is "Title — Heading"."""
    rows = conn.execute(
        "SELECT p.rowid, d.title, p.heading FROM passages p JOIN documents d ON d.id = p.doc_id"
    )
    out = []
    for rowid, title, heading in rows:
        text = section_label(title, heading)
        out.append((rowid, vector_key(model, text), text))
    return out


def label_vectors(conn: sqlite3.Connection) -> tuple[list[str], np.ndarray]:
    rows = conn.execute("SELECT key, vector FROM labels ORDER BY key").fetchall()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    return [r[0] for r in rows], np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])


def label_keys(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT key FROM labels")}


def replace_labels(conn: sqlite3.Connection, keep: set[str], new: dict[str, bytes]) -> None:
    """Add ``new`` label vectors and drop those no passage uses any more."""
    conn.executemany("INSERT OR REPLACE INTO labels (key, vector) VALUES (?, ?)", new.items())
    conn.executemany("DELETE FROM labels WHERE key = ?", [(k,) for k in label_keys(conn) - keep])


def quote_texts(conn: sqlite3.Connection, model: str) -> dict[str, str]:
    """key -> text of every passage sentence (``sentence_spans`` of the passage text, as
    quotes are cut) and every document title: what quotes are scored against by meaning."""
    out: dict[str, str] = {}
    for (title,) in conn.execute("SELECT title FROM documents"):
        out[vector_key(model, title)] = title
    rows = conn.execute(
        "SELECT substr(d.text, p.start_char + 1, p.end_char - p.start_char)"
        " FROM passages p JOIN documents d ON d.id = p.doc_id"
    )
    for (body,) in rows:
        for start, end in sentence_spans(body):
            out[vector_key(model, body[start:end])] = body[start:end]
    return out


def sentence_keys(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT key FROM sentences")}


def add_sentence_vectors(conn: sqlite3.Connection, keys: Sequence[str], matrix: np.ndarray) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO sentences (key, vector) VALUES (?, ?)",
        [(key, matrix[i].astype(np.float16).tobytes()) for i, key in enumerate(keys)],
    )


def drop_sentence_vectors(conn: sqlite3.Connection, keep: set[str]) -> None:
    """Drop the sentence vectors of text no passage or title has any more."""
    gone = sentence_keys(conn) - keep
    conn.executemany("DELETE FROM sentences WHERE key = ?", [(key,) for key in gone])


def has_sentence_vectors(conn: sqlite3.Connection) -> bool:
    """Whether the store has sentence vectors (a store from before them has no such table)."""
    table = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sentences'"
    if conn.execute(table).fetchone() is None:
        return False
    return conn.execute("SELECT 1 FROM sentences LIMIT 1").fetchone() is not None


def every_sentence_vector(conn: sqlite3.Connection) -> Iterator[tuple[str, np.ndarray]]:
    """(key, float32 vector) of every stored sentence vector, for copying the store."""
    if not has_sentence_vectors(conn):
        return
    for key, blob in conn.execute("SELECT key, vector FROM sentences ORDER BY key"):
        yield key, np.frombuffer(blob, dtype=np.float16).astype(np.float32)


def sentence_vectors(conn: sqlite3.Connection, keys: Collection[str]) -> dict[str, np.ndarray]:
    """Stored sentence vectors (float32) by key; keys without one are left out."""
    rows = _rows_for_keys(conn, "SELECT key, vector FROM sentences WHERE key IN", keys)
    return {row[0]: np.frombuffer(row[1], dtype=np.float16).astype(np.float32) for row in rows}


def _rows_for_keys(
    conn: sqlite3.Connection, query: str, keys: Iterable[str]
) -> Iterator[sqlite3.Row]:
    """The rows of ``query`` (ending in "IN") for the distinct ``keys``, 500 keys a statement
    (SQLite caps the parameters of one)."""
    wanted = list(set(keys))
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        yield from conn.execute(f"{query} ({','.join('?' * len(chunk))})", chunk)


def rebuild_words(conn: sqlite3.Connection) -> None:
    """Passage frequency of every word: the vocabulary for idf weights and spelling."""
    df: Counter[str] = Counter()
    rows = conn.execute(
        "SELECT d.title, substr(d.text, p.start_char + 1, p.end_char - p.start_char)"
        " FROM passages p JOIN documents d ON d.id = p.doc_id"
    )
    for title, body in rows:
        df.update(set(words(title + " " + body)))
    conn.execute("DELETE FROM words")
    conn.executemany("INSERT INTO words (word, df) VALUES (?, ?)", df.items())


def has_words(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM words LIMIT 1").fetchone() is not None


def word_frequencies(conn: sqlite3.Connection) -> dict[str, int]:
    return {row[0]: row[1] for row in conn.execute("SELECT word, df FROM words")}


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        "documents": conn.execute("SELECT count(*) FROM documents").fetchone()[0],
        "passages": conn.execute("SELECT count(*) FROM passages").fetchone()[0],
    }


# --- reading ----------------------------------------------------------------------------


def _document_from_row(row: sqlite3.Row) -> Document:
    return Document(
        id=row["id"],
        title=row["title"],
        text=row["text"],
        url=row["url"],
        source=row["source"],
        sections=tuple(Section(*s) for s in json.loads(row["sections"])),
        metadata=tuple((k, v) for k, v in json.loads(row["metadata"])),
    )


def get_document(conn: sqlite3.Connection, doc_id: str) -> Document | None:
    row = conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
    return _document_from_row(row) if row else None


def get_passages(
    conn: sqlite3.Connection, rowids: Sequence[int]
) -> dict[int, tuple[Passage, sqlite3.Row]]:
    """rowid -> (passage, row with the document's title, url, source)."""
    if not rowids:
        return {}
    marks = ",".join("?" * len(rowids))
    rows = conn.execute(
        "SELECT p.rowid AS rowid, p.id, p.doc_id, p.start_char, p.end_char, p.section_id,"
        " p.heading, d.title, d.url, d.source, substr(d.text, p.start_char + 1,"
        " p.end_char - p.start_char) AS body"
        f" FROM passages p JOIN documents d ON d.id = p.doc_id WHERE p.rowid IN ({marks})",
        list(rowids),
    )
    found = {}
    for row in rows:
        passage = Passage(
            id=row["id"],
            doc_id=row["doc_id"],
            start=row["start_char"],
            end=row["end_char"],
            text=row["body"],
            section_id=row["section_id"],
            heading=row["heading"],
        )
        found[row["rowid"]] = (passage, row)
    return found


def passage_rowids_for_documents(conn: sqlite3.Connection, doc_ids: Sequence[str]) -> set[int]:
    marks = ",".join("?" * len(doc_ids))
    rows = conn.execute(f"SELECT rowid FROM passages WHERE doc_id IN ({marks})", list(doc_ids))
    return {row[0] for row in rows}


def query_words(text: str) -> list[str]:
    """The words a full-text search looks for: the topic words of ``text`` (all its words when
    it has only stopwords), each once, at most 32."""
    tokens = words(text)
    topical = [t for t in tokens if t not in STOPWORDS] or tokens
    return list(dict.fromkeys(topical))[:32]


def fts_query(text: str) -> str:
    """An FTS5 OR-query of the ``query_words`` of ``text`` ('' when there are none)."""
    return " OR ".join(f'"{t}"' for t in query_words(text))


def _document_filter(sources: Collection[str], doc_ids: Collection[str]) -> tuple[str, list[str]]:
    """A WHERE condition on documents ``d`` that keeps those of ``sources`` and of ``doc_ids``
    (an empty one keeps all), and its parameters: each list is bound as one JSON array, so a
    filter binds two variables at most, however many passages or documents it covers."""
    conditions, params = ["1"], []
    if sources:
        conditions.append("d.source IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(sources)))
    if doc_ids:
        conditions.append("d.id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(doc_ids)))
    return " AND ".join(conditions), params


# The filter's documents drive, each one's passages are read from the passages_doc index.
_FILTERED_PASSAGES = "FROM documents d CROSS JOIN passages p ON p.doc_id = d.id WHERE "


def count_filtered(
    conn: sqlite3.Connection, sources: Collection[str] = (), doc_ids: Collection[str] = ()
) -> int:
    """How many passages the documents of ``sources`` and ``doc_ids`` have (see
    ``filtered_rowids``)."""
    where, params = _document_filter(sources, doc_ids)
    return int(conn.execute(f"SELECT count(*) {_FILTERED_PASSAGES}{where}", params).fetchone()[0])


def filtered_rowids(
    conn: sqlite3.Connection, sources: Collection[str] = (), doc_ids: Collection[str] = ()
) -> np.ndarray:
    """The rowids (int64, ascending) of the passages of the documents of ``sources`` and of
    ``doc_ids`` (an empty one keeps all): what a filtered vector search may return."""
    where, params = _document_filter(sources, doc_ids)
    # One comma-separated string parses far faster than a row per passage.
    joined = conn.execute(
        f"SELECT group_concat(p.rowid) {_FILTERED_PASSAGES}{where}", params
    ).fetchone()[0]
    if not joined:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.fromstring(joined, dtype=np.int64, sep=","))


def keep_filtered(
    conn: sqlite3.Connection,
    rowids: Sequence[int],
    sources: Collection[str] = (),
    doc_ids: Collection[str] = (),
) -> set[int]:
    """Those of ``rowids`` whose documents are of ``sources`` and ``doc_ids`` (the candidates
    are bound as one JSON array too)."""
    if not rowids:
        return set()
    where, params = _document_filter(sources, doc_ids)
    rows = conn.execute(
        "SELECT p.rowid FROM passages p JOIN documents d ON d.id = p.doc_id"
        f" WHERE p.rowid IN (SELECT value FROM json_each(?)) AND {where}",
        [json.dumps([int(r) for r in rowids]), *params],
    )
    return {row[0] for row in rows}


def lexical_search(
    conn: sqlite3.Connection,
    text: str,
    k: int,
    *,
    sources: Collection[str] = (),
    doc_ids: Collection[str] = (),
) -> list[tuple[int, float]]:
    """Top ``k`` (rowid, score) by BM25 over title, heading and passage text; higher is better.

    With ``sources`` or ``doc_ids``, only their passages: the full-text match runs first and
    each passage it finds is checked against the filter, so a filter costs what the match
    costs, never a scan of the source."""
    query = fts_query(text)
    if not query or k <= 0:
        return []
    if not sources and not doc_ids:
        rows = conn.execute(
            "SELECT rowid, bm25(passages_fts, ?, ?, ?) AS score FROM passages_fts"
            " WHERE passages_fts MATCH ? ORDER BY score LIMIT ?",
            (*BM25_WEIGHTS, query, k),
        )
        return [(row[0], -row[1]) for row in rows]
    where, params = _document_filter(sources, doc_ids)
    # CROSS JOIN keeps this join order: the match drives, the filter is looked up by rowid.
    rows = conn.execute(
        "SELECT passages_fts.rowid, bm25(passages_fts, ?, ?, ?) AS score FROM passages_fts"
        " CROSS JOIN passages p ON p.rowid = passages_fts.rowid"
        " CROSS JOIN documents d ON d.id = p.doc_id"
        f" WHERE passages_fts MATCH ? AND {where} ORDER BY score LIMIT ?",
        (*BM25_WEIGHTS, query, *params, k),
    )
    return [(row[0], -row[1]) for row in rows]


def sources(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    rows = conn.execute("SELECT source, count(*) FROM documents GROUP BY source ORDER BY source")
    return [(row[0], row[1]) for row in rows]


def document_tails(conn: sqlite3.Connection, chars: int) -> list[str]:
    """The last ``chars`` characters of every document's text."""
    return [row[0] for row in conn.execute("SELECT substr(text, ?) FROM documents", (-chars,))]


def article_names(conn: sqlite3.Connection) -> list[tuple[str, str, tuple[str, ...]]]:
    """(id, title, synonyms) of every document, by id: the names patients call articles by."""
    out = []
    for doc_id, title, metadata in conn.execute(
        "SELECT id, title, metadata FROM documents ORDER BY id"
    ):
        out.append((doc_id, title, synonyms_of(dict(json.loads(metadata)))))
    return out


def list_documents(
    conn: sqlite3.Connection, sources: Collection[str] | None = None
) -> list[tuple[str, str]]:
    """(id, title) of every document, or of those from ``sources``, by title."""
    if sources is None:
        rows = conn.execute("SELECT id, title FROM documents ORDER BY title")
    else:
        marks = ",".join("?" * len(sources))
        rows = conn.execute(
            f"SELECT id, title FROM documents WHERE source IN ({marks}) ORDER BY title",
            list(sources),
        )
    return [(r[0], r[1]) for r in rows]
