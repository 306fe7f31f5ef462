"""Test support that is not shipped: the app served from a background thread, a throwaway
PostgreSQL server, and the flags Chromium is launched with, for the tests and
scripts/screenshots.py. The fake embedder, the article builder and the fixture corpus are in
``medcite.index.testing``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from medcite.index.reader import Index
from medcite.index.stores import StoreConfig, open_store, publish

# Debian's Chromium, as root, offline: no sandbox, no GPU, no calls home.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class ServerThread:
    """uvicorn serving ``app`` on a free loopback port, in a background thread.

    Entering waits until uvicorn has run the app's start-up (the model and the index are
    loaded by then), at most ``timeout`` seconds."""

    def __init__(
        self, app: Any, config: dict[str, Any] | None = None, timeout: float = 120
    ) -> None:
        # IPPROTO_TCP, as uvicorn binds its own: asyncio sets TCP_NODELAY only then.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        options: dict[str, Any] = {"log_config": None, "log_level": "warning"} | (config or {})
        self.server = uvicorn.Server(uvicorn.Config(app, **options))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="server", daemon=True
        )
        self.timeout = timeout

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:  # start-up only: nothing is asserted on this timing
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def crash_on_current_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make switching an index's CURRENT pointer fail, as a power cut at that moment would;
    every other rename goes through. ``monkeypatch.undo()`` ends it."""
    from medcite.index import layout

    real_replace = os.replace

    def crash_on_pointer(src: object, dst: object) -> None:
        if str(dst).endswith(layout.CURRENT_FILE):
            raise OSError("simulated power cut")
        real_replace(src, dst)

    monkeypatch.setattr(layout.os, "replace", crash_on_pointer)


class PostgresServer:
    """A throwaway PostgreSQL server from Debian's binaries: a cluster in a temporary
    directory, on a free loopback port (its unix socket in that directory too), stopped and
    deleted on exit. PostgreSQL refuses to run as root, so as root it runs as the ``postgres``
    user (``runuser``), in a directory that user owns."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.directory = Path(tempfile.mkdtemp(prefix="medcite-postgres-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.user = "medcite"
        self._databases = 0

    @staticmethod
    def find_binaries() -> Path | None:
        """The newest ``/usr/lib/postgresql/*/bin`` with ``initdb`` and ``pg_ctl``."""
        candidates = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        )
        usable = [p for p in candidates if (p / "initdb").exists() and (p / "pg_ctl").exists()]
        return usable[-1] if usable else None

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def __enter__(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            self.user,
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.directory / "server.log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "-t", "60", "start"
        )
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database of this server."""
        import psycopg

        self._databases += 1
        name = f"test_{self._databases}"
        dsn = f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def free_port() -> int:
    """A TCP port nothing listens on just now, on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# A fixture with ``params=STORES`` runs its tests against each store: the embedded one and
# Milvus (through Milvus Lite, in process).
STORES = ["embedded", pytest.param("milvus", marks=pytest.mark.milvus)]


def store_for(root: Path, kind: str) -> StoreConfig:
    """The store ``kind`` for the index built at ``root``; Milvus in a Lite file of its own,
    beside the index directory."""
    if kind == "embedded":
        return StoreConfig()
    pytest.importorskip("pymilvus", reason="the milvus extra is not installed")
    return StoreConfig("milvus", uri=str(root.parent / f"{root.name}-milvus.db"))


def served(root: Path, kind: str) -> Index:
    """The index built at ``root`` (by ``ingest``), served from store ``kind``: for Milvus,
    published there first, as `medcite ingest --store milvus` does."""
    config = store_for(root, kind)
    publish(root, config)
    return open_store(root, config)
