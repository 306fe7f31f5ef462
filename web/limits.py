"""Overload protection: a per-client rate limit (429) and a cap on the model-bound requests in
flight, with a short bounded wait queue (503). Both refusals are answered at once, with
``Retry-After``, so a busy server stays responsive instead of piling up work it cannot do.

/healthz, /readyz and static files are never limited: a load balancer must be able to tell a
busy server from a dead one.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from medcite.web.config import Settings
from medcite.web.security import error_response

# The requests whose work costs CPU: those that embed a question and search the index, and a
# reload, which hashes every file of the new generation. Sharing one cap, reloads cannot pile
# up beside (or starve) the questions.
MODEL_PATHS = frozenset({"/ask", "/api/ask", "/search", "/api/search", "/api/admin/reload"})
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz"})
STATIC_PREFIX = "/static/"
BUSY_RETRY_SECONDS = 1
TOO_MANY = "too many requests from your address: please wait a moment and try again"
BUSY = "the service is busy right now: please try again in a moment"


class RateLimiter:
    """A token bucket per client: ``burst`` requests at once, refilled at ``per_minute``.

    Called from the event loop only (no lock). At most ``capacity`` clients are remembered;
    the least recently seen are forgotten first (a forgotten client starts with a full bucket,
    as it would after a pause)."""

    def __init__(
        self,
        per_minute: int,
        burst: int,
        *,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 1 or burst < 1:
            raise ValueError("per_minute and burst must be at least 1")
        self.per_second = per_minute / 60
        self.burst = float(burst)
        self.capacity = capacity
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when

    def take(self, client: str) -> float:
        """0.0 when ``client`` may go ahead (a token is spent), else the seconds until it may."""
        now = self._clock()
        tokens, when = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - when) * self.per_second)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.per_second
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.capacity:
            self._buckets.popitem(last=False)
        return wait


class ConcurrencyLimiter:
    """At most ``limit`` holders at once; up to ``queue`` more wait, in arrival order, for at
    most ``timeout`` seconds each. Anyone beyond that is refused at once.

    Lives on one event loop (the server's): its waiters are futures of that loop."""

    def __init__(self, limit: int, queue: int, timeout: float) -> None:
        if limit < 1 or queue < 0 or timeout <= 0:
            raise ValueError("limit must be at least 1, queue at least 0, timeout above 0")
        self.limit = limit
        self.queue = queue
        self.timeout = timeout
        self._active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def in_flight(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> bool:
        """True when a slot is held (call ``release`` once done), False when refused."""
        if self._active < self.limit and not self._waiters:
            self._active += 1
            return True
        if len(self._waiters) >= self.queue:
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait((waiter,), timeout=self.timeout)
        except asyncio.CancelledError:
            self._leave(waiter)
            raise
        if waiter.done():
            return True  # release() handed its slot over
        self._leave(waiter)
        return False

    def _leave(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():
            self.release()  # the slot arrived as the wait ended: pass it on
        else:
            self._waiters.remove(waiter)
            waiter.cancel()

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the first in line
                return
        self._active -= 1


class LimitMiddleware:
    """Refuses over-eager clients with 429 and, when the model-bound paths are full, 503;
    JSON for the API, a small page (or htmx fragment) for people, both with Retry-After."""

    def __init__(
        self, app: ASGIApp, rate: RateLimiter | None, concurrency: ConcurrencyLimiter | None
    ) -> None:
        self.app = app
        self.rate = rate
        self.concurrency = concurrency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in UNLIMITED_PATHS or path.startswith(STATIC_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.rate is not None:
            client = scope.get("client")
            wait = self.rate.take(client[0] if client else "unknown")
            if wait > 0:
                await _refuse(scope, receive, send, 429, TOO_MANY, math.ceil(wait))
                return
        if self.concurrency is None or path not in MODEL_PATHS:
            await self.app(scope, receive, send)
            return
        if not await self.concurrency.acquire():
            await _refuse(scope, receive, send, 503, BUSY, BUSY_RETRY_SECONDS)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.concurrency.release()


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, message: str, retry_after: int
) -> None:
    # The body is left unread and the connection open: uvicorn discards the body. Closing
    # with the body still arriving would reset the connection before the client reads this.
    request = Request(scope)
    headers = {"Retry-After": str(max(1, retry_after))}
    await error_response(request, status, message, headers)(scope, receive, send)


def install_limits(app: FastAPI, settings: Settings) -> None:
    """Add ``LimitMiddleware`` as ``settings`` says; the limiters are kept on ``app.state``
    (``rate_limiter``, ``concurrency_limiter``; None when switched off)."""
    rate = (
        RateLimiter(settings.rate_per_minute, settings.rate_burst)
        if settings.rate_per_minute
        else None
    )
    concurrency = (
        ConcurrencyLimiter(settings.max_in_flight, settings.max_queue, settings.queue_timeout)
        if settings.max_in_flight
        else None
    )
    app.state.rate_limiter = rate
    app.state.concurrency_limiter = concurrency
    app.add_middleware(LimitMiddleware, rate=rate, concurrency=concurrency)
