"""Ingest: read files, chunk them, embed what is new, and commit a new index generation."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from medcite.index import layout, store, vectors
from medcite.index.embedder import Embedder
from medcite.index.errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    InputError,
)
from medcite.index.types import Document, Passage, VectorIndexKind
from medcite.ingest.chunk import DEFAULT_MAX_WORDS, chunk_document, embedding_text
from medcite.ingest.readers import ReadReport, Skipped, file_id, read_paths

EMBED_BATCH = 64

# (stage, done, total): stage "passages", then "sentences" (see ``_embed_sentences``).
Progress = Callable[[str, int, int], None]


class Executor(Protocol):
    """Who does the heavy parts of an ingest: reading files, chunking documents, embedding
    passage text. ``LocalExecutor`` does them in this process; ``ray_executor.RayExecutor``
    on a Ray cluster. The rest (checksums, the store, the switch to the new generation) stays
    in the calling process, so both give the same index."""

    def read(self, paths: Sequence[Path], max_bytes: int) -> ReadReport: ...

    def chunk(self, documents: Sequence[Document], max_words: int) -> list[list[Passage]]: ...

    def embed(self, texts: Sequence[str]) -> Iterator[tuple[list[int], np.ndarray]]:
        """(positions in ``texts``, their vectors), batch by batch, in any order."""
        ...


@dataclass(frozen=True)
class LocalExecutor:
    embedder: Embedder

    def read(self, paths: Sequence[Path], max_bytes: int) -> ReadReport:
        return read_paths(list(paths), max_bytes=max_bytes)

    def chunk(self, documents: Sequence[Document], max_words: int) -> list[list[Passage]]:
        return [chunk_document(document, max_words) for document in documents]

    def embed(self, texts: Sequence[str]) -> Iterator[tuple[list[int], np.ndarray]]:
        for i in range(0, len(texts), EMBED_BATCH):
            positions = list(range(i, min(i + EMBED_BATCH, len(texts))))
            yield positions, self.embedder.embed([texts[j] for j in positions])


@dataclass(frozen=True)
class IngestReport:
    generation: int
    index_dir: str
    documents_read: int
    added: int
    updated: int
    unchanged: int
    removed: int
    documents_total: int
    passages_total: int
    passages_embedded: int
    labels_embedded: int
    embed_seconds: float
    seconds: float
    skipped: tuple[Skipped, ...]
    # Stored documents re-chunked because --max-words differs from the one they were chunked at.
    rechunked: int = 0
    # Why this run did not build on the current generation ("" when it did).
    recovered: str = ""
    # Passage sentences and titles embedded for choosing quotes (text embedded before is not).
    sentences_embedded: int = 0
    sentence_seconds: float = 0.0

    @property
    def passages_per_second(self) -> float:
        return self.passages_embedded / self.embed_seconds if self.embed_seconds else 0.0


def ingest(
    paths: Sequence[Path],
    index_dir: Path,
    embedder: Embedder,
    *,
    max_words: int = DEFAULT_MAX_WORDS,
    prune: bool = False,
    vector_index: str = VectorIndexKind.AUTO,
    max_bytes: int = 20_000_000,
    progress: Progress | None = None,
    reencode: bool = False,
    executor: Executor | None = None,
) -> IngestReport:
    """Read ``paths`` into a new generation of the index at ``index_dir`` and switch to it.

    An index is embedded by one model (its manifest names it) and another embedder is refused,
    unless ``reencode``: then every stored passage is embedded again by ``embedder`` (``paths``
    may be empty) and the new generation names the new model.

    Unchanged documents (same content checksum) keep their passages and vectors; changed ones
    are re-chunked, and only passage text never embedded before is sent to the model. A
    ``max_words`` other than the stored one re-chunks every stored document. When the current
    generation fails its checks, the new one is built on the newest intact generation (or on the
    files alone when none is) and the report says so; the failed one is left as it is.

    ``executor`` reads, chunks and embeds (``LocalExecutor(embedder)`` by default); the
    ``embedder`` still names the model and embeds the few section labels."""
    started = time.perf_counter()
    executor = executor or LocalExecutor(embedder)
    report = executor.read(list(paths), max_bytes)
    if not report.documents and not (reencode and not paths):
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in report.skipped[:5]) or "no files found"
        raise InputError(f"nothing could be read from {', '.join(map(str, paths))} ({reasons})")
    documents = list(report.documents)

    with layout.writer_lock(index_dir):
        layout.remove_staging_dirs(index_dir)
        previous, old_manifest, recovered = _base_generation(index_dir)
        if reencode and old_manifest is None:
            raise IndexMissingError(f"there is no index at {index_dir} to re-encode")
        if (
            old_manifest is not None
            and not reencode
            and (old_manifest.model != embedder.name or old_manifest.dim != embedder.dim)
        ):
            raise IndexMismatchError(
                f"the index at {index_dir} was built with {old_manifest.model!r}; this run "
                f"embeds with {embedder.name!r}. Re-encode it first (`medcite reencode "
                f"--embedder ...`), or use a new --index directory."
            )
        # Re-chunking stores every passage again under the embedder's vector keys, so a
        # re-encode is a re-chunk with the new model.
        rechunk = old_manifest is not None and (old_manifest.max_words != max_words or reencode)
        number = layout.next_generation_number(index_dir)
        staging = layout.new_staging_dir(index_dir, number)
        store_path = staging / layout.STORE_FILE
        if previous is not None:
            store.copy_store(previous / layout.STORE_FILE, store_path)
        conn = store.connect(store_path)
        embedded, embed_seconds, labels_embedded = 0, 0.0, 0
        sentences_embedded, sentence_seconds = 0, 0.0
        try:
            with conn:
                changes = _apply_documents(
                    conn, documents, embedder.name, max_words, rechunk, executor
                )
                if prune:
                    changes = replace(changes, removed=_prune(conn, documents))
                if rechunk:
                    read_ids = {d.id for d in documents}
                    rechunked = _rechunk_stored(conn, embedder.name, max_words, read_ids, executor)
                    changes = replace(changes, rechunked=changes.rechunked + rechunked)
            labels = {key: text for _, key, text in store.passage_labels(conn, embedder.name)}
            missing_labels = labels.keys() - store.label_keys(conn)
            stale = changes.any() or bool(missing_labels) or not store.has_words(conn)
            # A recovered index always gets a new generation: CURRENT must leave the bad one.
            stale = stale or bool(recovered)
            if not stale and not store.has_sentence_vectors(conn):
                # An index from before sentence vectors gets them on its next ingest, if it has
                # any document (every title is a quote text). A committed generation that has
                # them has them all: they are embedded before it is committed, so an unchanged
                # one need not hash every sentence again.
                stale = store.counts(conn)["documents"] > 0
            if previous is None or stale:
                with conn:
                    store.rebuild_words(conn)
                embed_started = time.perf_counter()
                embedded = _embed_missing(conn, executor, progress)
                embed_seconds = time.perf_counter() - embed_started
                labels_embedded = _embed_labels(conn, embedder, labels, missing_labels)
                sentence_started = time.perf_counter()
                sentences = store.quote_texts(conn, embedder.name)
                missing_sentences = sentences.keys() - store.sentence_keys(conn)
                sentences_embedded = _embed_sentences(
                    conn, executor, sentences, missing_sentences, progress
                )
                sentence_seconds = time.perf_counter() - sentence_started
                ids, matrix = store.all_vectors(conn, embedder.dim)
                kind = _vector_kind(vector_index, len(ids))
                vectors.save(vectors.build(matrix, ids, kind), staging / layout.VECTORS_FILE)
            totals = store.counts(conn)
        finally:
            conn.close()
        if previous is not None and not stale:
            # Nothing changed: keep serving the current generation, write nothing new.
            layout.remove_staging_dirs(index_dir)
            generation = int(previous.name[4:])
        else:
            manifest = layout.Manifest(
                generation=number,
                model=embedder.name,
                dim=embedder.dim,
                documents=totals["documents"],
                passages=totals["passages"],
                vector_index=kind,
                max_words=max_words,
                created=layout.now_iso(),
                files=tuple(
                    (name, *layout.file_digest(staging / name))
                    for name in (layout.STORE_FILE, layout.VECTORS_FILE)
                ),
            )
            if previous is not None:
                _carry_policy(previous, staging)
            layout.commit_generation(index_dir, staging, manifest)
            generation = number

    return IngestReport(
        generation=generation,
        index_dir=str(index_dir),
        documents_read=len(documents),
        added=changes.added,
        updated=changes.updated,
        unchanged=changes.unchanged,
        removed=changes.removed,
        documents_total=totals["documents"],
        passages_total=totals["passages"],
        passages_embedded=embedded,
        labels_embedded=labels_embedded,
        embed_seconds=embed_seconds,
        seconds=time.perf_counter() - started,
        skipped=report.skipped,
        rechunked=changes.rechunked,
        recovered=recovered,
        sentences_embedded=sentences_embedded,
        sentence_seconds=sentence_seconds,
    )


def _base_generation(index_dir: Path) -> tuple[Path | None, layout.Manifest | None, str]:
    """The generation to build on and its manifest, with why it is not the current one.

    The current generation when it passes its checks; otherwise the newest generation that does,
    or none (build on the files alone). The failed generation is not touched: it stays on disk
    until a generation built after it is served and the usual clean-up removes it."""
    try:
        directory, manifest = layout.open_generation(index_dir)
    except IndexMissingError:
        return None, None, ""
    except IndexCorruptError as exc:
        # The cause says what failed, without the advice to re-run ingest: this is that run.
        problem = str(exc.__cause__ if isinstance(exc.__cause__, IndexCorruptError) else exc)
    else:
        return directory, manifest, ""
    for check in layout.check_generations(index_dir):
        if check.intact and not check.current and check.manifest is not None:
            return (
                check.directory,
                check.manifest,
                f"the current generation failed its checks ({problem}); built on "
                f"{check.name}, the newest intact generation",
            )
    return (
        None,
        None,
        f"the current generation failed its checks ({problem}); no generation is intact, so "
        "the index was rebuilt from the files read in this run",
    )


def _carry_policy(previous: Path, staging: Path) -> None:
    """Copy the abstention policy `medcite calibrate` fitted for the previous generation into
    the new one (committed, and fsynced, with it), so a re-ingest keeps the calibration."""
    source = layout.policy_path(previous)
    if source.is_file():
        shutil.copyfile(source, layout.policy_path(staging))


@dataclass(frozen=True)
class Changes:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rechunked: int = 0

    def any(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rechunked)


def _vector_kind(requested: str, size: int) -> str:
    if requested == VectorIndexKind.HNSW or (
        requested == VectorIndexKind.AUTO and size >= vectors.HNSW_THRESHOLD
    ):
        return VectorIndexKind.HNSW
    return VectorIndexKind.FLAT


def _apply_documents(
    conn: sqlite3.Connection,
    documents: list[Document],
    model: str,
    max_words: int,
    rechunk: bool,
    executor: Executor,
) -> Changes:
    """Store new and changed documents; with ``rechunk``, unchanged ones are chunked again."""
    states = store.document_states(conn)
    added = updated = unchanged = rechunked = 0
    to_store: list[Document] = []
    for document in documents:
        state = states.get(document.id)
        if state is not None and state[0] == document.checksum:
            unchanged += 1
            if not rechunk:
                continue
            rechunked += 1
        elif state is not None:
            updated += 1
        else:
            added += 1
        to_store.append(document)
    for document, passages in zip(to_store, executor.chunk(to_store, max_words), strict=True):
        replace_stored = document.id in states
        _store_document(conn, document, _origin(document), passages, model, replace_stored)
    return Changes(added=added, updated=updated, unchanged=unchanged, rechunked=rechunked)


def _rechunk_stored(
    conn: sqlite3.Connection, model: str, max_words: int, skip: set[str], executor: Executor
) -> int:
    """Chunk every stored document not in ``skip`` again at ``max_words``, so the manifest's
    max_words describes every stored passage; returns how many were chunked."""
    stored = [
        (document, origin)
        for doc_id, (_, origin) in store.document_states(conn).items()
        if doc_id not in skip and (document := store.get_document(conn, doc_id)) is not None
    ]
    chunks = executor.chunk([document for document, _ in stored], max_words)
    for (document, origin), passages in zip(stored, chunks, strict=True):
        _store_document(conn, document, origin, passages, model, True)
    return len(stored)


def _store_document(
    conn: sqlite3.Connection,
    document: Document,
    origin: str,
    passages: Sequence[Passage],
    model: str,
    replace_stored: bool,
) -> None:
    """Store ``document`` and its ``passages``; passage text embedded before keeps its
    vector."""
    keys = [
        store.vector_key(model, embedding_text(document.title, p.heading, p.text)) for p in passages
    ]
    known = store.vectors_for_keys(conn, keys)
    if replace_stored:
        store.delete_document(conn, document.id)
    store.insert_document(conn, document, origin, passages, keys, known)


def _origin(document: Document) -> str:
    """The file ``document`` was read from, resolved as file ids are, so that the same file has
    the same origin whatever the working directory."""
    path = document.meta().get("path", "")
    return str(Path(path).resolve()) if path else ""


def _prune(conn: sqlite3.Connection, documents: list[Document]) -> int:
    """Remove documents whose file is gone, or that a re-read file no longer contains."""
    read_ids = {d.id for d in documents}
    read_origins = {_origin(d) for d in documents}
    removed = 0
    for doc_id, (_, stored) in store.document_states(conn).items():
        origin = _resolved_origin(doc_id, stored)
        if doc_id in read_ids or not origin:
            continue
        if origin in read_origins or not Path(origin).exists():
            store.delete_document(conn, doc_id)
            removed += 1
    return removed


def _resolved_origin(doc_id: str, origin: str) -> str:
    """A stored origin as an absolute path, or "" when it cannot be known.

    Older indexes stored the path as typed, relative to a working directory nobody recorded.
    Such a path is trusted only when it provably names the document's file (a file document's
    id comes from its resolved path); otherwise the document is kept, never pruned by guess."""
    if not origin or Path(origin).is_absolute():
        return origin
    resolved = Path(origin).resolve()
    return str(resolved) if doc_id == file_id(resolved) else ""


def _embed_labels(
    conn: sqlite3.Connection, embedder: Embedder, wanted: dict[str, str], missing: set[str]
) -> int:
    """Embed the ``missing`` section labels ("Title — Heading") and drop those no longer
    ``wanted``; returns how many were embedded."""
    todo = sorted((key, wanted[key]) for key in missing)
    new: dict[str, bytes] = {}
    for i in range(0, len(todo), EMBED_BATCH):
        batch = todo[i : i + EMBED_BATCH]
        matrix = embedder.embed([text for _, text in batch])
        new.update((key, matrix[j].astype("float32").tobytes()) for j, (key, _) in enumerate(batch))
    with conn:
        store.replace_labels(conn, set(wanted), new)
    return len(todo)


def _embed_sentences(
    conn: sqlite3.Connection,
    executor: Executor,
    wanted: dict[str, str],
    missing: set[str],
    progress: Progress | None,
) -> int:
    """Embed the ``missing`` passage sentences and titles, so that choosing a quote costs no
    model run, and drop those no longer ``wanted``; returns how many were embedded."""
    todo = sorted(missing, key=lambda key: len(wanted[key]))  # less padding per batch

    def save(positions: list[int], matrix: np.ndarray) -> None:
        store.add_sentence_vectors(conn, [todo[i] for i in positions], matrix)

    if todo:
        _embed_all(conn, executor, [wanted[key] for key in todo], save, "sentences", progress)
    with conn:
        store.drop_sentence_vectors(conn, set(wanted))
    return len(todo)


def _embed_missing(conn: sqlite3.Connection, executor: Executor, progress: Progress | None) -> int:
    pending = store.passages_without_vectors(conn)
    # Similar lengths in a batch waste less padding.
    pending.sort(key=lambda row: len(row[3]) + len(row[1]) + len(row[2]))

    def save(positions: list[int], matrix: np.ndarray) -> None:
        store.set_vectors(conn, [pending[i][0] for i in positions], matrix)

    texts = [embedding_text(t, h, body) for _, t, h, body in pending]
    return _embed_all(conn, executor, texts, save, "passages", progress)


def _embed_all(
    conn: sqlite3.Connection,
    executor: Executor,
    texts: list[str],
    save: Callable[[list[int], np.ndarray], None],
    stage: str,
    progress: Progress | None,
) -> int:
    """Embed ``texts`` batch by batch, each batch saved (``save(positions, vectors)``) in its
    own transaction, with ``progress`` reported as ``stage``; returns how many."""
    total = len(texts)
    if progress:
        progress(stage, 0, total)
    done = 0
    for positions, matrix in executor.embed(texts):
        with conn:
            save(positions, matrix)
        done += len(positions)
        if progress:
            progress(stage, done, total)
    if done != total:
        raise IndexCorruptError(f"{total - done} of {total} {stage} came back without a vector")
    return total
