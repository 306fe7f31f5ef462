"""What triage adds to a question's latency: ``Triage.check`` (one forward pass that gives the
query vector and the layer states, then the model) against ``embed`` alone, which retrieval
would pay anyway. One thread, as ``medcite serve`` runs a query.

    python bench/bench_triage.py [--messages 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from medcite.chat.evaluation.triage import load_triage_file
from medcite.chat.triage import make_triage
from medcite.index.embedder import SentenceTransformerEmbedder
from medcite.index.threads import limit_threads

ROOT = Path(__file__).resolve().parent.parent


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/triage-latency.json")
    args = parser.parse_args()
    limit_threads(1)
    embedder = SentenceTransformerEmbedder()
    triage = make_triage()
    cases = []
    for name in ("emergency-check.jsonl", "lookalike-check.jsonl"):
        cases += load_triage_file(ROOT / "bench/data/triage" / name)
    texts = [c.text for c in cases][:: max(1, len(cases) // args.messages)][: args.messages]
    for text in texts[:10]:
        embedder.embed([text])
        triage.check(text, embedder)
    embed_s, check_s, added_s = [], [], []
    for text in texts:
        start = time.perf_counter()
        embedder.embed([text])
        middle = time.perf_counter()
        triage.check(text, embedder)
        end = time.perf_counter()
        embed_s.append(middle - start)
        check_s.append(end - middle)
        added_s.append((end - middle) - (middle - start))
    result = {
        "messages": len(texts),
        "threads": 1,
        "embed_ms": {"p50": p(embed_s, 0.5), "p95": p(embed_s, 0.95)},
        "triage_check_ms": {"p50": p(check_s, 0.5), "p95": p(check_s, 0.95)},
        "added_ms": {"p50": p(added_s, 0.5), "mean": statistics.mean(added_s) * 1000},
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'':<28}{'p50 ms':>8}{'p95 ms':>8}")
    print(
        f"{'embed (retrieval needs it)':<28}{result['embed_ms']['p50']:>8.1f}"
        f"{result['embed_ms']['p95']:>8.1f}"
    )
    print(
        f"{'triage check (incl. vector)':<28}{result['triage_check_ms']['p50']:>8.1f}"
        f"{result['triage_check_ms']['p95']:>8.1f}"
    )
    print(f"{'added by triage':<28}{result['added_ms']['p50']:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
