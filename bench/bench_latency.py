"""Warm latency of `search` and `ask` in process, one thread, as a server runs them.

    python bench/bench_latency.py --index DIR [--questions FILE] [--n 300] [--name latency]

Opens the index with its own encoder and no query-embedding cache, so that every call embeds
its question, and sends the first ``--n`` questions of ``--questions`` (the shared dev
questions by default) once each through hybrid `search`, then again through `ask`. The first
10 calls of each pass are warm-up. Writes bench/results/NAME.json and prints a table."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED_CORPUS, print_table, write_result  # noqa: E402

import medcite  # noqa: E402
from medcite.index.embedder import make_embedder  # noqa: E402
from medcite.index.layout import current_model  # noqa: E402
from medcite.index.threads import limit_threads  # noqa: E402

WARMUP = 10


def timed(call, questions: list[str]) -> dict[str, float]:
    times = []
    for question in questions:
        started = time.perf_counter()
        call(question)
        times.append(1000 * (time.perf_counter() - started))
    times = sorted(times[WARMUP:])
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "calls": len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=SHARED_CORPUS / "questions-dev.jsonl")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--name", default="latency")
    args = parser.parse_args()
    limit_threads(1)
    with args.questions.open(encoding="utf-8") as handle:
        questions = [json.loads(line)["question"] for line in handle][: args.n]
    encoder = make_embedder(index_model=current_model(args.index), threads=1)
    index = medcite.open_index(args.index, embedder=encoder)  # an Embedder: no cache
    rows = [
        {"call": name, **timed(call, questions)}
        for name, call in (("search (hybrid)", index.search), ("ask", index.ask))
    ]
    print_table(rows)
    result = {
        "index": str(args.index),
        "encoder": index.embedder.name,
        "passages": index.index.manifest.passages,
        "questions": str(args.questions.name),
        "rows": rows,
    }
    print(f"wrote {write_result(args.name, result)}")


if __name__ == "__main__":
    main()
