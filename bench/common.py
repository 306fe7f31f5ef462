"""Helpers shared by the benchmark scripts: machine facts, peak memory, JSON results."""

from __future__ import annotations

import json
import os
import platform
import resource
import signal
import subprocess
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
SHARED_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
REAL_QUESTIONS = Path(__file__).parent / "data" / "real"
# Real-style check sets that answer-quality work has already looked at (bench/data/README.md):
# no longer clean checks, so triage learns from them instead (as more ordinary questions).
SPENT_CHECKS = tuple(f"questions-quickstart-check{n}.jsonl" for n in range(2, 7))


def machine() -> dict[str, object]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_result(name: str, data: dict[str, object]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2) + "\n", encoding="utf-8")
    return path


def stop_server(process: subprocess.Popen) -> None:
    """Stop a `medcite serve` this script started: Ctrl-C, then kill after 20 s."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def print_table(rows: list[dict[str, object]]) -> None:
    """A plain Markdown table of ``rows`` (same keys each)."""
    if not rows:
        return
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()]
        print("| " + " | ".join(cells) + " |")
