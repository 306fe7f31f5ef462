"""Milvus Lite at 100,000 passages: insert rate, dense, BM25 and hybrid query time, recall.

    python bench/bench_milvus_scale.py [--rows 20000,50000,100000] [--queries 200] [--keep]

Builds one passages collection in a fresh Milvus Lite file (milvus-scale-PID.db in the ignored
scratch folder bench/results/tmp, deleted at the end unless --keep) with medcite's own schema
and index parameters (``milvus._passages_schema``: HNSW cosine vectors, a BM25 sparse field
written by a Milvus function), in steps: insert rows up to the first --rows count, measure,
then insert up to the next. Each step times the insert (batches of ``milvus.BATCH``), the
flush and the wait until both indexes are built and the collection is loaded, then waits
(untimed) until Milvus Lite's background work after that is over, and records the Lite file's
size on disk and this process's RSS (Milvus Lite runs in process). It then times, one call at
a time after 10 warm-up queries, p50 and p95 in ms of:

    dense@10, dense@120   client.search on "vector" (ef 128), as MilvusIndex.dense
    bm25@120              client.search on "sparse" with the question text
    hybrid_rrf@10         client.hybrid_search, dense@120 + bm25@120 fused by RRFRanker(60)
    fetch120              client.query of ROW_FIELDS for the dense@120 rowids, which medcite
                          reads after its two searches

and recall@10 of dense@10 against the exact cosine top 10 (numpy over the rows inserted).

The synthetic data: the real full-corpus index (full-int8 in the scratch folder, 29,667
passages, read-only) repeated about 3.4 times. Copy 0 is the real index; copy k > 0 gets new rowids,
passage, section and document ids suffixed with ``~k``, and each vector jittered with gaussian
noise (norm about 0.1) and re-normalised, so HNSW sees distinct vectors; texts, titles and
headings are the real ones. Questions are --queries of the dev set, evenly spaced
(../shared/corpus/questions-dev.jsonl), embedded with the int8 MiniLM encoder; without the
shared corpus, passage headings stand in. Writes bench/results/milvus-scale.json and prints a
table."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED_CORPUS, print_table, write_result  # noqa: E402

from medcite.index import layout, milvus  # noqa: E402

TMP = Path(__file__).parent / "results" / "tmp"
INDEX = TMP / "full-int8"
# One file per run: a second run must not delete the file of one in progress.
LITE = TMP / f"milvus-scale-{os.getpid()}.db"
COLLECTION = "scale_passages"
WARMUP = 10
NOISE_NORM = 0.1  # expected norm of the jitter added to a copied vector
WIDE = 120  # candidates per search, as medcite asks for in a hybrid search
DENSE_PARAMS = {"metric_type": "COSINE", "params": {"ef": milvus.HNSW_SEARCH}}
BM25_PARAMS: dict[str, Any] = {"metric_type": "BM25"}
INDEX_TIMEOUT = 1800.0
# After the indexes report done, Milvus Lite keeps working in the background for a while
# (10-20 s at 50k rows) and slows the first queries: wait until this process is idle.
IDLE_CORES = 0.1
IDLE_WINDOW = 3.0
SETTLE_TIMEOUT = 600.0


@dataclass
class Corpus:
    """The real passages, ready to be copied: rows without vectors, and their vectors."""

    rows: list[dict[str, Any]]
    vectors: np.ndarray


def load_corpus(index: Path) -> Corpus:
    directory = layout.current_generation(index)
    if directory is None:
        raise SystemExit(f"no index in {index}")
    model = layout.read_manifest(directory).model
    conn = sqlite3.connect(f"file:{directory / layout.STORE_FILE}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = list(milvus.passage_rows(conn, model))
    finally:
        conn.close()
    vectors = [np.asarray(row.pop("vector"), dtype=np.float32) for row in rows]
    return Corpus(rows, np.vstack(vectors))


def synthetic_vectors(corpus: Corpus, total: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(rowids, vectors) of the first ``total`` synthetic rows: copy 0 as is, later copies
    jittered and re-normalised."""
    count, dim = corpus.vectors.shape
    stride = max(int(r["rowid"]) for r in corpus.rows) + 1
    base_rowids = np.array([int(r["rowid"]) for r in corpus.rows], dtype=np.int64)
    rng = np.random.default_rng(seed)
    rowids, vectors = [], []
    for copy in range(-(-total // count)):
        block = corpus.vectors.copy()
        if copy:
            block += rng.normal(0.0, NOISE_NORM / np.sqrt(dim), block.shape).astype(np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
        rowids.append(base_rowids + copy * stride)
        vectors.append(block)
    return np.concatenate(rowids)[:total], np.vstack(vectors)[:total].astype(np.float32)


def synthetic_rows(
    corpus: Corpus, rowids: np.ndarray, vectors: np.ndarray, start: int, stop: int
) -> Iterator[dict[str, Any]]:
    """Rows ``start`` to ``stop`` of the synthetic collection, in Milvus's shape."""
    count = len(corpus.rows)
    for number in range(start, stop):
        copy, row = divmod(number, count)
        out = dict(corpus.rows[row])
        if copy:
            for field in ("id", "doc_id", "section_id"):
                out[field] = f"{out[field]}~{copy}"
        out["rowid"] = int(rowids[number])
        out["vector"] = vectors[number].tolist()
        yield out


def wait_ready(client: Any, rows: int) -> None:
    """Until both indexes cover ``rows`` rows and the collection is loaded."""
    deadline = time.monotonic() + INDEX_TIMEOUT
    while True:
        states = [client.describe_index(COLLECTION, field) for field in ("vector", "sparse")]
        built = all(
            int(s.get("indexed_rows", 0)) >= rows and int(s.get("pending_index_rows", 0)) == 0
            for s in states
        )
        loaded = str(client.get_load_state(COLLECTION).get("state")).endswith("Loaded")
        if built and loaded:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"indexes not built after {INDEX_TIMEOUT:.0f} s: {states}")
        time.sleep(0.2)


def cpu_seconds() -> float:
    """CPU time of this process so far, every thread (Milvus Lite's included)."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle() -> float:
    """Wait until the process uses under ``IDLE_CORES`` over ``IDLE_WINDOW``; seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < SETTLE_TIMEOUT:
        before = cpu_seconds()
        time.sleep(IDLE_WINDOW)
        if (cpu_seconds() - before) / IDLE_WINDOW < IDLE_CORES:
            break
    return time.perf_counter() - started


def disk_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load_questions(limit: int, corpus: Corpus) -> tuple[list[str], str]:
    path = SHARED_CORPUS / "questions-dev.jsonl"
    if not path.is_file():
        print(f"{path} is missing: passage headings stand in for questions")
        headings = list(dict.fromkeys(r["heading"] for r in corpus.rows if r["heading"]))
        return headings[:limit], "passage headings"
    lines = path.read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    return questions[:: max(1, len(questions) // limit)][:limit], str(path)


def timed(calls: list[Callable[[], Any]]) -> tuple[list[float], list[Any]]:
    """Run the warm-up calls, then time each call once: (milliseconds, results)."""
    for call in calls[:WARMUP]:
        call()
    times, results = [], []
    for call in calls:
        started = time.perf_counter()
        results.append(call())
        times.append((time.perf_counter() - started) * 1000)
    return times, results


def percentiles(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
    }


def search_call(
    client: Any, data: list[float] | str, field: str, limit: int, params: dict[str, Any]
) -> Callable[[], list[int]]:
    """One search of ``field`` (the dense "vector" or the BM25 "sparse") for ``data``."""

    def call() -> list[int]:
        found = client.search(
            COLLECTION,
            data=[data],
            anns_field=field,
            limit=limit,
            output_fields=["rowid"],
            search_params=params,
        )
        return [int(hit["rowid"]) for hit in found[0]]

    return call


def hybrid_call(client: Any, vector: list[float], text: str) -> Callable[[], list[int]]:
    from pymilvus import AnnSearchRequest, RRFRanker

    def call() -> list[int]:
        requests = [
            AnnSearchRequest(data=[vector], anns_field="vector", param=DENSE_PARAMS, limit=WIDE),
            AnnSearchRequest(data=[text], anns_field="sparse", param=BM25_PARAMS, limit=WIDE),
        ]
        found = client.hybrid_search(
            COLLECTION, requests, RRFRanker(60), limit=10, output_fields=["rowid"]
        )
        return [int(hit["rowid"]) for hit in found[0]]

    return call


def fetch_call(client: Any, rowids: list[int]) -> Callable[[], int]:
    def call() -> int:
        rows = client.query(
            COLLECTION,
            filter=f"rowid in {rowids}",
            output_fields=milvus.ROW_FIELDS,
            limit=max(1, len(rowids)),
        )
        return len(rows)

    return call


def recall_at_10(
    found: list[list[int]], queries: np.ndarray, rowids: np.ndarray, vectors: np.ndarray
) -> float:
    """Mean share of the exact cosine top 10 that the HNSW search found."""
    scores = queries @ vectors.T
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    shares = [
        len(set(hits) & set(rowids[exact].tolist())) / 10
        for hits, exact in zip(found, top, strict=True)
    ]
    return float(np.mean(shares))


def measure(
    client: Any, questions: list[str], queries: np.ndarray, rowids: np.ndarray, vectors: np.ndarray
) -> dict[str, Any]:
    lists = [q.tolist() for q in queries]
    out: dict[str, Any] = {}
    times, dense10 = timed([search_call(client, v, "vector", 10, DENSE_PARAMS) for v in lists])
    out["dense@10"] = percentiles(times)
    times, dense120 = timed([search_call(client, v, "vector", WIDE, DENSE_PARAMS) for v in lists])
    out["dense@120"] = percentiles(times)
    times, _ = timed([search_call(client, q, "sparse", WIDE, BM25_PARAMS) for q in questions])
    out["bm25@120"] = percentiles(times)
    times, _ = timed([hybrid_call(client, v, q) for v, q in zip(lists, questions, strict=True)])
    out["hybrid_rrf@10"] = percentiles(times)
    times, fetched = timed([fetch_call(client, hits) for hits in dense120])
    out["fetch120"] = percentiles(times) | {"mean_rows": round(float(np.mean(fetched)), 1)}
    out["recall@10"] = round(recall_at_10(dense10, queries, rowids, vectors), 4)
    return out


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def run(args: argparse.Namespace) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from medcite.index.embedder import make_embedder

    steps = sorted({int(n) for n in args.rows.split(",") if n.strip()})
    corpus = load_corpus(args.index)
    rowids, vectors = synthetic_vectors(corpus, steps[-1])
    print(f"{len(corpus.rows)} real passages, {len(rowids)} synthetic rows", flush=True)
    questions, question_source = load_questions(args.queries, corpus)
    queries = make_embedder("minilm-int8", threads=1).embed(questions).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    remove(LITE)
    LITE.parent.mkdir(parents=True, exist_ok=True)
    client = milvus.connect(str(LITE))
    schema, index_params = milvus._passages_schema(client, vectors.shape[1])
    client.create_collection(COLLECTION, schema=schema, index_params=index_params)
    results, table = [], []
    inserted, insert_seconds = 0, 0.0
    try:
        for rows in steps:
            started = time.perf_counter()
            added = milvus.insert_rows(
                client, COLLECTION, synthetic_rows(corpus, rowids, vectors, inserted, rows)
            )
            client.flush(COLLECTION)
            wait_ready(client, rows)
            seconds = time.perf_counter() - started
            inserted, insert_seconds = rows, insert_seconds + seconds
            idle = settle()
            print(f"{rows} rows: inserted {added} in {seconds:.1f} s, idle after", flush=True)
            print(f"{idle:.0f} s more; measuring", flush=True)
            step: dict[str, Any] = {
                "rows": rows,
                "added": added,
                "insert_seconds": round(seconds, 1),
                "passages_per_second": round(added / seconds, 1),
                "settle_seconds": round(idle, 1),
                "cumulative_passages_per_second": round(rows / insert_seconds, 1),
                "lite_mb": round(disk_mb(LITE), 1),
                "rss_mb_after_load": round(rss_mb(), 1),
            }
            step |= measure(client, questions, queries, rowids[:rows], vectors[:rows])
            results.append(step)
            table.append(table_row(step))
            print_table(table[-1:])
    finally:
        client.close()
        if not args.keep:
            remove(LITE)
    print()
    print_table(table)
    path = write_result(
        "milvus-scale",
        {
            "index": str(args.index),
            "questions": question_source,
            "queries": len(questions),
            "warmup": WARMUP,
            "hnsw": {"M": milvus.HNSW_M, "efConstruction": milvus.HNSW_BUILD, "ef": 128},
            "noise_norm": NOISE_NORM,
            "steps": results,
            "note": "Milvus Lite in process; one call at a time; insert time covers the "
            "inserts, the flush and the wait until HNSW and BM25 indexes cover every row "
            "(not the untimed settle_seconds of background work after it); "
            "synthetic rows are the real passages repeated with jittered vectors",
        },
    )
    print(f"wrote {path}")


def table_row(step: dict[str, Any]) -> dict[str, object]:
    return {
        "rows": step["rows"],
        "insert p/s": step["passages_per_second"],
        "dense@10 p50": step["dense@10"]["p50_ms"],
        "dense@120 p50": step["dense@120"]["p50_ms"],
        "bm25@120 p50": step["bm25@120"]["p50_ms"],
        "hybrid RRF p50": step["hybrid_rrf@10"]["p50_ms"],
        "hybrid RRF p95": step["hybrid_rrf@10"]["p95_ms"],
        "fetch120 p50": step["fetch120"]["p50_ms"],
        "recall@10": step["recall@10"],
        "Lite MB": step["lite_mb"],
        "RSS MB": step["rss_mb_after_load"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", default="20000,50000,100000", help="row counts to measure at")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--index", type=Path, default=INDEX)
    parser.add_argument("--keep", action="store_true", help="keep the Milvus Lite file")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
