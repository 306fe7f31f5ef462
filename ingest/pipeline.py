"""Ingest: read files, chunk them, embed what is new, and commit a new index generation."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from medcite.index import layout, store, vectors
from medcite.index.embedder import Embedder
from medcite.index.errors import IndexMismatchError, InputError
from medcite.index.types import Document
from medcite.ingest.chunk import DEFAULT_MAX_WORDS, chunk_document, embedding_text
from medcite.ingest.readers import Skipped, read_paths

EMBED_BATCH = 64

Progress = Callable[[int, int], None]


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
    vector_index: str = "auto",
    max_bytes: int = 20_000_000,
    progress: Progress | None = None,
) -> IngestReport:
    """Read ``paths`` into a new generation of the index at ``index_dir`` and switch to it.

    Unchanged documents (same content checksum) keep their passages and vectors; changed ones
    are re-chunked, and only passage text never embedded before is sent to the model."""
    started = time.perf_counter()
    report = read_paths(list(paths), max_bytes=max_bytes)
    if not report.documents:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in report.skipped[:5]) or "no files found"
        raise InputError(f"nothing could be read from {', '.join(map(str, paths))} ({reasons})")
    documents = list(report.documents)

    with layout.writer_lock(index_dir):
        layout.remove_staging_dirs(index_dir)
        previous = layout.current_generation(index_dir)
        if previous is not None:
            _, old_manifest = layout.open_generation(index_dir)
            if old_manifest.model != embedder.name or old_manifest.dim != embedder.dim:
                raise IndexMismatchError(
                    f"the index at {index_dir} was built with {old_manifest.model!r}; this run "
                    f"embeds with {embedder.name!r}. Use a new --index directory."
                )
        number = layout.next_generation_number(index_dir)
        staging = layout.new_staging_dir(index_dir, number)
        store_path = staging / layout.STORE_FILE
        if previous is not None:
            store.copy_store(previous / layout.STORE_FILE, store_path)
        conn = store.connect(store_path)
        embedded, embed_seconds, labels_embedded = 0, 0.0, 0
        try:
            with conn:
                changes = _apply_documents(conn, documents, embedder.name, max_words)
                if prune:
                    changes = replace(changes, removed=_prune(conn, documents))
            labels = {key: text for _, key, text in store.passage_labels(conn, embedder.name)}
            missing_labels = labels.keys() - store.label_keys(conn)
            stale = changes.any() or bool(missing_labels) or not store.has_words(conn)
            if previous is None or stale:
                with conn:
                    store.rebuild_words(conn)
                embed_started = time.perf_counter()
                embedded = _embed_missing(conn, embedder, progress)
                embed_seconds = time.perf_counter() - embed_started
                labels_embedded = _embed_labels(conn, embedder, labels, missing_labels)
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
    )


@dataclass(frozen=True)
class Changes:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def any(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def _vector_kind(requested: str, size: int) -> str:
    if requested == "hnsw" or (requested == "auto" and size >= vectors.HNSW_THRESHOLD):
        return "hnsw"
    return "flat"


def _apply_documents(
    conn: sqlite3.Connection, documents: list[Document], model: str, max_words: int
) -> Changes:
    states = store.document_states(conn)
    added = updated = unchanged = 0
    for document in documents:
        state = states.get(document.id)
        if state is not None and state[0] == document.checksum:
            unchanged += 1
            continue
        passages = chunk_document(document, max_words)
        keys = [
            store.vector_key(model, embedding_text(document.title, p.heading, p.text))
            for p in passages
        ]
        known = store.vectors_for_keys(conn, keys)
        if state is not None:
            store.delete_document(conn, document.id)
            updated += 1
        else:
            added += 1
        store.insert_document(
            conn, document, document.meta().get("path", ""), passages, keys, known
        )
    return Changes(added=added, updated=updated, unchanged=unchanged)


def _prune(conn: sqlite3.Connection, documents: list[Document]) -> int:
    """Remove documents whose file is gone, or that a re-read file no longer contains."""
    read_ids = {d.id for d in documents}
    read_origins = {d.meta().get("path", "") for d in documents}
    removed = 0
    for doc_id, (_, origin) in store.document_states(conn).items():
        if doc_id in read_ids or not origin:
            continue
        if origin in read_origins or not Path(origin).exists():
            store.delete_document(conn, doc_id)
            removed += 1
    return removed


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


def _embed_missing(conn: sqlite3.Connection, embedder: Embedder, progress: Progress | None) -> int:
    pending = store.passages_without_vectors(conn)
    # Similar lengths in a batch waste less padding.
    pending.sort(key=lambda row: len(row[3]) + len(row[1]) + len(row[2]))
    total = len(pending)
    if progress:
        progress(0, total)
    for i in range(0, total, EMBED_BATCH):
        batch = pending[i : i + EMBED_BATCH]
        matrix = embedder.embed([embedding_text(t, h, body) for _, t, h, body in batch])
        with conn:
            store.set_vectors(conn, [row[0] for row in batch], matrix)
        if progress:
            progress(min(i + EMBED_BATCH, total), total)
    return total
