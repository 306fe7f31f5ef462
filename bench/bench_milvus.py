"""Milvus Lite against the embedded store: the same index, the same dev questions.

    python bench/bench_milvus.py parity [--index DIR] [--questions FILE] [--limit N]

Publishes the index's current generation into a fresh Milvus Lite file (timing the copy:
passages per second, with HNSW and BM25 built), then runs `medcite eval` (retrieval only:
lexical, dense and hybrid) over the dev questions on both stores. The issue's bar: article and
section MRR@10 on Milvus within 0.01 of the embedded store. Writes
bench/results/milvus-parity.json and prints a table.

The index defaults to full-int8 in the ignored scratch folder bench/results/tmp (the full
corpus: `medcite ingest ../shared/corpus/corpus.jsonl --index DIR`)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED_CORPUS, print_table, write_result  # noqa: E402

from medcite.index import layout  # noqa: E402
from medcite.index.stores import StoreConfig, publish  # noqa: E402
from medcite.web import cli  # noqa: E402

TMP = Path(__file__).parent / "results" / "tmp"
MODES = ("lexical", "dense", "hybrid")


def publish_timed(index: Path, uri: Path) -> dict[str, object]:
    if uri.exists():
        shutil.rmtree(uri) if uri.is_dir() else uri.unlink()
    config = StoreConfig("milvus", uri=str(uri))
    manifest = layout.read_manifest(layout.open_generation(index)[0])
    started = time.perf_counter()
    publish(index, config)
    seconds = time.perf_counter() - started
    return {
        "passages": manifest.passages,
        "documents": manifest.documents,
        "publish_seconds": round(seconds, 1),
        "passages_per_second": round(manifest.passages / seconds, 1),
    }


def run_eval(index: Path, questions: Path, out: Path, store: list[str]) -> dict[str, object]:
    argv = ["eval", "--index", str(index), "--questions", str(questions), "--no-answers"]
    argv += ["--json", str(out), "--warmup", "5", *store]
    if cli.main(argv) != 0:
        raise SystemExit(f"medcite {' '.join(argv)} failed")
    return json.loads(out.read_text(encoding="utf-8"))


def parity(args: argparse.Namespace) -> None:
    questions = args.questions
    if args.limit:
        lines = questions.read_text(encoding="utf-8").splitlines()[: args.limit]
        questions = TMP / f"dev-first-{args.limit}.jsonl"
        questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    uri = TMP / "parity-milvus.db"
    copied = publish_timed(args.index, uri)
    print(f"published {copied['passages']} passages in {copied['publish_seconds']} s")
    reports = {
        "embedded": run_eval(args.index, questions, TMP / "parity-embedded.json", []),
        "milvus": run_eval(
            args.index,
            questions,
            TMP / "parity-milvus.json",
            ["--store", "milvus", "--milvus-uri", str(uri)],
        ),
    }
    rows = []
    for mode in MODES:
        row: dict[str, object] = {"mode": mode}
        for level in ("article", "section"):
            for store, report in reports.items():
                row[f"{level} {store}"] = report["retrieval"][mode][level]["MRR@10"]
            row[f"{level} diff"] = row[f"{level} milvus"] - row[f"{level} embedded"]  # type: ignore[operator]
        for store, report in reports.items():
            row[f"p50 ms {store}"] = report["retrieval"][mode]["latency_ms"]["p50"]
        rows.append(row)
    print_table(rows)
    path = write_result(
        "milvus-parity",
        {
            "index": str(args.index),
            "questions": str(args.questions),
            "limit": args.limit,
            "publish": copied,
            "mrr_at_10": rows,
            "note": "MRR@10 on the same generation, served by each store; p50 is one search "
            "per call on one thread (Milvus Lite in process)",
        },
    )
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("parity", help="dev-set MRR@10 on Milvus Lite and the embedded store")
    p.add_argument("--index", type=Path, default=TMP / "full-int8")
    p.add_argument("--questions", type=Path, default=SHARED_CORPUS / "questions-dev.jsonl")
    p.add_argument("--limit", type=int, default=0, help="only the first N questions")
    p.set_defaults(run=parity)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
