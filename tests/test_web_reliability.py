"""The server under pressure: per-client rate limits (429), a cap on model-bound requests in
flight with a bounded queue (503), health answering while a long ask runs, live re-index with
no failed request, no personal data in the logs, and a short run of ``bench/bench_load.py``.

Requests are held in flight by an embedder that waits on an Event, never by sleeping; the
limiters' own tests use a fake clock.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from medcite.index.testing import FakeEmbedder, article, write_jsonl
from medcite.ingest.pipeline import ingest
from medcite.web import app as web_app
from medcite.web.app import create_app, log_config
from medcite.web.config import Settings
from medcite.web.limits import ConcurrencyLimiter, RateLimiter
from tests.support import ServerThread

ROOT = Path(__file__).resolve().parents[1]
HOLD = "holdme"  # a question with this word waits in embed() until released
UNLIMITED = {"rate_per_minute": 0, "max_in_flight": 0}


class HeldEmbedder(FakeEmbedder):
    """A FakeEmbedder whose ``embed`` waits for ``release`` when a text contains ``HOLD``
    (``entered`` counts the calls waiting), and raises for texts containing "explode"."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.threads: set[str] = set()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.threads.add(threading.current_thread().name)
        if any("explode" in text for text in texts):
            raise RuntimeError(f"cannot embed {texts}")
        if any(HOLD in text for text in texts):
            self.entered.release()
            assert self.release.wait(timeout=30), "the test never released the held request"
        return super().embed(texts)


@contextmanager
def serving(root: Path, embedder: FakeEmbedder, **settings: Any) -> Iterator[ServerThread]:
    app = create_app(Settings(index=root, embedder="fake", **settings), embedder=embedder)
    with ServerThread(app) as server:
        yield server


@dataclass
class HeldAsk:
    """A server that runs one model-bound request at a time and queues none, busy with an ask
    held inside the model until ``embedder.release`` is set."""

    http: httpx.Client
    embedder: HeldEmbedder
    thread: threading.Thread
    out: list[Any]


@contextmanager
def one_ask_held(root: Path) -> Iterator[HeldAsk]:
    embedder = HeldEmbedder()
    with serving(root, embedder, rate_per_minute=0, max_in_flight=1, max_queue=0) as server:
        http = httpx.Client(base_url=server.url, timeout=10)
        thread, out = in_background(
            lambda: http.post("/api/ask", json={"question": f"{HOLD} what is glaucoma?"})
        )
        assert embedder.entered.acquire(timeout=10), "the held ask never reached the model"
        yield HeldAsk(http, embedder, thread, out)


def in_background(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[Any]]:
    """Start ``call`` in a thread; the list receives its response (or exception)."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(call())
        except Exception as exc:  # noqa: BLE001 - handed to the test to report
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    """Poll a condition the test cannot be told about directly (a request in a queue)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


# --- the limiters on their own ----------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(1.0)  # one token a second
    assert limiter.take("b") == 0.0  # another client has its own bucket
    clock.now += 0.5
    assert limiter.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    clock.now += 3600
    assert [limiter.take("a") for _ in range(4)][-1] > 0, "the bucket holds at most the burst"


def test_rate_limiter_forgets_the_least_recent_client_beyond_capacity() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, capacity=2, clock=FakeClock())
    assert limiter.take("a") == 0.0 and limiter.take("b") == 0.0
    assert limiter.take("a") > 0  # "a" is now the most recent
    assert limiter.take("c") == 0.0  # "b" is forgotten to make room
    assert limiter.take("a") > 0 and limiter.take("b") == 0.0


def test_concurrency_limiter_queues_in_order_and_refuses_beyond_the_queue() -> None:
    async def scenario() -> None:
        limiter = ConcurrencyLimiter(limit=1, queue=2, timeout=30)
        assert await limiter.acquire()
        order: list[str] = []

        async def waiter(name: str) -> None:
            assert await limiter.acquire()
            order.append(name)
            limiter.release()

        first = asyncio.ensure_future(waiter("first"))
        second = asyncio.ensure_future(waiter("second"))
        await asyncio.sleep(0)  # let both reach the queue
        assert limiter.waiting == 2
        assert not await limiter.acquire(), "the queue is full: refused at once"
        limiter.release()
        await asyncio.gather(first, second)
        assert order == ["first", "second"]
        assert (limiter.in_flight, limiter.waiting) == (0, 0)

    asyncio.run(scenario())


def test_concurrency_limiter_gives_up_after_the_timeout_and_on_cancel() -> None:
    async def scenario() -> None:
        limiter = ConcurrencyLimiter(limit=1, queue=1, timeout=0.01)
        assert await limiter.acquire()
        assert not await limiter.acquire(), "no slot came within the timeout"
        assert limiter.waiting == 0
        patient = ConcurrencyLimiter(limit=1, queue=1, timeout=30)
        assert await patient.acquire()
        task = asyncio.ensure_future(patient.acquire())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert patient.waiting == 0
        patient.release()
        assert patient.in_flight == 0

    asyncio.run(scenario())


# --- rate limiting in the app -----------------------------------------------------------------


def test_a_client_over_its_rate_gets_429_with_retry_after(make_client, index_root: Path) -> None:
    client = make_client(index_root, rate_per_minute=1, rate_burst=3)
    assert [client.get("/api/search", params={"q": "asthma"}).status_code for _ in range(3)] == [
        200
    ] * 3
    api = client.get("/api/search", params={"q": "asthma"})
    assert api.status_code == 429
    assert int(api.headers["retry-after"]) >= 1
    assert "too many requests" in api.json()["error"]
    page = client.get("/doc/GLAU_1")
    assert page.status_code == 429 and "<html" in page.text and page.headers["retry-after"]
    for path in ("/healthz", "/readyz", "/static/medcite.css"):
        assert client.get(path).status_code == 200, f"{path} must never be limited"
    other = TestClient(client.app, client=("192.0.2.7", 4000))
    assert other.get("/api/search", params={"q": "asthma"}).status_code == 200


def test_limits_can_be_switched_off(make_client, index_root: Path) -> None:
    client = make_client(index_root, rate_per_minute=0, max_in_flight=0, rate_burst=1)
    assert client.app.state.rate_limiter is None
    assert client.app.state.concurrency_limiter is None
    assert {client.get("/api/search", params={"q": "asthma"}).status_code for _ in range(5)} == {
        200
    }


# --- overload, with requests held in flight ----------------------------------------------------


def test_health_answers_while_a_long_ask_runs_and_overflow_gets_503_at_once(
    index_root: Path,
) -> None:
    with one_ask_held(index_root) as busy_server:
        http, embedder = busy_server.http, busy_server.embedder
        held, out = busy_server.thread, busy_server.out
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").status_code == 200
        assert http.get("/doc/GLAU_1").status_code == 200  # not model-bound: not capped
        assert http.get("/static/medcite.css").status_code == 200

        busy = http.post("/api/ask", json={"question": "what is asthma?"})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert "busy" in busy.json()["error"]
        search = http.get("/api/search", params={"q": "asthma"})
        assert search.status_code == 503 and search.headers["retry-after"] == "1"
        page = http.post("/ask", data={"question": "what is asthma?"})
        assert page.status_code == 503 and "<html" in page.text and "busy" in page.text
        for _ in range(20):  # refused bodies are left unread; the answer must still arrive
            assert http.post("/ask", data={"question": "x" * 5000}).status_code == 503
            assert http.post("/api/ask", json={"question": "y" * 900}).status_code == 503
        assert held.is_alive() and not out, "the held ask is still running"

        embedder.release.set()
        held.join(timeout=10)
        assert out[0].status_code == 200 and out[0].json()["quotes"] is not None
        assert http.post("/api/ask", json={"question": "what is asthma?"}).status_code == 200
    assert "server" not in embedder.threads, "the model ran on the event loop's thread"


def test_a_queued_request_is_served_when_a_slot_frees(index_root: Path) -> None:
    embedder = HeldEmbedder()
    with serving(
        index_root, embedder, rate_per_minute=0, max_in_flight=1, max_queue=1, queue_timeout=30
    ) as server:
        http = httpx.Client(base_url=server.url, timeout=20)
        limiter = server.server.config.app.state.concurrency_limiter
        held, held_out = in_background(
            lambda: http.post("/api/ask", json={"question": f"{HOLD} what is glaucoma?"})
        )
        assert embedder.entered.acquire(timeout=10)
        queued, queued_out = in_background(lambda: http.get("/api/search", params={"q": "asthma"}))
        wait_until(lambda: limiter.waiting == 1, "the second request is queued")
        refused = http.get("/api/search", params={"q": "diabetes"})
        assert refused.status_code == 503, "the queue holds one: the third is refused"
        embedder.release.set()
        held.join(timeout=10)
        queued.join(timeout=10)
        assert held_out[0].status_code == 200 and queued_out[0].status_code == 200
        # The slot is given back after the response is sent, so a client can see its answer
        # a moment before the limiter counts the slot free.
        wait_until(lambda: (limiter.in_flight, limiter.waiting) == (0, 0), "the slots are free")


def test_a_queued_request_gives_up_with_503_after_the_queue_timeout(index_root: Path) -> None:
    embedder = HeldEmbedder()
    with serving(
        index_root, embedder, rate_per_minute=0, max_in_flight=1, max_queue=4, queue_timeout=0.2
    ) as server:
        http = httpx.Client(base_url=server.url, timeout=10)
        held, out = in_background(
            lambda: http.post("/api/ask", json={"question": f"{HOLD} what is glaucoma?"})
        )
        assert embedder.entered.acquire(timeout=10)
        late = http.get("/api/search", params={"q": "asthma"})
        assert late.status_code == 503 and late.headers["retry-after"] == "1"
        assert held.is_alive() and not out, "it gave up while the slot was still taken"
        embedder.release.set()
        held.join(timeout=10)
        assert out[0].status_code == 200


def test_one_model_per_process(
    index_root: Path, monkeypatch: pytest.MonkeyPatch, embedder: FakeEmbedder
) -> None:
    made: list[str] = []

    def make_embedder(kind: str, **options: object) -> FakeEmbedder:
        made.append(kind)
        return embedder

    monkeypatch.setattr(web_app, "make_embedder", make_embedder)
    app = create_app(Settings(index=index_root, embedder="fake", **UNLIMITED))
    with TestClient(app) as client:
        for question in ("what is asthma?", "what is glaucoma?", "what is diabetes?"):
            assert client.post("/api/ask", json={"question": question}).status_code == 200
            assert client.get("/api/search", params={"q": question}).status_code == 200
        assert client.post("/api/admin/reload").status_code == 200
    assert made == ["fake"]


# --- live re-index ----------------------------------------------------------------------------


def test_reload_under_load_fails_no_request_and_serves_the_new_documents(
    tmp_path: Path, corpus_file: Path
) -> None:
    root = tmp_path / "index"
    writer = FakeEmbedder()
    ingest([corpus_file], root, writer)
    statuses: list[int] = []
    stop = threading.Event()

    with serving(root, FakeEmbedder(), **UNLIMITED) as server:

        def hammer() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                while not stop.is_set():
                    try:
                        response = http.get("/api/search", params={"q": "glaucoma treatment"})
                        statuses.append(response.status_code)
                    except httpx.HTTPError:
                        statuses.append(0)

        hammers = [threading.Thread(target=hammer, daemon=True) for _ in range(2)]
        for thread in hammers:
            thread.start()
        http = httpx.Client(base_url=server.url, timeout=10)
        for round_ in range(1, 5):
            doc_id = f"ZEBRA_{round_}"
            record = article(
                doc_id,
                f"Zebra fever {round_}",
                [("Overview", f"What is zebrafever{round_}: a made-up condition {round_}.")],
                source="CDC",
            )
            ingest([write_jsonl(tmp_path / f"new-{round_}.jsonl", [record])], root, writer)
            if round_ == 2:  # two generations written before the server hears of either
                continue
            seen = len(statuses)
            reload = http.post("/api/admin/reload")
            assert reload.status_code == 200, reload.text
            assert reload.json()["documents"] == 4 + round_
            hits = http.get("/api/search", params={"q": f"zebrafever{round_}"}).json()["hits"]
            assert doc_id in {hit["doc_id"] for hit in hits}
            assert http.get(f"/api/doc/{doc_id}").status_code == 200
            wait_until(lambda seen=seen: len(statuses) > seen + 5, "searches after the reload")
        stop.set()
        for thread in hammers:
            thread.join(timeout=10)
    assert len(statuses) > 20
    assert set(statuses) == {200}, f"failed requests during reloads: {statuses.count(0)} errors"


# --- no personal data in the logs -------------------------------------------------------------

PERSONAL = "my name is John Smith, email john@example.com, phone 555-123-4567, what is glaucoma?"
PERSONAL_PIECES = ("john", "smith", "example.com", "555-123", "123-4567", "glaucoma")


SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "medcite", "medcite.web")
CLIENT_LOGGERS = ("httpx", "httpcore")  # the test's own client, which does see the question


def capture_server_handlers(buffer: io.StringIO) -> None:
    for name in SERVER_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(buffer)


@contextmanager
def server_logs() -> Iterator[io.StringIO]:
    """Logging set up as ``medcite serve`` sets it up (``log_config()``, with its formatters
    and filters), its handlers writing to one buffer; restored afterwards."""
    saved = {
        name: (list(lg.handlers), lg.level, lg.propagate, lg.disabled)
        for name in SERVER_LOGGERS
        for lg in [logging.getLogger(name)]
    }
    buffer = io.StringIO()
    try:
        yield buffer
    finally:
        for name, (handlers, level, propagate, disabled) in saved.items():
            lg = logging.getLogger(name)
            lg.handlers, lg.level, lg.propagate, lg.disabled = handlers, level, propagate, disabled


def test_personal_data_never_reaches_the_server_logs(
    index_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    embedder = HeldEmbedder()
    settings = Settings(index=index_root, embedder="fake", rate_per_minute=1, rate_burst=20)
    app = create_app(settings, embedder=embedder)
    with server_logs() as logs, caplog.at_level(logging.DEBUG):
        config = {"log_config": log_config(), "log_level": "info"}
        with ServerThread(app, config) as server:  # uvicorn.Config applies log_config()
            capture_server_handlers(logs)
            http = httpx.Client(base_url=server.url, timeout=10)
            responses = [
                http.post("/ask", data={"question": PERSONAL}),
                http.post("/ask", data={"question": PERSONAL}, headers={"HX-Request": "true"}),
                http.post("/api/ask", json={"question": PERSONAL}),
                http.get("/api/search", params={"q": PERSONAL}),
                http.get("/search", params={"q": PERSONAL}),
                http.post("/api/ask", json={"question": "explode " + PERSONAL}),  # 500
                http.post("/ask", data={"question": "explode " + PERSONAL}),  # 500 page
                http.post("/api/ask", json={"question": PERSONAL, "conversation_id": "x"}),
                http.post("/api/ask", json={"question": PERSONAL * 2000}),  # 413
                http.get("/doc/john@example.com"),
                http.get("/doc/555-123-4567"),
                http.get("/api/doc/John Smith"),
                http.get("/John Smith/555-123-4567"),
            ]
            greedy = httpx.Client(
                base_url=server.url,
                timeout=10,
                transport=httpx.HTTPTransport(local_address="127.1.0.99"),
            )
            refused = [greedy.get("/api/search", params={"q": PERSONAL}) for _ in range(21)]
        records = [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]
        logged = logs.getvalue() + "\n".join(caplog.handler.format(record) for record in records)
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 200, 200, 200, 200, 500, 500, 422, 413, 404, 404, 404, 404]
    assert refused[-1].status_code == 429
    assert '"POST /api/ask HTTP/1.1" 500' in logged, "the access log was not captured"
    assert "unhandled RuntimeError in POST /api/ask" in logged
    assert "/doc/{id}" in logged and "/[redacted]/[redacted]" in logged
    lowered = logged.lower()
    leaked = [piece for piece in PERSONAL_PIECES if piece in lowered]
    assert leaked == [], f"personal data in the logs: {leaked}\n{logged}"


# --- the load benchmark, reduced ---------------------------------------------------------------


def test_bench_load_short_run_sees_no_server_error(tmp_path: Path, index_root: Path) -> None:
    """``bench/bench_load.py`` against its own server (fake embedder), 4 users for 3 s, then
    bursts of 60: no 5xx in the load run, refusals always carry Retry-After. Latency is
    reported by the script, not asserted."""
    out = tmp_path / "load.json"
    index = tmp_path / "index"
    shutil.copytree(index_root, index)
    command = [sys.executable, str(ROOT / "bench" / "bench_load.py"), "--index", str(index)]
    command += ["--embedder", "fake", "--users", "4", "--seconds", "3", "--warmup", "2"]
    command += ["--overload", "--burst", "60", "--out", str(out)]
    run = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    load = result["load"]
    assert load["requests"] > 0 and load["server_errors_5xx"] == 0
    assert load["failed_requests"] == 0 and set(load["statuses"]) == {"200"}
    assert {"search", "ask"} <= load["endpoints"].keys()
    for burst in ("many_clients", "one_client"):
        summary = result["overload"][burst]
        assert set(summary["statuses"]) <= {"200", "429", "503"}, summary
        assert summary["refused_without_retry_after"] == 0 and summary["failed_requests"] == 0
    assert "429" in result["overload"]["one_client"]["statuses"], "60 at once, a burst of 30"


def test_a_reload_takes_a_slot_of_the_model_cap(index_root: Path) -> None:
    with one_ask_held(index_root) as busy_server:
        http, embedder = busy_server.http, busy_server.embedder
        held, out = busy_server.thread, busy_server.out
        busy = http.post("/api/admin/reload")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert "busy" in busy.json()["error"]
        embedder.release.set()
        held.join(timeout=10)
        assert out[0].status_code == 200
        assert http.post("/api/admin/reload").json()["generation"] == 1
