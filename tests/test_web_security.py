"""Security headers, request limits, errors that never leak internals, and templates that
never output unescaped text."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medcite.web.app import TEMPLATES_DIR, DropQueryString
from medcite.web.deps import get_embedder
from medcite.web.security import CONTENT_SECURITY_POLICY

SECRET_QUESTION = "is my secret rash contagious"


def assert_security_headers(headers) -> None:
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/"),
        ("get", "/search?q=glaucoma"),
        ("get", "/doc/GLAU_1"),
        ("get", "/doc/NOPE"),
        ("get", "/api/search?q=glaucoma"),
        ("get", "/api/search?k=0"),
        ("get", "/static/medcite.css"),
        ("get", "/docs"),
        ("get", "/healthz"),
        ("get", "/nowhere"),
    ],
)
def test_every_response_carries_the_security_headers(
    client: TestClient, method: str, path: str
) -> None:
    assert_security_headers(getattr(client, method)(path).headers)


def test_content_security_policy_forbids_inline_code() -> None:
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "style-src 'self';" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY


def test_pages_have_no_inline_scripts_or_styles(client: TestClient) -> None:
    pages = [
        client.get("/").text,
        client.post("/ask", data={"question": "how is glaucoma treated?"}).text,
        client.post("/ask", data={"question": "how do I fix my car?"}).text,
        client.get("/search", params={"q": "glaucoma"}).text,
        client.get("/doc/GLAU_1?start=0&end=20").text,
        client.get("/search/feedback").text,
        client.get("/docs").text,
        client.get("/doc/NOPE").text,
    ]
    for page in pages:
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline <script>"
        assert "<style" not in page and " style=" not in page
        assert not re.search(r"<[^>]*\son[a-z]+=", page), "inline event handler"
    assert '"includeIndicatorStyles": false' in pages[0]


def test_templates_never_mark_text_safe() -> None:
    for template in Path(TEMPLATES_DIR).glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "|safe" not in text.replace(" ", ""), template.name
        assert "autoescape false" not in text, template.name


def test_body_over_the_limit_by_content_length_is_413(client: TestClient) -> None:
    big = {"question": "x" * (70 * 1024)}
    api = client.post("/api/ask", json=big)
    assert api.status_code == 413 and "larger than" in api.json()["error"]
    assert_security_headers(api.headers)
    page = client.post("/ask", data=big)
    assert page.status_code == 413 and "<html" in page.text


def test_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    response = client.post(
        "/api/ask", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413 and "error" in response.json()


def test_body_limit_comes_from_settings(index_root: Path, make_client) -> None:
    client = make_client(index_root, max_body_bytes=2048)
    assert client.post("/api/ask", json={"question": "y" * 900}).status_code == 200
    response = client.post("/api/ask", json={"question": "y" * 900, "sources": ["z" * 90] * 20})
    assert response.status_code == 413


def test_bad_content_length_is_refused(client: TestClient) -> None:
    response = client.post("/api/ask", content=b"{}", headers={"Content-Length": "abc"})
    assert response.status_code == 413


def test_overlong_query_string_is_414(client: TestClient) -> None:
    response = client.get("/api/search", params={"q": "x" * 5000})
    assert response.status_code == 414 and "too long" in response.json()["error"]
    assert client.get("/search", params={"q": "x" * 5000}).status_code == 414


def test_unhandled_error_is_a_generic_500_logged_without_the_question(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_embedder() -> None:
        # Built at run time: the traceback shows source lines, which must not spell it out.
        raise RuntimeError(" ".join(["internal", "detail", "about", SECRET_QUESTION]))

    client.app.dependency_overrides[get_embedder] = broken_embedder
    with caplog.at_level(logging.ERROR, logger="medcite.web"):
        api = client.post("/api/ask", json={"question": SECRET_QUESTION})
        page = client.post("/ask", data={"question": SECRET_QUESTION})
    for response in (api, page):
        assert response.status_code == 500
        assert_security_headers(response.headers)
        for leak in ("Traceback", "RuntimeError", "internal detail", SECRET_QUESTION, ".py"):
            assert leak not in response.text
    assert api.json() == {"error": "Something went wrong on our side. Please try again later."}
    assert "RuntimeError" in caplog.text and "/api/ask" in caplog.text
    assert SECRET_QUESTION not in caplog.text and "internal detail" not in caplog.text


def test_access_log_lines_lose_their_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/search?q=my+secret", "1.1", 200),
        None,
    )
    assert DropQueryString().filter(record)
    assert "secret" not in record.getMessage() and "/search" in record.getMessage()


def test_conversation_cookie_is_httponly_and_lax(client: TestClient) -> None:
    response = client.post("/ask", data={"question": "what is asthma?"})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie


def test_feedback_from_another_conversation_is_refused(make_client, fresh_index_root: Path) -> None:
    alice = make_client(fresh_index_root)
    mallory = TestClient(alice.app)  # same server, no conversation cookie
    page = alice.post("/ask", data={"question": "what is asthma?"}).text
    exchange = re.search(r'name="exchange" value="([^"]+)"', page).group(1)
    refused = mallory.post("/feedback", data={"exchange": exchange, "helpful": "no"})
    assert refused.status_code == 400
    assert alice.app.state.feedback.count() == 0
