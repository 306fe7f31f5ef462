"""Opening a committed index for searching."""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from index import layout, store, vectors
from index.errors import IndexCorruptError, IndexMismatchError
from index.types import Document, Hit


@dataclass
class Index:
    """A loaded generation: the SQLite store and the FAISS index, read-only.

    Safe to share between threads: SQLite access is serialised by a lock, FAISS searches
    on a flat or HNSW index are read-only."""

    root: Path
    directory: Path
    manifest: layout.Manifest
    conn: sqlite3.Connection
    vector_index: faiss.Index
    lock: threading.Lock
    _df: dict[str, int] | None = None

    def idf(self, term: str) -> float:
        """Smoothed inverse passage frequency of a stemmed term (unknown terms weigh most)."""
        if self._df is None:
            with self.lock:
                self._df = store.term_frequencies(self.conn)
        n = max(self.manifest.passages, 1)
        return math.log((n + 1) / (self._df.get(term, 0) + 0.5))

    @property
    def generation(self) -> int:
        return self.manifest.generation

    def document(self, doc_id: str) -> Document | None:
        with self.lock:
            return store.get_document(self.conn, doc_id)

    def dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        return vectors.search(self.vector_index, query_vector, k)

    def lexical(self, text: str, k: int) -> list[tuple[int, float]]:
        with self.lock:
            return store.lexical_search(self.conn, text, k)

    def hits(
        self,
        scored: list[tuple[int, float]],
        signals: dict[int, tuple[tuple[str, float], ...]] | None = None,
    ) -> list[Hit]:
        """Hits for (rowid, score) pairs, in the given order."""
        with self.lock:
            found = store.get_passages(self.conn, [rowid for rowid, _ in scored])
        out = []
        for rowid, score in scored:
            if rowid not in found:
                continue
            passage, row = found[rowid]
            out.append(
                Hit(
                    passage=passage,
                    score=score,
                    title=row["title"],
                    url=row["url"],
                    source=row["source"],
                    signals=(signals or {}).get(rowid, ()),
                )
            )
        return out

    def rowids_for_documents(self, doc_ids: list[str]) -> set[int]:
        with self.lock:
            return store.passage_rowids_for_documents(self.conn, doc_ids)

    def sources(self) -> list[tuple[str, int]]:
        with self.lock:
            return store.sources(self.conn)

    def titles_by_source(self, sources: Collection[str]) -> list[tuple[str, str]]:
        with self.lock:
            return store.list_documents(self.conn, sources)

    def titles(self) -> list[tuple[str, str]]:
        with self.lock:
            return store.list_documents(self.conn)

    def require_model(self, model: str) -> None:
        """Refuse to search with another model than the one the vectors came from."""
        if self.manifest.model != model:
            raise IndexMismatchError(
                f"the index at {self.root} was built with the embedding model "
                f"{self.manifest.model!r}, but this medcite uses {model!r}. "
                "Re-ingest into a new index directory."
            )

    def close(self) -> None:
        self.conn.close()


def open_index(root: Path, model: str | None = None) -> Index:
    """Load the current generation after checking its manifest and checksums.

    ``model`` is the embedder's name; an index built with another model is refused."""
    directory, manifest = layout.open_generation(root)
    try:
        conn = store.connect(directory / layout.STORE_FILE, readonly=True)
        conn.execute("SELECT count(*) FROM passages").fetchone()
        vector_index = vectors.load(directory / layout.VECTORS_FILE)
    except (sqlite3.DatabaseError, RuntimeError) as exc:
        raise IndexCorruptError(f"the index at {directory} cannot be read: {exc}") from exc
    if vector_index.d != manifest.dim:
        raise IndexMismatchError(
            f"{directory / layout.VECTORS_FILE} has dimension {vector_index.d}, "
            f"the manifest says {manifest.dim}"
        )
    index = Index(root, directory, manifest, conn, vector_index, threading.Lock())
    if model is not None:
        index.require_model(model)
    return index
