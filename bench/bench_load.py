"""Load on a medcite server: simulated users asking and searching at once, then (optionally)
bursts beyond capacity to show that refusals come back fast.

    python bench/bench_load.py --index DIR [--embedder auto|minilm|fake]  # starts its own server
    python bench/bench_load.py --url http://127.0.0.1:8000            # a server already running
      [--users 20] [--seconds 120] [--max-requests 100000] [--ask-share 0.5] [--think 0]
      [--overload [--burst 200]] [--out FILE]

Each user loops until ``--seconds`` have passed or ``--max-requests`` were sent in all:
``POST /api/ask`` or ``GET /api/search`` (``--ask-share`` of them asks), with questions drawn
from the shared dev questions plus patient-style ones (bench/data/patient-questions.jsonl and
a few below, some with typing errors or a follow-up), waiting ``--think`` seconds
between requests. On a loopback address each user connects from an address of its own
(127.1.x.y), so the server's per-client limits see separate clients, as they would in use.

A server this script starts (``--index``) serves the load run with the per-client rate limit
off (20 users without think time are far above one person's pace; ``--keep-rate-limit`` keeps
it), and the overload bursts with the configured limits. ``MEDCITE_*`` variables in the
environment reach it as usual. ``--overload`` then fires ``--burst`` requests at once from as
many clients (beyond the in-flight cap and queue: 503) and from one client (beyond its burst:
429), and reports how fast those answers came and whether they carried Retry-After.

Writes bench/results/load.json (status counts, latency p50/p95/p99 per endpoint, 429/503
counts) and prints a table. Latency is given as the client saw it (``p95_ms``) and from the
request's first byte to the answer's headers (``server_p95_ms``): in a burst of hundreds the
first includes the time each request waits inside this client, on this same machine. Exits 1
when the load run saw a 5xx or a request that failed or timed out; latency is reported, never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED_CORPUS, machine, print_table, stop_server  # noqa: E402

from medcite.index.embedder import EMBEDDERS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PATIENT_FILE = Path(__file__).parent / "data" / "patient-questions.jsonl"


def python_path() -> str:
    """PYTHONPATH for a child process: this checkout first, then whatever was set."""
    return os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


TIMEOUT_SECONDS = 30.0
SEARCH_P95_TARGET_MS = 300.0
ASK_P95_TARGET_MS = 1000.0
SENT = "http11.send_request_headers.started"
ANSWERED = "http11.receive_response_headers.complete"
PATIENT_QUESTIONS = (
    "my dad was just diagnosed with glaucoma, will he go blind?",
    "what are the early signs of diabetes?",
    "is asthma contagious?",
    "how do I know if my child has an ear infection",
    "what can I do about high blood pressure",
    "my mom has alzheimer's, is it inherited?",
    "what causes kidney stones and how are they treated",
    "can you die from the flu?",
    "I keep getting headaches every morning, what could it be?",
    "what is the treatment for shingles",
    "whats the treatmnet for glaucoma",
    "symptons of diabetis in kids",
    "are there side effects of the measles vaccine for babies",
    "what are its symptoms?",
)


@dataclass(frozen=True)
class Sample:
    endpoint: str  # "ask" or "search"
    status: int  # 0 when the request failed (connection error, timeout)
    ms: float  # as the client saw it, from the call to the whole answer
    server_ms: float | None  # from the request's first byte sent to the answer's headers
    retry_after: bool


def read_questions(path: Path) -> list[str]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["question"] for line in handle if line.strip()]


def load_questions(path: Path, limit: int = 500, seed: int = 0) -> list[str]:
    """Up to ``limit`` dev questions (a seeded sample) plus the patient-style ones."""
    questions = read_questions(path)
    questions = random.Random(seed).sample(questions, min(limit, len(questions)))
    return questions + read_questions(PATIENT_FILE) + list(PATIENT_QUESTIONS)


def client_addresses(url: str, count: int, first: int = 0) -> list[str | None]:
    """A loopback source address per client when the server is on loopback, else None."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback and ":" not in host
    except ValueError:
        loopback = False
    if not loopback:
        return [None] * count
    base = ipaddress.IPv4Address("127.1.0.1")
    return [str(base + first + i) for i in range(count)]


def make_client(url: str, address: str | None, connections: int = 4) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(
        local_address=address,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )
    return httpx.AsyncClient(base_url=url, transport=transport, timeout=TIMEOUT_SECONDS)


async def one_request(
    client: httpx.AsyncClient, rng: random.Random, questions: list[str], ask_share: float
) -> Sample:
    question = rng.choice(questions)
    endpoint = "ask" if rng.random() < ask_share else "search"
    marks: dict[str, float] = {}

    async def trace(name: str, info: dict[str, object]) -> None:
        # Many requests started at once wait in this client first; these marks leave that out.
        if name in (SENT, ANSWERED):
            marks[name] = time.perf_counter()

    started = time.perf_counter()
    try:
        if endpoint == "ask":
            response = await client.post(
                "/api/ask", json={"question": question}, extensions={"trace": trace}
            )
        else:
            response = await client.get(
                "/api/search", params={"q": question, "k": 10}, extensions={"trace": trace}
            )
        status, retry_after = response.status_code, "retry-after" in response.headers
    except httpx.HTTPError:
        status, retry_after = 0, False
    ms = (time.perf_counter() - started) * 1000
    server_ms = (marks[ANSWERED] - marks[SENT]) * 1000 if len(marks) == 2 else None
    return Sample(endpoint, status, ms, server_ms, retry_after)


async def run_load(
    url: str,
    questions: list[str],
    *,
    users: int,
    seconds: float,
    max_requests: int,
    ask_share: float,
    think: float,
    warmup: int,
    seed: int,
) -> tuple[list[Sample], float]:
    """Every user's samples, and the seconds the run took."""
    clients = [make_client(url, address) for address in client_addresses(url, users)]
    warm_rng = random.Random(seed)
    for _ in range(warmup):
        await one_request(clients[0], warm_rng, questions, ask_share)
    samples: list[Sample] = []
    sent = 0
    deadline = time.perf_counter() + seconds

    async def user(number: int, client: httpx.AsyncClient) -> None:
        nonlocal sent
        rng = random.Random(seed * 1000 + number)
        while time.perf_counter() < deadline and sent < max_requests:
            sent += 1
            samples.append(await one_request(client, rng, questions, ask_share))
            if think:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(user(i, c) for i, c in enumerate(clients)))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return samples, time.perf_counter() - started


async def run_burst(
    url: str, questions: list[str], *, size: int, one_client: bool, seed: int
) -> list[Sample]:
    """``size`` requests started together, from as many clients or from one."""
    rng = random.Random(seed)
    if one_client:
        clients = [make_client(url, client_addresses(url, 1, first=5000)[0], connections=size)]
    else:
        clients = [make_client(url, a) for a in client_addresses(url, size, first=10000)]
    try:
        return list(
            await asyncio.gather(
                *(one_request(clients[i % len(clients)], rng, questions, 0.5) for i in range(size))
            )
        )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return round(ordered[int(rank) - 1], 1)


def latency(samples: list[Sample]) -> dict[str, float | None]:
    values = [s.ms for s in samples]
    server = [s.server_ms for s in samples if s.server_ms is not None]
    return {
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99),
        "max_ms": round(max(values), 1) if values else None,
        "server_p95_ms": percentile(server, 95),
    }


def summarise(samples: list[Sample], seconds: float) -> dict[str, object]:
    endpoints: dict[str, object] = {}
    for name in ("search", "ask"):
        mine = [s for s in samples if s.endpoint == name]
        served = [s for s in mine if s.status == 200]
        endpoints[name] = {
            "requests": len(mine),
            "statuses": {str(k): v for k, v in sorted(Counter(s.status for s in mine).items())},
            **latency(mine),
            "ok_p95_ms": percentile([s.ms for s in served], 95),
        }
    statuses = Counter(s.status for s in samples)
    return {
        "requests": len(samples),
        "seconds": round(seconds, 1),
        "requests_per_second": round(len(samples) / seconds, 1) if seconds else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors_5xx": sum(v for k, v in statuses.items() if k >= 500),
        "failed_requests": statuses.get(0, 0),
        "rate_limited_429": statuses.get(429, 0),
        "busy_503": statuses.get(503, 0),
        "endpoints": endpoints,
    }


def summarise_burst(samples: list[Sample]) -> dict[str, object]:
    refused = [s for s in samples if s.status in (429, 503)]
    return {
        "requests": len(samples),
        "statuses": {str(k): v for k, v in sorted(Counter(s.status for s in samples).items())},
        "refused": latency(refused),
        "served": latency([s for s in samples if s.status == 200]),
        "refused_without_retry_after": sum(1 for s in refused if not s.retry_after),
        "failed_requests": sum(1 for s in samples if s.status == 0),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def own_server(index: Path, embedder: str, env: dict[str, str]) -> Iterator[str]:
    """`medcite serve` on a free loopback port until the block ends; yields its URL once
    /readyz answers 200."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "medcite.web.cli", "--embedder", embedder, "serve"]
    command += ["--index", str(index), "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=log,
            stderr=log,
            env=os.environ | {"PYTHONPATH": python_path()} | env,
        )
        try:
            deadline = time.monotonic() + 300  # the real model takes a while on a busy machine
            while True:
                try:
                    ready = httpx.get(url + "/readyz", timeout=2)
                    if ready.status_code == 200:
                        break
                    # It answers only once started, so "not ready" will not change by itself.
                    raise SystemExit(f"the server is not ready: {ready.text}")
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode("utf-8", "replace")[-2000:]
                    raise SystemExit(f"the server did not become ready:\n{tail}")
                time.sleep(0.2)
            yield url
        finally:
            stop_server(process)


@contextmanager
def target(args: argparse.Namespace, env: dict[str, str]) -> Iterator[str]:
    if args.url:
        yield args.url.rstrip("/")
    else:
        with own_server(args.index, args.embedder, env) as url:
            yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    where.add_argument("--index", type=Path, help="start a server on this index")
    parser.add_argument("--embedder", default="auto", choices=EMBEDDERS)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120.0, help="0 skips the load run")
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--ask-share", type=float, default=0.5)
    parser.add_argument("--think", type=float, default=0.0, help="mean seconds between requests")
    parser.add_argument("--warmup", type=int, default=10, help="unrecorded requests first")
    parser.add_argument("--keep-rate-limit", action="store_true")
    parser.add_argument("--overload", action="store_true", help="also fire bursts")
    parser.add_argument("--burst", type=int, default=200, help="requests in each burst")
    parser.add_argument("--questions", type=Path, default=SHARED_CORPUS / "questions-dev.jsonl")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.json")
    args = parser.parse_args()

    questions = load_questions(args.questions, seed=args.seed)
    result: dict[str, object] = {
        "machine": machine(),
        "target": args.url or f"own server on {args.index} ({args.embedder} embedder)",
        "users": args.users,
        "ask_share": args.ask_share,
        "think_seconds": args.think,
        "questions": len(questions),
    }
    failed = False
    if args.seconds > 0:
        env = {} if args.keep_rate_limit else {"MEDCITE_RATE_PER_MINUTE": "0"}
        with target(args, env) as url:
            samples, seconds = asyncio.run(
                run_load(
                    url,
                    questions,
                    users=args.users,
                    seconds=args.seconds,
                    max_requests=args.max_requests,
                    ask_share=args.ask_share,
                    think=args.think,
                    warmup=args.warmup,
                    seed=args.seed,
                )
            )
        load = summarise(samples, seconds)
        endpoints = load["endpoints"]
        assert isinstance(endpoints, dict)
        load["targets"] = {
            "search_p95_ms": SEARCH_P95_TARGET_MS,
            "ask_p95_ms": ASK_P95_TARGET_MS,
            "search_p95_met": (endpoints["search"]["p95_ms"] or 0) < SEARCH_P95_TARGET_MS,
            "ask_p95_met": (endpoints["ask"]["p95_ms"] or 0) < ASK_P95_TARGET_MS,
            "no_5xx": load["server_errors_5xx"] == 0,
        }
        result["load"] = load
        failed = bool(load["server_errors_5xx"] or load["failed_requests"])
        print(f"load: {args.users} users for {seconds:.0f} s, {load['requests']} requests")
        print_table(
            [
                {"endpoint": name, **{k: v for k, v in data.items() if k != "statuses"}}
                for name, data in endpoints.items()
            ]
        )
        print(
            f"statuses {load['statuses']}; 5xx {load['server_errors_5xx']}, failed "
            f"{load['failed_requests']}, 429 {load['rate_limited_429']}, 503 {load['busy_503']}"
        )
    if args.overload:
        with target(args, {}) as url:
            many = asyncio.run(
                run_burst(url, questions, size=args.burst, one_client=False, seed=args.seed)
            )
            one = asyncio.run(
                run_burst(url, questions, size=args.burst, one_client=True, seed=args.seed)
            )
        result["overload"] = {
            "burst": args.burst,
            "many_clients": summarise_burst(many),
            "one_client": summarise_burst(one),
        }
        rows = []
        for name, data in (("many clients", many), ("one client", one)):
            summary = summarise_burst(data)
            refused, served = summary["refused"], summary["served"]
            assert isinstance(refused, dict) and isinstance(served, dict)
            rows.append(
                {
                    "burst": name,
                    "statuses": summary["statuses"],
                    "refused_p95_ms": refused["p95_ms"],
                    "refused_server_p95_ms": refused["server_p95_ms"],
                    "served_p95_ms": served["p95_ms"],
                    "no_retry_after": summary["refused_without_retry_after"],
                }
            )
        print(f"overload: bursts of {args.burst} requests at once")
        print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
