"""A server's start-up and memory: from `medcite serve` to the first answer, and its resident
memory once warm, for each encoder asked for.

    python bench/bench_serve.py --index DIR [--embedder auto minilm] [--asks 50] [--name serve]

For each ``--embedder`` (auto: the encoder that built the index) it starts `medcite serve` on
a free port, times how long until ``POST /api/ask`` first answers 200, asks ``--asks`` more
questions (the shared dev questions when present, else a built-in few), then reads the
server's resident memory (VmRSS and VmHWM from /proc) and whether PyTorch was loaded into it.
Writes bench/results/NAME.json and prints a table."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED_CORPUS, print_table, stop_server, write_result  # noqa: E402

FALLBACK_QUESTIONS = [
    "what is glaucoma",
    "how is asthma treated",
    "what are the symptoms of type 2 diabetes",
    "is shingles contagious",
    "what causes gout",
]


def questions(count: int) -> list[str]:
    path = SHARED_CORPUS / "questions-dev.jsonl"
    if not path.is_file():
        return (FALLBACK_QUESTIONS * count)[:count]
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["question"] for _, line in zip(range(count), handle, strict=False)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def memory_mib(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = round(int(value.split()[0]) / 1024, 1)
    return fields


def torch_loaded(pid: int) -> bool:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "libtorch" in maps


def run(index: Path, embedder: str, asks: list[str]) -> dict[str, object]:
    port = free_port()
    command = [sys.executable, "-m", "medcite.web.cli", "--embedder", embedder, "serve"]
    command += ["--index", str(index), "--port", str(port)]
    env = os.environ | {"MEDCITE_RATE_PER_MINUTE": "0"}
    started = time.perf_counter()
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/api/ask"
    try:
        with httpx.Client(timeout=30) as client:
            first = None
            while first is None:
                if server.poll() is not None:
                    raise SystemExit(f"medcite serve exited: {server.stderr.read().decode()}")
                try:
                    response = client.post(url, json={"question": asks[0]})
                except httpx.TransportError:
                    time.sleep(0.05)  # not listening yet: poll again
                    continue
                if response.status_code == 200:
                    first = time.perf_counter() - started
            latencies = []
            for question in asks[1:]:
                sent = time.perf_counter()
                client.post(url, json={"question": question}).raise_for_status()
                latencies.append(1000 * (time.perf_counter() - sent))
        latencies.sort()
        memory = memory_mib(server.pid)
        return {
            "embedder": embedder,
            "first_answer_s": round(first, 2),
            "ask_p50_ms": round(latencies[len(latencies) // 2], 1),
            "rss_mib": memory["VmRSS"],
            "peak_rss_mib": memory["VmHWM"],
            "torch_loaded": torch_loaded(server.pid),
        }
    finally:
        stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--embedder", nargs="+", default=["auto"])
    parser.add_argument("--asks", type=int, default=50)
    parser.add_argument("--name", default="serve")
    args = parser.parse_args()
    asks = questions(args.asks + 1)
    rows = [run(args.index, embedder, asks) for embedder in args.embedder]
    print_table(rows)
    result = {"index": str(args.index), "asks": args.asks, "rows": rows}
    print(f"wrote {write_result(args.name, result)}")


if __name__ == "__main__":
    main()
