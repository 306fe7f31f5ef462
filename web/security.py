"""What every response goes through: security headers, request size limits, and the one place
where errors become status codes (JSON for the API, a page for people).

Nothing here logs question text: unhandled errors are logged with their type, the request's
method and path (never the query string) and the traceback, not the exception's message.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import re
import secrets
import traceback
from typing import Annotated
from urllib.parse import quote, unquote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medcite.chat.database import DatabaseError
from medcite.index.errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    InputError,
    MedciteError,
    NotFoundError,
)
from medcite.web.config import Settings

logger = logging.getLogger("medcite.web")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
GENERIC_500 = "Something went wrong on our side. Please try again later."


class StaffOnlyError(MedciteError):
    """A staff page or action asked for without the staff password."""


# The one mapping from error types to HTTP status codes (most specific class first).
STATUS_BY_ERROR: tuple[tuple[type[MedciteError], int], ...] = (
    (InputError, 400),
    (StaffOnlyError, 401),
    (NotFoundError, 404),
    (IndexMissingError, 503),
    (IndexCorruptError, 503),
    (IndexMismatchError, 503),
    (DatabaseError, 503),
    (MedciteError, 500),
)
NOT_READY = (IndexMissingError, IndexCorruptError, IndexMismatchError)


# What a logged path must not show: which article a patient read (health information tied to
# an address), and anything typed into an address that is not one of ours (a name, an e-mail
# address, a phone number). The app's own path segments are short lowercase words.
_DOC_PATH = re.compile(r"^(/(?:api/)?doc/)[^/]+")
_ROUTE_SEGMENT = re.compile(r"[a-z][a-z0-9_.-]{0,40}")
_NUMBER = re.compile(r"\d(?:[\s().-]*\d){6,}")


def loggable_path(path: str) -> str:
    """``path`` as a log line may show it: article ids become ``{id}``, and any segment that is
    not a short lowercase word becomes ``[redacted]``."""
    path = _DOC_PATH.sub(r"\1{id}", unquote(path))
    segments = [
        segment
        if segment in ("", "{id}")
        or (_ROUTE_SEGMENT.fullmatch(segment) and not _NUMBER.search(segment))
        else "[redacted]"
        for segment in path.split("/")
    ]
    return quote("/".join(segments), safe="/[]{}")


def status_for(error: MedciteError) -> int:
    return next(status for kind, status in STATUS_BY_ERROR if isinstance(error, kind))


def user_message(error: MedciteError) -> str:
    if isinstance(error, NOT_READY):
        return f"the index is not ready: {error}"
    return str(error)


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path in ("/healthz", "/readyz", "/openapi.json")


def error_response(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """``{"error": message}`` for the API, an error fragment for htmx, else a whole page."""
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    templates = request.app.state.templates
    name = "_error.html" if request.headers.get("hx-request") == "true" else "error.html"
    return templates.TemplateResponse(
        request, name, {"status": status, "message": message}, status_code=status, headers=headers
    )


async def _medcite_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MedciteError)
    headers = None
    if isinstance(exc, StaffOnlyError):
        headers = {"WWW-Authenticate": 'Basic realm="medcite staff", charset="UTF-8"'}
    return error_response(request, status_for(exc), user_message(exc), headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(
            str(part) for part in error.get("loc", ()) if part not in ("body", "query")
        )
        problems.append(
            f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "")
        )
    message = "; ".join(problems) or "the request is not valid"
    # The API follows FastAPI's convention (422); a person sees a plain "bad request".
    return error_response(request, 422 if wants_json(request) else 400, message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "the request cannot be served"
    if exc.status_code == 404 and message == "Not Found":
        message = "there is no page at this address"
    return error_response(request, exc.status_code, message, dict(exc.headers or {}) or None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MedciteError, _medcite_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


class SecurityHeadersMiddleware:
    """Adds ``SECURITY_HEADERS`` to every HTTP response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class GuardMiddleware:
    """Refuses over-long query strings (414) and bodies (413: by Content-Length, and by
    counting the bytes that actually arrive), and turns any unhandled exception into a
    generic 500 that says nothing about the code."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_query_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_query_bytes = max_query_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if len(scope.get("query_string", b"")) > self.max_query_bytes:
            await self._refuse(request, receive, send, 414, "the address is too long")
            return
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._refuse(request, receive, send, 413, self._too_large())
            return

        body = await self._read_body(receive)
        if body is None:
            await self._refuse(request, receive, send, 413, self._too_large())
            return
        replay = self._replay(body, receive)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, replay, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the last line of defence, logged below
            logger.error(
                "unhandled %s in %s %s\n%s",
                type(exc).__name__,
                scope.get("method"),
                loggable_path(scope.get("path", "")),
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            if not started:
                await error_response(request, 500, GENERIC_500)(scope, receive, send)

    def _too_large(self) -> str:
        return f"the request is larger than {self.max_body_bytes} bytes"

    async def _read_body(self, receive: Receive) -> list[Message] | None:
        """Every body message, or None as soon as more than the limit has arrived."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    @staticmethod
    def _replay(messages: list[Message], receive: Receive) -> Receive:
        pending = list(messages)

        async def replay() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        return replay

    @staticmethod
    async def _refuse(
        request: Request, receive: Receive, send: Send, status: int, message: str
    ) -> None:
        response = error_response(request, status, message, {"Connection": "close"})
        await response(request.scope, receive, send)


def staff_secret(settings: Settings) -> str | None:
    """The staff password, or None when staff pages are open (unset or empty)."""
    return settings.staff_password.get_secret_value() if settings.staff_password else None


def _staff_secret(request: Request) -> str | None:
    return staff_secret(request.app.state.settings)


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` serves this machine only ("127.0.0.1", "::1",
    "localhost"); any other name or address may be reachable from the network."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_open_staff(settings: Settings, *, open_staff: bool = False) -> None:
    """Refuse to serve beyond this machine with open staff pages (the patients' stored
    questions, the index reload), unless ``open_staff`` says that is meant."""
    if staff_secret(settings) is not None or is_loopback(settings.host):
        return
    if not open_staff:
        raise MedciteError(
            f"refusing to serve on {settings.host} without MEDCITE_STAFF_PASSWORD: the staff"
            " pages (patients' stored questions, index reload) would be open to anyone who can"
            " reach it. Set MEDCITE_STAFF_PASSWORD, serve on 127.0.0.1, or pass"
            " --insecure-open-staff"
        )
    logger.warning("serving on %s with staff pages open to anyone who reaches it", settings.host)


def require_staff(request: Request) -> None:
    """Staff pages and actions need the staff password when one is configured
    (``MEDCITE_STAFF_PASSWORD``): HTTP Basic (any user name) or ``Authorization: Bearer``."""
    secret = _staff_secret(request)
    if secret is None:
        return
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    given = ""
    if scheme.lower() == "bearer":
        given = value.strip()
    elif scheme.lower() == "basic":
        try:
            given = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            given = ""
    if not secrets.compare_digest(given.encode(), secret.encode()):
        raise StaffOnlyError("this page is for staff: sign in with the staff password")


StaffOnly = Annotated[None, Depends(require_staff)]
