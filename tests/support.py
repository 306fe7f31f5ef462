"""Test support that is not shipped: the app served from a background thread, and the flags
Chromium is launched with, for the tests and scripts/screenshots.py. The fake embedder, the
article builder and the fixture corpus are in ``medcite.index.testing``."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import pytest
import uvicorn

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
