"""Stateless web workers: apps sharing one database continue each other's conversations and
take feedback on each other's answers; `medcite serve --workers N` runs N processes on one
port, each built from the settings the command was given."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from medcite.chat.conversation import ConversationStore
from medcite.chat.conversation_db import DatabaseConversationStore
from medcite.web import app as web_app
from medcite.web import cli
from medcite.web.app import app_from_environment
from medcite.web.config import Settings, load_settings, settings_environment
from medcite.web.routes_patient import COOKIE
from tests.support import free_port

HX = {"HX-Request": "true"}


@pytest.fixture
def no_medcite_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MEDCITE_"):
            monkeypatch.delenv(name)


def exchange_ids(page: str) -> list[str]:
    return re.findall(r'name="exchange" value="([^"]+)"', page)


def test_two_apps_on_one_database_continue_each_others_conversations(
    make_client, index_root: Path, database_url: str
) -> None:
    worker_a = make_client(index_root, database_url=database_url)
    worker_b = make_client(index_root, database_url=database_url)
    first = worker_a.post("/api/ask", json={"question": "how is glaucoma treated?"}).json()
    assert first["kind"] == "answered"
    follow = worker_b.post(
        "/api/ask",
        json={"question": "what are its symptoms?", "conversation_id": first["conversation_id"]},
    ).json()
    assert follow["searched_for"].endswith("(Glaucoma)")
    alone = worker_b.post("/api/ask", json={"question": "what are its symptoms?"}).json()
    assert "(Glaucoma)" not in alone["searched_for"]


def test_feedback_on_an_answer_from_one_app_is_taken_by_another(
    make_client, index_root: Path, database_url: str
) -> None:
    worker_a = make_client(index_root, database_url=database_url)
    worker_b = make_client(index_root, database_url=database_url)
    [exchange] = exchange_ids(worker_a.post("/ask", data={"question": "what is asthma?"}).text)
    worker_b.cookies.set(COOKIE, worker_a.cookies[COOKIE])
    assert exchange in exchange_ids(worker_b.get("/").text)  # B shows A's transcript
    rated = worker_b.post("/feedback", data={"exchange": exchange, "helpful": "yes"}, headers=HX)
    assert rated.status_code == 200 and "Thank you for your feedback" in rated.text
    again = worker_a.post("/feedback", data={"exchange": exchange, "helpful": "no"}, headers=HX)
    assert again.status_code == 200
    assert "Thank you for your feedback" in worker_a.get("/").text  # rated, as A sees it
    [item] = worker_a.app.state.feedback.recent()
    assert item.helpful and item.question == "what is asthma?" and item.generation == 1
    assert worker_b.app.state.feedback.count() == 1


@pytest.mark.parametrize(
    ("overrides", "shared"),
    [({}, False), ({"workers": 2}, True), ({"database_url": "sqlite:///{root}/x.sqlite"}, True)],
)
def test_conversations_are_shared_with_several_workers_or_a_database_url(
    make_client, fresh_index_root: Path, overrides: dict[str, Any], shared: bool
) -> None:
    overrides = {
        k: v.format(root=fresh_index_root) if isinstance(v, str) else v
        for k, v in overrides.items()
    }
    client = make_client(fresh_index_root, **overrides)
    store = client.app.state.conversations
    assert isinstance(store, DatabaseConversationStore if shared else ConversationStore)
    client.post("/ask", data={"question": "what is asthma?"})
    if overrides.get("workers"):  # the default database: feedback.sqlite beside the index
        assert len(store) == 1 and (fresh_index_root / "feedback.sqlite").exists()


def test_a_database_that_fails_mid_request_is_a_503(make_client, index_root: Path) -> None:
    client = make_client(
        index_root, database_url=f"postgresql+psycopg://u:hunter2@127.0.0.1:{free_port()}/x"
    )
    response = client.post("/api/ask", json={"question": "what is asthma?"})
    assert response.status_code == 503
    assert response.json() == {
        "error": "the database is not available right now: please try again in a moment"
    }


def test_settings_survive_the_trip_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_medcite_environment: None
) -> None:
    settings = Settings(
        index=tmp_path / "index dir",
        embedder="fake",
        port=8123,
        staff_password="s3cret",  # type: ignore[arg-type]
        queue_timeout=1.5,
        workers=3,
        database_url="postgresql+psycopg://u:p@h/db",
        store="milvus",
    )
    monkeypatch.setenv("MEDCITE_MILVUS_TOKEN", "left over")
    with web_app.environment(settings_environment(settings)):
        assert load_settings() == settings
        app = app_from_environment()
        assert app.state.settings == settings
        assert isinstance(app.state.conversations, DatabaseConversationStore)
    assert os.environ["MEDCITE_MILVUS_TOKEN"] == "left over"
    assert "MEDCITE_WORKERS" not in os.environ


@pytest.fixture
def uvicorn_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What uvicorn was asked to serve and the MEDCITE_* environment it was asked in."""
    runs: list[dict[str, Any]] = []

    def run(app: Any, **options: Any) -> None:
        environment = {k: v for k, v in os.environ.items() if k.startswith("MEDCITE_")}
        runs.append(options | {"app": app, "environment": environment})

    monkeypatch.setattr(web_app.uvicorn, "run", run)
    return runs


def test_serve_with_workers_runs_the_app_factory_with_settings_in_the_environment(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    uvicorn_runs: list[dict[str, Any]],
    no_medcite_environment: None,
) -> None:
    monkeypatch.setenv("MEDCITE_WORKERS", "3")
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    argv = ["--embedder", "fake", "serve", "--index", str(tmp_path), "--database-url", url]
    assert cli.main([*argv, "--port", "8111"]) == 0
    assert cli.main([*argv, "--workers", "1"]) == 0
    [many, one] = uvicorn_runs
    assert many["app"] == "medcite.web.app:app_from_environment" and many["factory"] is True
    assert many["workers"] == 3 and many["port"] == 8111
    assert many["environment"]["MEDCITE_WORKERS"] == "3"
    assert many["environment"]["MEDCITE_DATABASE_URL"] == url
    assert many["environment"]["MEDCITE_INDEX"] == str(tmp_path)
    assert many["environment"]["MEDCITE_EMBEDDER"] == "fake"
    assert not isinstance(one["app"], str) and "workers" not in one
    assert os.environ["MEDCITE_WORKERS"] == "3" and "MEDCITE_INDEX" not in os.environ


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--workers", "0"], "--workers must be at least 1, not 0"),
        (["--database-url", "mysql://u:hunter2@h/db"], "SQLite or PostgreSQL, not mysql"),
        (["--database-url", "postgresql://u:hunter2@127.0.0.1:{port}/db"], "cannot use the"),
    ],
)
def test_serve_refuses_bad_workers_and_databases_in_one_line(
    options: list[str],
    says: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    uvicorn_runs: list[dict[str, Any]],
    no_medcite_environment: None,
) -> None:
    options = [option.format(port=free_port()) for option in options]
    assert cli.main(["--embedder", "fake", "serve", "--index", str(tmp_path), *options]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("medcite: error: ") and says in line and "hunter2" not in line
    assert uvicorn_runs == []


def test_serve_help_says_workers_share_conversations_through_the_database(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--workers N" in shown and "--database-url URL" in shown
    assert "conversations are kept in the database" in shown


# `medcite serve --workers 2` for real: two processes, one port.


def server_socket_owner(server_port: int, client: socket.socket, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the server end of ``client``'s connection (Linux /proc)."""
    client_port = client.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(address.split(":")[1], 16) for address in fields[1:3])
        if local == server_port and remote == client_port:
            inode = fields[9]
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def worker_pids(parent: int) -> list[int]:
    """The uvicorn worker processes (multiprocessing's spawned children) of ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in command:
            found.append(int(entry.name))
    return sorted(found)


def healthz_over(client: socket.socket) -> bytes:
    client.sendall(b"GET /healthz HTTP/1.1\r\nHost: medcite\r\n\r\n")
    received = b""
    while not received.endswith(b'{"status":"ok"}'):
        chunk = client.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


@pytest.fixture
def served(index_root: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """`medcite serve --workers 2` on a free port, with the fake embedder and an SQLite
    database; ready (an index loaded) and with both workers started, or failed within 120 s."""
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc to tell the workers apart")
    port, database = free_port(), tmp_path / "shared.sqlite"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MEDCITE_")}
    command = [sys.executable, "-m", "medcite.web.cli", "--embedder", "fake", "serve"]
    command += ["--index", str(index_root), "--port", str(port), "--workers", "2"]
    command += ["--database-url", f"sqlite:///{database}"]
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        command,
        env=environment | {"HF_HUB_OFFLINE": "1"},
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "not ready: " + (tmp_path / "serve.log").read_text()
            try:
                if (
                    httpx.get(url + "/readyz", timeout=5).status_code == 200
                    and len(worker_pids(process.pid)) == 2
                ):
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        yield url, process, database
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_serve_with_two_workers_answers_on_one_port_from_both(
    served: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    url, process, database = served
    port = int(url.rsplit(":", 1)[1])
    workers = worker_pids(process.pid)
    assert len(workers) == 2

    # Each worker answers on the one port: the one that took a first connection is paused,
    # so the other must take the next.
    def owner_of_a_new_connection() -> int | None:
        with closing(socket.create_connection(("127.0.0.1", port), timeout=30)) as client:
            assert healthz_over(client).startswith(b"HTTP/1.1 200")
            return server_socket_owner(port, client, workers)

    first = owner_of_a_new_connection()
    assert first is not None and first in workers
    os.kill(first, signal.SIGSTOP)
    try:
        assert owner_of_a_new_connection() == next(pid for pid in workers if pid != first)
    finally:
        os.kill(first, signal.SIGCONT)

    # A conversation goes on across connections, whichever worker takes each.
    questions = [f"what is asthma? ({n})" for n in range(6)]
    response = httpx.post(url + "/ask", data={"question": questions[0]}, timeout=30)
    conversation = response.cookies[COOKIE]
    cookie = {"Cookie": f"{COOKIE}={conversation}"}
    for question in questions[1:]:  # each request on a connection of its own
        response = httpx.post(url + "/ask", data={"question": question}, headers=cookie, timeout=30)
        assert response.status_code == 200
    page = httpx.get(url + "/", headers=cookie, timeout=30).text
    assert all(question in page for question in questions)
    assert len(exchange_ids(page)) == len(questions)
    with closing(sqlite3.connect(database)) as conn:
        [(kept,)] = conn.execute(
            "SELECT count(*) FROM conversation_exchanges WHERE conversation_id = ?",
            (conversation,),
        ).fetchall()
    assert kept == len(questions)

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
