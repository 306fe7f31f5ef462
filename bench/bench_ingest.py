"""Ingest throughput and peak memory on a corpus, then the cost of re-ingesting it unchanged.

    python bench/bench_ingest.py [--corpus ../shared/corpus/corpus.jsonl] [--index DIR] [--fresh]
                                 [--executor local|ray] [--ray-batch 256] [--ray-cpus 2]

Writes bench/results/ingest.json. The index is kept, so `medcite eval` can use it. With
--executor ray, a local Ray of --ray-cpus CPUs reads, chunks and embeds (one int8 actor per
CPU, --ray-batch texts per actor call); peak RSS is then this process's only."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED_CORPUS, peak_rss_mb, print_table, write_result  # noqa: E402

from medcite.index.embedder import make_embedder  # noqa: E402
from medcite.ingest.pipeline import ingest  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=SHARED_CORPUS / "corpus.jsonl")
    parser.add_argument(
        "--index",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "tmp" / "full-index",
    )
    parser.add_argument("--embedder", default="minilm-int8")
    parser.add_argument("--fresh", action="store_true", help="delete the index first")
    parser.add_argument("--name", default="ingest", help="results file: bench/results/NAME.json")
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--ray-batch", type=int, default=256, help="texts per actor call")
    parser.add_argument("--ray-cpus", type=int, default=2)
    args = parser.parse_args()
    if args.fresh:
        shutil.rmtree(args.index, ignore_errors=True)

    started = time.perf_counter()
    embedder = make_embedder(args.embedder)
    load_seconds = time.perf_counter() - started

    def progress(stage: str, done: int, total: int) -> None:
        if done % 1024 < 64 or done == total:
            print(f"\r  embedded {done}/{total} {stage}", end="", file=sys.stderr, flush=True)

    executor = None
    if args.executor == "ray":
        from functools import partial

        from medcite.ingest import ray_executor

        ray_executor.EMBED_BATCH = args.ray_batch
        factory = partial(make_embedder, args.embedder, threads=1)
        executor = ray_executor.RayExecutor(factory, num_cpus=args.ray_cpus)
    first = ingest([args.corpus], args.index, embedder, progress=progress, executor=executor)
    print(file=sys.stderr)
    second = ingest([args.corpus], args.index, embedder)
    rows = [
        {
            "run": "first",
            "documents": first.documents_total,
            "passages": first.passages_total,
            "embedded": first.passages_embedded,
            "seconds": round(first.seconds, 1),
            "passages_per_s": round(first.passages_per_second, 1),
            "sentences": first.sentences_embedded,
            "sentence_seconds": round(first.sentence_seconds, 1),
        },
        {
            "run": "again (unchanged)",
            "documents": second.documents_total,
            "passages": second.passages_total,
            "embedded": second.passages_embedded,
            "seconds": round(second.seconds, 1),
            "passages_per_s": 0.0,
            "sentences": second.sentences_embedded,
            "sentence_seconds": round(second.sentence_seconds, 1),
        },
    ]
    print_table(rows)
    print(f"peak RSS {peak_rss_mb():.0f} MiB; model load {load_seconds:.1f} s")
    path = write_result(
        args.name,
        {
            "corpus": str(args.corpus),
            "embedder": embedder.name,
            "executor": args.executor,
            "ray_batch": args.ray_batch if args.executor == "ray" else None,
            "model_load_seconds": round(load_seconds, 2),
            "peak_rss_mib": round(peak_rss_mb(), 1),
            "runs": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
