"""Exact (flat) against approximate (HNSW) vector search on the full-corpus vectors.

    python bench/bench_vectors.py [--index DIR] [--queries 500]

Recall@10 of HNSW against flat for real dev-question vectors, and the search time of each.
Flat is exact and fast enough for this corpus (30k passages); HNSW is what `--vector-index
hnsw` (or `auto` above 2 million passages) builds. Writes bench/results/vectors.json."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED_CORPUS, print_table, write_result  # noqa: E402

from medcite.chat.evaluation.questions import load_questions  # noqa: E402
from medcite.index import store, vectors  # noqa: E402
from medcite.index.embedder import SentenceTransformerEmbedder  # noqa: E402
from medcite.index.reader import open_index  # noqa: E402
from medcite.index.threads import limit_threads  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--index",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "tmp" / "full-index",
    )
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    limit_threads(1)
    index = open_index(args.index)
    with index.connection() as conn:
        ids, matrix = store.all_vectors(conn, index.manifest.dim)
    questions = load_questions(SHARED_CORPUS / "questions-dev.jsonl")[: args.queries]
    queries = SentenceTransformerEmbedder().embed([q.text for q in questions])

    rows, truth = [], None
    for kind in ("flat", "hnsw"):
        started = time.perf_counter()
        built = vectors.build(matrix, ids, kind)
        build_seconds = time.perf_counter() - started
        started = time.perf_counter()
        found = [[rowid for rowid, _ in vectors.search(built, q, 10)] for q in queries]
        per_query_ms = (time.perf_counter() - started) * 1000 / len(queries)
        truth = truth or found
        recall = float(
            np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
        )
        rows.append(
            {
                "index": kind,
                "passages": len(ids),
                "build_s": round(build_seconds, 2),
                "ms_per_query": round(per_query_ms, 3),
                "recall@10_vs_flat": round(recall, 4),
            }
        )
    print_table(rows)
    print(f"wrote {write_result('vectors', {'queries': len(queries), 'rows': rows})}")


if __name__ == "__main__":
    main()
