"""Opening a committed index for searching, and holding the one being served."""

from __future__ import annotations

import contextlib
import math
import queue
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from medcite.index import layout, store, vectors
from medcite.index.errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    MedciteError,
)
from medcite.index.naming import Names, names_of
from medcite.index.signoffs import TAIL_CHARS, sign_offs
from medcite.index.spelling import Speller, everyday_words
from medcite.index.text import STOPWORDS, stem, words
from medcite.index.types import Document, Hit, Passage

# A word in more than this share of the passages, and in more than COMMON_MIN of them, is
# left out of the full-text query (in a small index no word costs much).
COMMON_SHARE = 0.08
COMMON_MIN = 500
# The longest title ``names_an_article`` looks for, in words.
TITLE_WORDS = 6
# A filtered vector search restricts FAISS to the filter's passages when there are at most
# SELECTOR_MAX of them (reading their rowids costs little). More are common enough among the
# nearest passages that a search OVERSAMPLE times deeper than their share asks for finds them.
SELECTOR_MAX = 20_000
OVERSAMPLE = 2


class Index:
    """A loaded generation, read-only, whichever store holds it (``EmbeddedIndex``: SQLite +
    FAISS on local disk; ``medcite.index.milvus.MilvusIndex``: a Milvus collection).

    What retrieval and answering need of a store, and the parts that only depend on the
    manifest and the vocabulary (idf weights, spelling, which query words are too common to
    search for). Subclasses set ``root``, ``directory`` (the generation's local directory, or
    None), ``manifest`` and ``vocabulary``, and ``_stem_df``, ``_speller``,
    ``_title_phrases``, ``_names`` and ``_sign_offs`` to None."""

    root: Path | str
    directory: Path | None
    manifest: layout.Manifest
    vocabulary: dict[str, int]  # word -> number of passages it occurs in
    _stem_df: dict[str, int] | None
    _speller: Speller | None
    _title_phrases: frozenset[str] | None
    _names: Names | None
    _sign_offs: frozenset[str] | None

    @property
    def speller(self) -> Speller:
        """Spelling correction against this index's vocabulary (built on first use)."""
        if self._speller is None:
            names = {word for phrase in self.title_phrases for word in phrase.split()}
            self._speller = Speller(self.vocabulary, everyday_words(), names)
        return self._speller

    @property
    def title_phrases(self) -> frozenset[str]:
        """Every article title as its lower-case words joined by spaces ("h1n1 flu swine
        flu"), read from the store once: the speller's names and ``names_an_article``."""
        if self._title_phrases is None:
            self._title_phrases = frozenset(" ".join(words(t)) for _, t in self.titles())
        return self._title_phrases

    @property
    def names(self) -> Names:
        """The articles' titles and synonyms as ``medcite.index.naming`` looks them up, read
        from the store once."""
        if self._names is None:
            self._names = names_of(self.article_names(), everyday_words())
        return self._names

    def article_names(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(id, title, synonyms) of every document."""
        raise NotImplementedError

    @property
    def sign_offs(self) -> frozenset[str]:
        """The lines that end many articles and say who published them, never quoted
        (``medcite.index.signoffs``), read from the store once."""
        if self._sign_offs is None:
            self._sign_offs = sign_offs(self.document_tails(TAIL_CHARS))
        return self._sign_offs

    def document_tails(self, chars: int) -> list[str]:
        """The last ``chars`` characters of every document. This reads each document whole; a
        store that can read their ends alone does so."""
        documents = (self.document(doc_id) for doc_id, _ in self.titles())
        return [document.text[-chars:] for document in documents if document is not None]

    def names_an_article(self, text: str) -> bool:
        """Whether ``text`` names an article by its whole title ("croup", "type 2 diabetes"):
        a message that does is about that, not about the conversation's last topic, though it
        says "that" ("a cough that sounds like a seal barking, doc said croup")."""
        tokens = words(text)
        return any(
            " ".join(tokens[i:j]) in self.title_phrases
            for i in range(len(tokens))
            for j in range(i + 1, min(i + TITLE_WORDS, len(tokens)) + 1)
        )

    def idf(self, term: str) -> float:
        """Smoothed inverse passage frequency of a stemmed term (unknown terms weigh most).

        A stem's frequency is that of its most frequent word form, a close lower bound."""
        if self._stem_df is None:
            stem_df: dict[str, int] = {}
            for word, df in self.vocabulary.items():
                key = stem(word)
                stem_df[key] = max(stem_df.get(key, 0), df)
            self._stem_df = stem_df
        n = max(self.manifest.passages, 1)
        return math.log((n + 1) / (self._stem_df.get(term, 0) + 0.5))

    @property
    def generation(self) -> int:
        return self.manifest.generation

    def telling_words(self, text: str) -> str:
        """The words of ``text`` a full-text search should look for: those that are not common
        (see ``COMMON_SHARE``), or ``text`` itself when none are left. A common word
        ("symptoms", "treatment") barely moves BM25 but makes the search score every passage
        that has it: left out, full-corpus search takes half the time, with the same dev-set
        MRR@10."""
        limit = max(COMMON_SHARE * self.manifest.passages, COMMON_MIN)
        telling = [
            w for w in words(text) if w not in STOPWORDS and self.vocabulary.get(w, 0) <= limit
        ]
        return " ".join(telling) if telling else text

    def require_model(self, model: str) -> None:
        """Refuse to search with another model than the one the vectors came from."""
        if self.manifest.model != model:
            raise IndexMismatchError(
                f"the index at {self.root} was built with the embedding model "
                f"{self.manifest.model!r}, but this medcite uses {model!r}. "
                "Use --embedder auto (the default), or `medcite reencode --embedder ...`."
            )

    # --- what each store provides ---------------------------------------------------

    def document(self, doc_id: str) -> Document | None:
        raise NotImplementedError

    def dense(
        self,
        query_vector: np.ndarray,
        k: int,
        *,
        sources: Collection[str] = (),
        doc_ids: Collection[str] = (),
    ) -> list[tuple[int, float]]:
        """The top ``k`` (rowid, cosine) among the passages of ``sources`` and ``doc_ids``
        (an empty one keeps all)."""
        raise NotImplementedError

    def dense_scores(self, query_vector: np.ndarray, rowids: list[int]) -> np.ndarray:
        """Exact cosine of the query to each passage (for passages found by other means)."""
        raise NotImplementedError

    def label_scores(self, query_vector: np.ndarray, rowids: list[int]) -> np.ndarray:
        """Cosine of the query to each passage's section label ("Glaucoma — Treatment"), 0
        for a passage without one."""
        raise NotImplementedError

    @property
    def stores_sentences(self) -> bool:
        """Whether ingest stored a vector for every passage sentence and document title."""
        return False

    def stored_vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """text -> the vector ingest stored for it, for passage sentences and document titles
        (the texts quotes are scored on); a text without one is left out. A store that keeps
        none returns {}, and quotes embed what they need at question time."""
        if not self.stores_sentences:
            return {}
        keys = {store.vector_key(self.manifest.model, text): text for text in texts}
        return {keys[key]: vector for key, vector in self.sentence_vectors(keys).items()}

    def sentence_vectors(self, keys: Collection[str]) -> dict[str, np.ndarray]:
        """The stored sentence vectors of ``keys`` (``store.vector_key``) that exist."""
        return {}

    def lexical(
        self,
        text: str,
        k: int,
        *,
        sources: Collection[str] = (),
        doc_ids: Collection[str] = (),
    ) -> list[tuple[int, float]]:
        """BM25 top ``k`` (rowid, score; higher is better) for the ``telling_words`` of
        ``text``, among the passages of ``sources`` and ``doc_ids``."""
        raise NotImplementedError

    def hits(
        self,
        scored: list[tuple[int, float]],
        signals: dict[int, tuple[tuple[str, float], ...]] | None = None,
    ) -> list[Hit]:
        """Hits for (rowid, score) pairs, in the given order."""
        found = self.passages([rowid for rowid, _ in scored])
        out = []
        for rowid, score in scored:
            if rowid in found:
                passage, title, url, source = found[rowid]
                hit_signals = (signals or {}).get(rowid, ())
                out.append(Hit(passage, score, title, url, source, hit_signals))
        return out

    def passages(self, rowids: list[int]) -> dict[int, tuple[Passage, str, str, str]]:
        """rowid -> (passage, its document's title, URL and source), for those that exist."""
        raise NotImplementedError

    def rowids_for_documents(self, doc_ids: list[str]) -> set[int]:
        raise NotImplementedError

    def sources(self) -> list[tuple[str, int]]:
        """(source, number of documents), by source."""
        raise NotImplementedError

    def titles_by_source(self, sources: Collection[str]) -> list[tuple[str, str]]:
        """(id, title) of the documents of ``sources``, by title."""
        raise NotImplementedError

    def titles(self) -> list[tuple[str, str]]:
        """(id, title) of every document, by title."""
        raise NotImplementedError

    def own_policy(self) -> str | None:
        """The abstention policy (JSON text) `medcite calibrate` stored in the store itself;
        None when it has none, or keeps it as a file in ``directory``."""
        return None

    def close(self) -> None:
        raise NotImplementedError


@dataclass
class EmbeddedIndex(Index):
    """A generation on local disk: the SQLite store and the FAISS index.

    Safe to share between threads: each read borrows one of a few SQLite connections opened
    at load time (the generation never changes, so they need no locking), and FAISS searches
    are read-only. Opening them up front matters: a later ingest may delete this generation's
    files while requests still use it, and an open connection keeps reading them."""

    root: Path
    directory: Path
    manifest: layout.Manifest
    vector_index: faiss.Index
    labels: np.ndarray  # one "Title — Heading" vector per distinct section label
    label_of: dict[int, int]  # passage rowid -> row of ``labels``
    vocabulary: dict[str, int]
    # An index built before sentence vectors has none (its next ingest adds them).
    sentences_stored: bool = False
    _stem_df: dict[str, int] | None = None
    _speller: Speller | None = None
    _title_phrases: frozenset[str] | None = None
    _names: Names | None = None
    _sign_offs: frozenset[str] | None = None
    _pool: queue.Queue[sqlite3.Connection] = field(default_factory=queue.Queue)
    _opened: list[sqlite3.Connection] = field(default_factory=list)

    def open_connections(self, count: int) -> None:
        for _ in range(count):
            conn = store.connect(self.directory / layout.STORE_FILE, readonly=True)
            conn.execute("SELECT count(*) FROM documents").fetchone()  # opens the file now
            self._opened.append(conn)
            self._pool.put(conn)

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection to the store, for this block only."""
        conn = self._pool.get()
        try:
            yield conn
        finally:
            self._pool.put(conn)

    def document(self, doc_id: str) -> Document | None:
        with self.connection() as conn:
            return store.get_document(conn, doc_id)

    def dense(
        self,
        query_vector: np.ndarray,
        k: int,
        *,
        sources: Collection[str] = (),
        doc_ids: Collection[str] = (),
    ) -> list[tuple[int, float]]:
        """Costs about what an unfiltered search costs, whatever the filter's size: a small
        filter restricts FAISS to its passages, a large one is common enough among the nearest
        passages that a deeper search finds ``k`` of them."""
        if not sources and not doc_ids:
            return vectors.search(self.vector_index, query_vector, k)
        with self.connection() as conn:
            size = store.count_filtered(conn, sources, doc_ids)
            if size == 0:
                return []
            if size <= SELECTOR_MAX:
                allowed = store.filtered_rowids(conn, sources, doc_ids)
                return vectors.search_among(self.vector_index, query_vector, k, allowed)
            return self._dense_deeper(conn, query_vector, k, sources, doc_ids, size)

    def _dense_deeper(
        self,
        conn: sqlite3.Connection,
        query_vector: np.ndarray,
        k: int,
        sources: Collection[str],
        doc_ids: Collection[str],
        size: int,
    ) -> list[tuple[int, float]]:
        """Search deep enough that ``k`` of the filter's ``size`` passages are expected among
        the results, keep those, and search deeper only if too few were there."""
        total = self.vector_index.ntotal
        depth = min(total, OVERSAMPLE * k * math.ceil(total / size))
        while True:
            found = vectors.search(self.vector_index, query_vector, depth)
            keep = store.keep_filtered(conn, [r for r, _ in found], sources, doc_ids)
            kept = [pair for pair in found if pair[0] in keep]
            if len(kept) >= k or depth >= total:
                return kept[:k]
            depth = min(total, depth * 4)

    def dense_scores(self, query_vector: np.ndarray, rowids: list[int]) -> np.ndarray:
        """Exact cosine of the query to each passage (for passages found by other means)."""
        if not rowids:
            return np.zeros(0, dtype=np.float32)
        stored = np.vstack([self.vector_index.reconstruct(int(r)) for r in rowids])
        return stored @ query_vector

    def label_scores(self, query_vector: np.ndarray, rowids: list[int]) -> np.ndarray:
        """Cosine of the query to each passage's section label ("Glaucoma — Treatment")."""
        rows = [self.label_of.get(r, -1) for r in rowids]
        if not rows or not len(self.labels):
            return np.zeros(len(rowids), dtype=np.float32)
        scores = self.labels[[max(r, 0) for r in rows]] @ query_vector
        return np.where(np.array(rows) >= 0, scores, 0.0).astype(np.float32)

    @property
    def stores_sentences(self) -> bool:
        return self.sentences_stored

    def sentence_vectors(self, keys: Collection[str]) -> dict[str, np.ndarray]:
        with self.connection() as conn:
            return store.sentence_vectors(conn, keys)

    def lexical(
        self,
        text: str,
        k: int,
        *,
        sources: Collection[str] = (),
        doc_ids: Collection[str] = (),
    ) -> list[tuple[int, float]]:
        query = self.telling_words(text)
        with self.connection() as conn:
            return store.lexical_search(conn, query, k, sources=sources, doc_ids=doc_ids)

    def passages(self, rowids: list[int]) -> dict[int, tuple[Passage, str, str, str]]:
        with self.connection() as conn:
            found = store.get_passages(conn, rowids)
        return {
            rowid: (passage, row["title"], row["url"], row["source"])
            for rowid, (passage, row) in found.items()
        }

    def rowids_for_documents(self, doc_ids: list[str]) -> set[int]:
        with self.connection() as conn:
            return store.passage_rowids_for_documents(conn, doc_ids)

    def sources(self) -> list[tuple[str, int]]:
        with self.connection() as conn:
            return store.sources(conn)

    def titles_by_source(self, sources: Collection[str]) -> list[tuple[str, str]]:
        with self.connection() as conn:
            return store.list_documents(conn, sources)

    def titles(self) -> list[tuple[str, str]]:
        with self.connection() as conn:
            return store.list_documents(conn)

    def article_names(self) -> list[tuple[str, str, tuple[str, ...]]]:
        with self.connection() as conn:
            return store.article_names(conn)

    def document_tails(self, chars: int) -> list[str]:
        with self.connection() as conn:
            return store.document_tails(conn, chars)

    def close(self) -> None:
        for conn in self._opened:
            conn.close()
        self._opened.clear()


# SQLite connections per loaded index: more than the threads that search at once on 2 cores.
READERS = 8


def open_index(root: Path, model: str | None = None) -> EmbeddedIndex:
    """Load the current generation after checking its manifest and checksums.

    ``model`` is the embedder's name; an index built with another model is refused."""
    directory, manifest = layout.open_generation(root)
    conn = None
    try:
        conn = store.connect(directory / layout.STORE_FILE, readonly=True)
        conn.execute("SELECT count(*) FROM passages").fetchone()
        vector_index = vectors.load(directory / layout.VECTORS_FILE)
        if vector_index.d != manifest.dim:
            raise IndexMismatchError(
                f"{directory / layout.VECTORS_FILE} has dimension {vector_index.d}, "
                f"the manifest says {manifest.dim}"
            )
        keys, labels = store.label_vectors(conn)
        row_of_key = {key: row for row, key in enumerate(keys)}
        label_of = {
            rowid: row_of_key[key]
            for rowid, key, _ in store.passage_labels(conn, manifest.model)
            if key in row_of_key
        }
        vocabulary = store.word_frequencies(conn)
        sentences_stored = store.has_sentence_vectors(conn)
    except (sqlite3.DatabaseError, RuntimeError) as exc:
        raise IndexCorruptError(f"the index at {directory} cannot be read: {exc}") from exc
    finally:
        if conn is not None:
            conn.close()
    index = EmbeddedIndex(
        root, directory, manifest, vector_index, labels, label_of, vocabulary, sentences_stored
    )
    index.open_connections(READERS)
    if model is not None:
        index.require_model(model)
    return index


class IndexHolder:
    """The generation being served, swapped atomically by ``reload``.

    A request takes the current ``Index`` once and keeps using that object, so a reload never
    changes the index under a request in flight; the old one is closed by garbage collection
    when its last request lets go of it."""

    def __init__(
        self,
        root: Path,
        model: str,
        opener: Callable[[Path, str | None], Index] = open_index,
    ) -> None:
        """``opener(root, model)`` opens the current generation (``stores.opener`` makes
        one for a store other than the embedded one)."""
        self.root = root
        self.model = model
        self._open = opener
        self._index: Index | None = None
        self._error: MedciteError | None = IndexMissingError("the index has not been opened yet")
        self._reload_lock = threading.Lock()

    def current(self) -> Index:
        """The index being served; raises the reason when there is none."""
        index = self._index
        if index is None:
            raise self._error or IndexMissingError("the index is not loaded")
        return index

    @property
    def error(self) -> MedciteError | None:
        return None if self._index is not None else self._error

    def load(self) -> None:
        """Open the index at start-up; a failure is remembered and reported, not raised."""
        try:
            self.reload()
        except MedciteError as exc:
            self._error = exc

    def reload(self) -> tuple[Index, Index | None]:
        """Open the current generation and swap it in; returns (new, old). If opening fails,
        the index being served stays as it is and the error is raised."""
        with self._reload_lock:
            new = self._open(self.root, self.model)
            old, self._index = self._index, new
            self._error = None
            return new, old
