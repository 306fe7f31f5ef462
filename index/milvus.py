"""Milvus as the store: the same index in a Milvus collection set, one set per generation.

    NAME                       alias of NAME_g000003_passages: the generation being served
    NAME_g000003_passages      one row per passage: rowid (the embedded store's), passage,
                               document and section ids, offsets, heading, the document's
                               title, URL and source, the passage text (analysed; a BM25
                               function writes the sparse field), the 384-d vector (HNSW,
                               cosine) and the key of its section label
    NAME_g000003_documents     each document's text in parts of at most PART_BYTES, and its
                               other fields (in part 0)
    NAME_g000003_meta          keyed records: the manifest, the vocabulary in parts, the
                               abstention policy, the section-label vectors, and the
                               vectors of every passage sentence and title (for quotes)

A generation is built in the local index directory as always (`medcite ingest` keeps its
checksums, incremental re-embedding and crash safety), then ``publish`` copies it into new
collections, checks their counts, and only then moves the alias: a failed publish leaves the
previous generation serving, and the next ingest publishes again. Web servers need only the
Milvus URI: ``open_milvus_index`` reads everything from the collections.

``uri`` is a Milvus Lite file (``./medcite.db``: in process, one process per file) or a
server (``http://host:19530``); the code is the same. Milvus Lite returns BM25 scores with the
sign flipped, so scores are taken as absolute values.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medcite.index import layout, store
from medcite.index.errors import IndexCorruptError, IndexMissingError, MedciteError
from medcite.index.naming import synonyms_of
from medcite.index.reader import Index
from medcite.index.signoffs import TAIL_CHARS, sign_offs
from medcite.index.types import Document, Passage, Section

# Rows per insert call, and the most rows one query returns.
BATCH = 1000
QUERY_LIMIT = 16_384
# Milvus VARCHAR fields hold at most 65,535 bytes: longer document texts are split in parts.
PART_BYTES = 60_000
TEXT_BYTES = 65_535
# HNSW: graph degree and build depth, and the search depth (at least k).
HNSW_M = 32
HNSW_BUILD = 128
HNSW_SEARCH = 128
GENERATIONS_KEPT = 2
# What is read of each passage a search found: one query reads them all for fusing and citing
# (asking the searches for them costs more, in Milvus Lite); up to ROWS_CACHED are kept.
ROW_FIELDS = [
    "rowid",
    "id",
    "doc_id",
    "section_id",
    "start",
    "end",
    "heading",
    "title",
    "url",
    "source",
    "text",
    "vector",
    "label_key",
]
ROWS_CACHED = 20_000
KINDS = ("passages", "documents", "meta")
# The vocabulary is stored as JSON in parts of about this many characters.
WORDS_PART_CHARS = 50_000


class MilvusError(MedciteError):
    """Milvus could not be reached, or refused an operation."""


def connect(uri: str, token: str = "") -> Any:
    """A ``MilvusClient`` for ``uri`` (a Lite file or a server); a clear error when the
    extra is not installed or the server cannot be reached."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise MilvusError(
            'the Milvus store needs the milvus extra: pip install -e ".[milvus]"'
        ) from exc
    # pymilvus logs every failed call at ERROR level, including the ones we expect.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    # Milvus Lite's in-process server logs calls it does not implement, which pymilvus then
    # does without (AllocTimestamp, for query iterators).
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    # Milvus Lite logs a traceback when it cannot open its file; the error below says why.
    logging.getLogger("milvus_lite").setLevel(logging.CRITICAL)
    try:
        return MilvusClient(uri=uri, token=token)
    except Exception as exc:  # pymilvus raises several kinds; all mean "cannot connect"
        hint = ""
        if "://" not in uri:
            hint = (
                " (a Milvus Lite file can be open in one process only: is a `medcite serve` "
                "using it? Stop it first, or use a Milvus server)"
            )
        raise MilvusError(f"cannot connect to Milvus at {uri}: {_reason(exc)}{hint}") from exc


@contextlib.contextmanager
def _errors(action: str) -> Iterator[None]:
    """Any failure inside as a ``MilvusError`` saying what failed (a medcite error passes)."""
    try:
        yield
    except MedciteError:
        raise
    except Exception as exc:  # pymilvus raises several kinds, grpc errors among them
        raise MilvusError(f"{action} failed in Milvus: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message).splitlines()[0][:300]


def collection_name(name: str, generation: int, kind: str) -> str:
    return f"{name}_g{generation:06d}_{kind}"


def served_generation(client: Any, name: str) -> int | None:
    """The generation the alias ``name`` points at, or None when there is none."""
    try:
        if name not in client.list_aliases().get("aliases", []):
            return None
        target = client.describe_alias(name)["collection_name"]
    except Exception as exc:
        raise MilvusError(f"cannot read the alias {name!r} from Milvus: {_reason(exc)}") from exc
    found = re.fullmatch(rf"{re.escape(name)}_g(\d+)_passages", target)
    if not found:
        raise IndexCorruptError(f"the Milvus alias {name!r} points at {target!r}, not medcite's")
    return int(found.group(1))


# --- writing ----------------------------------------------------------------------------


def _passages_schema(client: Any, dim: int) -> tuple[Any, Any]:
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False)
    schema.add_field("rowid", DataType.INT64, is_primary=True)
    schema.add_field("id", DataType.VARCHAR, max_length=1024)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("section_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("heading", DataType.VARCHAR, max_length=TEXT_BYTES)
    schema.add_field("title", DataType.VARCHAR, max_length=TEXT_BYTES)
    schema.add_field("url", DataType.VARCHAR, max_length=TEXT_BYTES)
    schema.add_field("source", DataType.VARCHAR, max_length=1024)
    schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES)
    # What BM25 reads: the title four times and the heading twice before the text, as the
    # embedded store weighs title, heading and text matches 4, 2 and 1 (store.BM25_WEIGHTS).
    schema.add_field(
        "search_text",
        DataType.VARCHAR,
        max_length=TEXT_BYTES,
        enable_analyzer=True,
        analyzer_params={
            "tokenizer": "standard",
            "filter": ["lowercase", {"type": "stemmer", "language": "english"}],
        },
    )
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("label_key", DataType.VARCHAR, max_length=128)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["search_text"],
            output_field_names=["sparse"],
        )
    )
    index_params = client.prepare_index_params()
    index_params.add_index(
        "vector",
        index_type="HNSW",
        metric_type="COSINE",
        params={"M": HNSW_M, "efConstruction": HNSW_BUILD},
    )
    index_params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return schema, index_params


def _keyed_schema(client: Any, dim: int, text_field: str) -> tuple[Any, Any]:
    """Documents and meta: a string key, JSON fields, and a vector (Milvus wants one in every
    collection; meta uses it for the section-label vectors)."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=2048)
    schema.add_field("group", DataType.VARCHAR, max_length=1024)
    schema.add_field("part", DataType.INT64)
    schema.add_field(text_field, DataType.VARCHAR, max_length=TEXT_BYTES)
    schema.add_field("fields", DataType.JSON)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    index_params = client.prepare_index_params()
    index_params.add_index("vector", index_type="FLAT", metric_type="COSINE")
    return schema, index_params


def split_text(text: str, limit: int = PART_BYTES) -> list[str]:
    """``text`` in consecutive parts of at most ``limit`` UTF-8 bytes each."""
    parts: list[str] = []
    start = 0
    while start < len(text) or not parts:
        end = min(len(text), start + limit)
        while len(text[start:end].encode("utf-8")) > limit:
            end = start + max(1, (end - start) * 3 // 4)
        parts.append(text[start:end])
        start = end
    return parts


def _document_rows(conn: sqlite3.Connection, dim: int) -> Iterator[dict[str, Any]]:
    zero = [0.0] * dim
    for row in conn.execute("SELECT * FROM documents ORDER BY id"):
        fields = {
            name: row[name]
            for name in ("title", "url", "source", "checksum", "origin", "sections", "metadata")
        }
        for number, part in enumerate(split_text(row["text"])):
            yield {
                "key": f"{row['id']}\x1f{number}",
                "group": row["id"],
                "part": number,
                "text": part,
                "fields": fields if number == 0 else {},
                "vector": zero,
            }


def search_text(title: str, heading: str, body: str) -> str:
    """What BM25 reads of a passage (see the ``search_text`` field)."""
    weights = store.BM25_WEIGHTS
    return " ".join([title] * int(weights[0]) + [heading] * int(weights[1]) + [body])


def passage_rows(conn: sqlite3.Connection, model: str) -> Iterator[dict[str, Any]]:
    """The passages collection's rows for the generation open in ``conn``."""
    rows = conn.execute(
        "SELECT p.rowid AS rowid, p.id, p.doc_id, p.section_id, p.start_char, p.end_char,"
        " p.heading, p.vector, d.title, d.url, d.source, substr(d.text, p.start_char + 1,"
        " p.end_char - p.start_char) AS body FROM passages p JOIN documents d ON d.id = p.doc_id"
        " ORDER BY p.rowid"
    )
    labels = {rowid: key for rowid, key, _ in store.passage_labels(conn, model)}
    for row in rows:
        if row["vector"] is None:
            raise IndexCorruptError(f"passage {row['id']} has no vector; re-run the ingest")
        yield {
            "rowid": row["rowid"],
            "id": row["id"],
            "doc_id": row["doc_id"],
            "section_id": row["section_id"],
            "start": row["start_char"],
            "end": row["end_char"],
            "heading": row["heading"],
            "title": row["title"],
            "url": row["url"],
            "source": row["source"],
            "text": row["body"],
            "search_text": search_text(row["title"], row["heading"], row["body"]),
            "vector": np.frombuffer(row["vector"], dtype=np.float32).tolist(),
            "label_key": labels.get(row["rowid"], ""),
        }


def _meta_rows(
    conn: sqlite3.Connection, manifest: layout.Manifest, policy: str | None
) -> Iterator[dict[str, Any]]:
    zero = [0.0] * manifest.dim

    def record(key: str, group: str, value: str, part: int = 0) -> dict[str, Any]:
        return {"key": key, "group": group, "part": part, "value": value, "fields": {}}

    yield record("manifest", "manifest", json.dumps(manifest.to_json())) | {"vector": zero}
    # Read here, where SQLite gives each document's end alone: a served collection would have
    # to read every document's text to find them.
    found = json.dumps(sorted(sign_offs(store.document_tails(conn, TAIL_CHARS))))
    if len(found) <= WORDS_PART_CHARS:  # else (never seen) they are found on first use
        yield record("sign_offs", "sign_offs", found) | {"vector": zero}
    if policy is not None:
        yield record("policy", "policy", policy) | {"vector": zero}
    vocabulary = sorted(store.word_frequencies(conn).items())
    part: dict[str, int] = {}
    size, number = 0, 0
    for word, df in vocabulary + [("", 0)]:
        if (size > WORDS_PART_CHARS or not word) and part:
            yield record(f"words\x1f{number}", "words", json.dumps(part), number) | {"vector": zero}
            part, size, number = {}, 0, number + 1
        if word:
            part[word] = df
            size += len(word) + 12
    keys, matrix = store.label_vectors(conn)
    for key, vector in zip(keys, matrix, strict=True):
        yield record(f"label:{key}", "label", key) | {"vector": vector.tolist()}
    for key, vector in store.every_sentence_vector(conn):
        yield record(f"sentence:{key}", "sentence", key) | {"vector": vector.tolist()}


def insert_rows(client: Any, collection: str, rows: Iterator[dict[str, Any]]) -> int:
    """Insert ``rows`` into ``collection`` in batches of ``BATCH``; returns how many."""
    count, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            client.insert(collection, batch)
            count, batch = count + len(batch), []
    if batch:
        client.insert(collection, batch)
        count += len(batch)
    return count


def _count(client: Any, collection: str) -> int:
    rows = client.query(collection, filter="", output_fields=["count(*)"])
    return int(rows[0]["count(*)"])


def publish(client: Any, name: str, directory: Path, *, carried_policy: str | None = None) -> int:
    """Copy the committed generation in ``directory`` into new collections and point the
    alias ``name`` at them; returns the generation number. ``carried_policy`` is the policy
    to store when the generation has no policy file of its own (the one in force in Milvus,
    so that a re-ingest keeps a calibration made there)."""
    manifest = layout.read_manifest(directory)
    layout.verify_files(directory, manifest)
    policy_file = layout.policy_path(directory)
    policy = policy_file.read_text(encoding="utf-8") if policy_file.is_file() else carried_policy
    names = {kind: collection_name(name, manifest.generation, kind) for kind in KINDS}
    conn = store.connect(directory / layout.STORE_FILE, readonly=True)
    try:
        for collection in names.values():
            if client.has_collection(collection):  # left over from a failed publish
                client.drop_collection(collection)
        schema, index_params = _passages_schema(client, manifest.dim)
        client.create_collection(names["passages"], schema=schema, index_params=index_params)
        schema, index_params = _keyed_schema(client, manifest.dim, "text")
        client.create_collection(names["documents"], schema=schema, index_params=index_params)
        schema, index_params = _keyed_schema(client, manifest.dim, "value")
        client.create_collection(names["meta"], schema=schema, index_params=index_params)
        passages = insert_rows(client, names["passages"], passage_rows(conn, manifest.model))
        insert_rows(client, names["documents"], _document_rows(conn, manifest.dim))
        insert_rows(client, names["meta"], _meta_rows(conn, manifest, policy))
        for collection in names.values():
            client.flush(collection)  # unflushed rows are scanned on every query
        if passages != manifest.passages or _count(client, names["passages"]) != passages:
            raise IndexCorruptError(
                f"Milvus holds {_count(client, names['passages'])} passages of generation "
                f"{manifest.generation}, the manifest says {manifest.passages}"
            )
        if name in client.list_aliases().get("aliases", []):
            client.alter_alias(names["passages"], name)
        else:
            client.create_alias(names["passages"], name)
    except MedciteError:
        raise
    except Exception as exc:
        raise MilvusError(
            f"publishing generation {manifest.generation} to Milvus failed: {_reason(exc)}. "
            "The previous generation is still served; run the ingest again."
        ) from exc
    finally:
        conn.close()
    _drop_old_generations(client, name, manifest.generation)
    return manifest.generation


def _drop_old_generations(client: Any, name: str, current: int) -> None:
    """Drop the collections of all but the ``GENERATIONS_KEPT`` newest generations (a server
    that opened the previous one keeps answering until it reloads)."""
    pattern = re.compile(rf"{re.escape(name)}_g(\d+)_({'|'.join(KINDS)})")
    numbers = set()
    for collection in client.list_collections():
        found = pattern.fullmatch(collection)
        if found and int(found.group(1)) <= current:
            numbers.add(int(found.group(1)))
    for number in sorted(numbers)[:-GENERATIONS_KEPT]:
        for kind in KINDS:
            if client.has_collection(collection_name(name, number, kind)):
                client.drop_collection(collection_name(name, number, kind))


def store_policy(client: Any, name: str, generation: int, policy: str) -> None:
    """Write ``policy`` (JSON text) into the meta collection of ``generation``."""
    zero = [0.0] * _dim_of(client, name, generation)
    client.upsert(
        collection_name(name, generation, "meta"),
        [
            {"key": "policy", "group": "policy", "part": 0, "value": policy, "fields": {}}
            | {"vector": zero}
        ],
    )
    client.flush(collection_name(name, generation, "meta"))


def stored_model(client: Any, name: str) -> str | None:
    """The embedding model named in the manifest of the generation being served."""
    generation = served_generation(client, name)
    if generation is None:
        return None
    text = _meta_value(client, name, generation, "manifest")
    if text is None:
        return None
    where = f"Milvus {collection_name(name, generation, 'meta')}"
    return layout.parse_manifest(json.loads(text), where).model


def stored_policy(client: Any, name: str, generation: int) -> str | None:
    """The policy stored with ``generation``, if any."""
    return _meta_value(client, name, generation, "policy")


def _meta_value(client: Any, name: str, generation: int, key: str) -> str | None:
    """The value of one keyed record in the meta collection of ``generation``."""
    collection = collection_name(name, generation, "meta")
    with _errors(f"reading the {key}"):
        client.load_collection(collection)
        rows = client.query(
            collection, filter=f"key == {json.dumps(key)}", output_fields=["value"], limit=1
        )
    return str(rows[0]["value"]) if rows else None


def _dim_of(client: Any, name: str, generation: int) -> int:
    description = client.describe_collection(collection_name(name, generation, "meta"))
    for field in description["fields"]:
        if field["name"] == "vector":
            return int(field["params"]["dim"])
    raise IndexCorruptError(f"the Milvus collections of {name!r} have no vector field")


# --- reading ----------------------------------------------------------------------------


def _literal(values: Collection[str]) -> str:
    """A Milvus list literal of strings (JSON's quoting is what Milvus parses)."""
    return json.dumps(list(values), ensure_ascii=False)


def filter_expression(sources: Collection[str] = (), doc_ids: Collection[str] = ()) -> str:
    """The passages of ``sources`` and of ``doc_ids`` (an empty one keeps all)."""
    conditions = []
    if sources:
        conditions.append(f"source in {_literal(sources)}")
    if doc_ids:
        conditions.append(f"doc_id in {_literal(doc_ids)}")
    return " and ".join(conditions)


class MilvusIndex(Index):
    """A generation served from Milvus (see the module docstring). Search calls go to
    Milvus; the manifest, vocabulary, label vectors and the document list are read once, at
    open, as the embedded store reads them."""

    def __init__(self, client: Any, name: str, uri: str) -> None:
        self.client = client
        self.name = name
        self.root = uri
        self.directory = None
        self._stem_df = None
        self._speller = None
        self._title_phrases = None
        self._names = None
        self._sign_offs = None
        self._rows: dict[int, dict[str, Any]] = {}
        generation = served_generation(client, name)
        if generation is None:
            raise IndexMissingError(
                f"there is no medcite index named {name!r} in Milvus at {uri}. "
                "Build one: medcite ingest --store milvus PATH..."
            )
        self.collections = {kind: collection_name(name, generation, kind) for kind in KINDS}
        try:
            for collection in self.collections.values():
                client.load_collection(collection)
            meta = self._query(
                "meta", 'group in ["manifest", "policy", "words", "sign_offs"]', ["*"]
            )
            documents = self._query("documents", "part == 0", ["group", "fields"])
        except MedciteError:
            raise
        except Exception as exc:
            raise MilvusError(
                f"cannot read the index {name!r} from Milvus: {_reason(exc)}"
            ) from exc
        by_key = {row["key"]: row for row in meta}
        if "manifest" not in by_key:
            raise IndexCorruptError(f"the Milvus index {name!r} has no manifest")
        self.manifest = layout.parse_manifest(
            json.loads(by_key["manifest"]["value"]), f"Milvus {self.collections['meta']}"
        )
        self._policy = by_key["policy"]["value"] if "policy" in by_key else None
        # A collection published before sign-offs were stored finds them on first use.
        if "sign_offs" in by_key:
            self._sign_offs = frozenset(json.loads(by_key["sign_offs"]["value"]))
        self.vocabulary = {}
        for row in sorted((r for r in meta if r["group"] == "words"), key=lambda r: r["part"]):
            self.vocabulary.update(json.loads(row["value"]))
        self._labels: dict[str, np.ndarray] = {}
        self._sentences: dict[str, np.ndarray] = {}
        # A generation published from an index without sentence vectors has none.
        with _errors("reading the index"):
            self._stores_sentences = bool(self._query("meta", 'group == "sentence"', ["key"], 1))
        self._documents = sorted(
            ((row["group"], row["fields"]["title"], row["fields"]["source"]) for row in documents),
            key=lambda item: (item[1], item[0]),
        )
        self._synonyms = {
            row["group"]: synonyms_of(dict(json.loads(row["fields"]["metadata"])))
            for row in documents
        }

    def _query(
        self, kind: str, expression: str, fields: list[str], limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Every row of collection ``kind`` matching ``expression`` (paged past Milvus's
        per-query limit)."""
        collection = self.collections[kind]
        if limit is not None:
            return list(
                self.client.query(collection, filter=expression, output_fields=fields, limit=limit)
            )
        out: list[dict[str, Any]] = []
        with _errors("reading the index"):
            iterator = self.client.query_iterator(
                collection, batch_size=BATCH, filter=expression, output_fields=fields
            )
            try:
                while batch := iterator.next():
                    out.extend(batch)
            finally:
                iterator.close()
        return out

    def _label_vectors(self, keys: Collection[str]) -> dict[str, np.ndarray]:
        """The section-label vectors of ``keys``, read from the meta collection as searches
        need them (a worker never holds them all: ~7.8 GB at 10 million passages), and kept
        like passage rows."""
        return self._meta_vectors("label", keys, self._labels)

    def _meta_vectors(
        self, group: str, keys: Collection[str], kept: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The vectors of ``keys`` in the meta collection's ``group`` ("label", "sentence"),
        those not in ``kept`` read in one query and kept (until ``ROWS_CACHED`` are)."""
        found = {key: kept[key] for key in keys if key in kept}
        missing = [f"{group}:{key}" for key in keys if key and key not in found]
        if missing:
            with _errors(f"reading {group} vectors"):
                rows = self.client.query(
                    self.collections["meta"],
                    filter=f"key in {_literal(missing)}",
                    output_fields=["value", "vector"],
                    limit=len(missing),
                )
            if len(kept) + len(rows) > ROWS_CACHED:
                kept.clear()
            for row in rows:
                vector = np.asarray(row["vector"], dtype=np.float32)
                found[row["value"]] = kept[row["value"]] = vector
        return found

    @property
    def stores_sentences(self) -> bool:
        return self._stores_sentences

    def sentence_vectors(self, keys: Collection[str]) -> dict[str, np.ndarray]:
        """The sentence and title vectors ingest stored, published with the generation."""
        return self._meta_vectors("sentence", keys, self._sentences)

    def _passages(self, rowids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The rows of ``rowids`` (``ROW_FIELDS``): one query reads those not kept yet. Rows
        are kept (a generation never changes, so they never go stale) until ``ROWS_CACHED``
        are, when the store is emptied rather than kept in order."""
        found = {int(r): self._rows[r] for r in rowids if r in self._rows}
        missing = [int(r) for r in rowids if r not in found]
        if missing:
            with _errors("reading passages"):
                rows = self.client.query(
                    self.collections["passages"],
                    filter=f"rowid in {missing}",
                    output_fields=ROW_FIELDS,
                    limit=len(missing),
                )
            if len(self._rows) + len(rows) > ROWS_CACHED:
                self._rows.clear()
            for row in rows:
                kept = dict(row) | {"vector": np.asarray(row["vector"], dtype=np.float32)}
                found[int(row["rowid"])] = self._rows[int(row["rowid"])] = kept
        return found

    def document(self, doc_id: str) -> Document | None:
        with _errors("reading a document"):
            rows = self.client.query(
                self.collections["documents"],
                filter=f"group == {json.dumps(doc_id, ensure_ascii=False)}",
                output_fields=["part", "text", "fields"],
                limit=QUERY_LIMIT,
            )
        if not rows:
            return None
        rows.sort(key=lambda r: r["part"])
        fields = rows[0]["fields"]
        return Document(
            id=doc_id,
            title=fields["title"],
            text="".join(r["text"] for r in rows),
            url=fields["url"],
            source=fields["source"],
            sections=tuple(Section(*s) for s in json.loads(fields["sections"])),
            metadata=tuple((k, v) for k, v in json.loads(fields["metadata"])),
        )

    def dense(
        self,
        query_vector: np.ndarray,
        k: int,
        *,
        sources: Collection[str] = (),
        doc_ids: Collection[str] = (),
    ) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        with _errors("a search"):
            found = self.client.search(
                self.collections["passages"],
                data=[np.asarray(query_vector, dtype=np.float32).tolist()],
                anns_field="vector",
                limit=min(k, QUERY_LIMIT),
                filter=filter_expression(sources, doc_ids),
                output_fields=["rowid"],
                search_params={"metric_type": "COSINE", "params": {"ef": max(k, HNSW_SEARCH)}},
            )
        return [(int(hit["rowid"]), float(hit["distance"])) for hit in found[0]]

    def dense_scores(self, query_vector: np.ndarray, rowids: list[int]) -> np.ndarray:
        if not rowids:
            return np.zeros(0, dtype=np.float32)
        rows = self._passages(rowids)
        stored = np.vstack([rows[r]["vector"] for r in rowids])
        return stored @ query_vector

    def label_scores(self, query_vector: np.ndarray, rowids: list[int]) -> np.ndarray:
        rows = self._passages(rowids)
        keys = [rows[r]["label_key"] if r in rows else "" for r in rowids]
        vectors = self._label_vectors(set(keys))
        return np.array(
            [float(vectors[key] @ query_vector) if key in vectors else 0.0 for key in keys],
            dtype=np.float32,
        )

    def lexical(
        self,
        text: str,
        k: int,
        *,
        sources: Collection[str] = (),
        doc_ids: Collection[str] = (),
    ) -> list[tuple[int, float]]:
        query = " ".join(store.query_words(self.telling_words(text)))
        if not query or k <= 0:
            return []
        with _errors("a search"):
            found = self.client.search(
                self.collections["passages"],
                data=[query],
                anns_field="sparse",
                limit=min(k, QUERY_LIMIT),
                filter=filter_expression(sources, doc_ids),
                output_fields=["rowid"],
                search_params={"metric_type": "BM25"},
            )
        return [(int(hit["rowid"]), abs(float(hit["distance"]))) for hit in found[0]]

    def passages(self, rowids: list[int]) -> dict[int, tuple[Passage, str, str, str]]:
        out = {}
        for rowid, row in self._passages(rowids).items():
            passage = Passage(
                id=row["id"],
                doc_id=row["doc_id"],
                start=int(row["start"]),
                end=int(row["end"]),
                text=row["text"],
                section_id=row["section_id"],
                heading=row["heading"],
            )
            out[rowid] = (passage, row["title"], row["url"], row["source"])
        return out

    def rowids_for_documents(self, doc_ids: list[str]) -> set[int]:
        rows = self._query("passages", filter_expression(doc_ids=doc_ids), ["rowid"])
        return {int(row["rowid"]) for row in rows}

    def sources(self) -> list[tuple[str, int]]:
        return sorted(Counter(source for _, _, source in self._documents).items())

    def titles_by_source(self, sources: Collection[str]) -> list[tuple[str, str]]:
        wanted = set(sources)
        return [(doc_id, title) for doc_id, title, source in self._documents if source in wanted]

    def titles(self) -> list[tuple[str, str]]:
        return [(doc_id, title) for doc_id, title, _ in self._documents]

    def article_names(self) -> list[tuple[str, str, tuple[str, ...]]]:
        return [(doc_id, title, self._synonyms[doc_id]) for doc_id, title, _ in self._documents]

    def own_policy(self) -> str | None:
        return self._policy

    def close(self) -> None:
        """The client is shared by the process (a Lite file can be opened once)."""


def open_milvus_index(client: Any, name: str, uri: str, model: str | None = None) -> MilvusIndex:
    index = MilvusIndex(client, name, uri)
    if model is not None:
        index.require_model(model)
    return index
