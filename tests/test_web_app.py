"""The pages: patient chat (with and without htmx), article view, staff search, readiness."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medcite.chat.answer import MAX_QUESTION_CHARS
from medcite.index.reader import open_index
from medcite.index.testing import XSS_IMG, XSS_SCRIPT, FakeEmbedder, article, write_jsonl
from medcite.ingest.pipeline import ingest

HX = {"HX-Request": "true"}


def blockquotes(page: str) -> list[str]:
    return [html.unescape(q) for q in re.findall(r"<blockquote>(.*?)</blockquote>", page, re.S)]


def cite_links(page: str) -> list[tuple[str, int, int]]:
    return [
        (doc_id, int(start), int(end))
        for doc_id, start, end in re.findall(
            r'class="cite" href="/doc/([^"?]+)\?start=(\d+)&amp;end=(\d+)#quote"', page
        )
    ]


# --- patient chat ---------------------------------------------------------------------------


def test_chat_page_has_labelled_question_box_and_disclaimer(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert '<label for="question">' in page.text
    assert 'name="viewport"' in page.text
    assert 'aria-live="polite"' in page.text
    assert "not medical advice" in page.text


def test_asking_shows_verbatim_quotes_with_numbered_citations(
    client: TestClient, index_root: Path
) -> None:
    page = client.post("/ask", data={"question": "how is glaucoma treated?"})
    assert page.status_code == 200
    assert "<html" in page.text  # without htmx: the whole page
    quotes, links = blockquotes(page.text), cite_links(page.text)
    assert quotes and len(quotes) == len(links)
    index = open_index(index_root)
    for quote, (doc_id, start, end) in zip(quotes, links, strict=True):
        document = index.document(doc_id)
        assert document is not None
        assert document.text[start:end] == quote
    assert "[1]" in page.text
    assert "Sources" in page.text
    assert 'href="https://medlineplus.gov/glaucoma.html"' in page.text
    assert "Treatment" in page.text


def test_htmx_ask_returns_only_the_new_exchange(client: TestClient) -> None:
    fragment = client.post("/ask", data={"question": "what is asthma?"}, headers=HX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert fragment.text.lstrip().startswith("<article")
    assert blockquotes(fragment.text)


def test_follow_up_question_uses_the_conversations_last_topic(client: TestClient) -> None:
    client.post("/ask", data={"question": "what is glaucoma?"}, headers=HX)
    follow_up = client.post("/ask", data={"question": "what are its symptoms?"}, headers=HX)
    assert "Read as: what are its symptoms? (Glaucoma)" in html.unescape(follow_up.text)
    # Every quote is from the glaucoma article (one or two: a second sentence of the passage).
    assert {doc for doc, _, _ in cite_links(follow_up.text)} == {"GLAU_1"}


def test_conversation_page_shows_earlier_exchanges_from_the_cookie(client: TestClient) -> None:
    client.post("/ask", data={"question": "what is glaucoma?"})
    page = client.post("/ask", data={"question": "what is diabetes?"})
    assert page.text.count('class="exchange ') == 2
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/").text.count('class="exchange ') == 2
    assert TestClient(client.app).get("/").text.count('class="exchange ') == 0  # no cookie


def test_not_covered_answer_says_so_and_offers_topics_to_ask_about(client: TestClient) -> None:
    page = client.post("/ask", data={"question": "how do I fix my car?"}).text
    assert "Not covered." in page
    assert "<blockquote>" not in page
    suggestions = re.findall(r'name="question" value="([^"]+)"', page)
    assert "What is Glaucoma?" in suggestions
    assert 'action="/ask"' in page


def test_emergency_answer_is_an_alert_with_its_message_first(client: TestClient) -> None:
    page = client.post("/ask", data={"question": "I have crushing chest pain right now"}).text
    assert "exchange-emergency" in page
    alert = page.index('role="alert"')
    assert page.index('class="emergency-message"') > alert
    assert "<blockquote>" not in page


@pytest.mark.parametrize("question", ["", "   ", "x" * (MAX_QUESTION_CHARS + 1)])
def test_empty_or_overlong_question_is_a_400_page(client: TestClient, question: str) -> None:
    page = client.post("/ask", data={"question": question})
    assert page.status_code == 400
    assert "<html" in page.text
    assert "question" in page.text


def test_htmx_error_is_a_fragment_announced_as_alert(client: TestClient) -> None:
    fragment = client.post("/ask", data={"question": " "}, headers=HX)
    assert fragment.status_code == 400
    assert "<html" not in fragment.text and 'role="alert"' in fragment.text


def test_question_text_with_markup_is_shown_as_text(client: TestClient) -> None:
    page = client.post("/ask", data={"question": f"what is {XSS_SCRIPT} glaucoma?"}).text
    assert XSS_SCRIPT not in page
    assert html.escape(XSS_SCRIPT) in page


# --- article view ---------------------------------------------------------------------------


def test_article_view_highlights_the_cited_span(client: TestClient, index_root: Path) -> None:
    document = open_index(index_root).document("GLAU_1")
    assert document is not None
    treatment = document.sections[2]
    page = client.get(f"/doc/GLAU_1?start={treatment.start}&end={treatment.end}")
    assert page.status_code == 200
    marked = re.findall(r'<mark id="quote"[^>]*>(.*?)</mark>', page.text, re.S)
    assert [html.unescape(m) for m in marked] == [document.text[treatment.start : treatment.end]]
    for section in document.sections:
        assert f"<h2>{section.heading}</h2>" in page.text
    assert f"Source: {document.source}. <a" in page.text  # not "NEI.Original page"


def test_article_view_without_offsets_has_no_highlight(client: TestClient) -> None:
    page = client.get("/doc/ASTH_1")
    assert page.status_code == 200
    assert "<mark" not in page.text
    assert "Asthma" in page.text


def test_highlight_across_a_section_boundary_marks_both_parts(client: TestClient) -> None:
    page = client.get("/doc/GLAU_1?start=50&end=150").text
    assert page.count("<mark") == 2 and page.count('id="quote"') == 1


@pytest.mark.parametrize(
    "query",
    [
        "start=-1&end=5",
        "start=9&end=3",
        "start=4&end=4",
        "start=0&end=99999",
        "start=a&end=5",
        "start=1.5&end=5",
        "start=3",
        "end=3",
    ],
)
def test_invalid_offsets_are_a_400_that_says_what_is_allowed(
    client: TestClient, query: str
) -> None:
    page = client.get(f"/doc/GLAU_1?{query}")
    assert page.status_code == 400
    assert "start and end must both be whole numbers" in page.text
    assert "/doc/GLAU_1" in page.text


@pytest.mark.parametrize(
    "path",
    [
        "/doc/NOPE_1",
        "/doc/../etc/passwd",
        "/doc/..%2F..%2Fetc%2Fpasswd",
        "/doc/%2E%2E",
        "/doc/%2Fetc%2Fpasswd",
        "/doc/a%20b",
        "/doc/" + "A" * 300,
    ],
)
def test_unknown_or_malformed_article_ids_are_404(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 404
    assert "root:" not in page.text


def test_article_with_markup_and_script_url_is_inert(client: TestClient) -> None:
    page = client.get("/doc/XSS_1").text
    assert XSS_SCRIPT not in page and XSS_IMG not in page
    assert html.escape(XSS_SCRIPT) in page and html.escape(XSS_IMG) in page
    assert "Scripted &lt;b&gt;article&lt;/b&gt;" in page
    assert "javascript:" not in page


# --- staff search ---------------------------------------------------------------------------


def test_search_page_lists_results_with_marked_terms_and_citations(client: TestClient) -> None:
    page = client.get("/search", params={"q": "glaucoma treated"})
    assert page.status_code == 200
    assert "<mark>glaucoma</mark>" in page.text.lower()
    assert "<mark>treated</mark>" in page.text
    assert re.search(r"\d+ passages? .*in \d+ ms", page.text)
    assert 'class="copy-citation' in page.text and "Citation:" in page.text
    assert '<option value="NHLBI">' in page.text


def test_search_source_filter_keeps_only_that_source(client: TestClient) -> None:
    page = client.get("/search", params={"q": "treated", "source": "NHLBI"}).text
    titles = re.findall(r'class="result-title"><a href="/doc/([A-Z_0-9]+)', page)
    assert titles and set(titles) == {"ASTH_1"}
    assert '<option value="NHLBI" selected>' in page


def test_search_page_escapes_corpus_markup(client: TestClient) -> None:
    page = client.get("/search", params={"q": "xsstopic"}).text
    assert XSS_SCRIPT not in page and XSS_IMG not in page
    assert "&lt;script&gt;" in page
    assert "javascript:" not in page


def test_search_without_query_shows_just_the_form(client: TestClient) -> None:
    page = client.get("/search")
    assert page.status_code == 200 and 'class="results"' not in page.text


@pytest.mark.parametrize("page", ["0", "11", "x"])
def test_search_bad_page_number_is_400(client: TestClient, page: str) -> None:
    assert client.get("/search", params={"q": "glaucoma", "page": page}).status_code == 400


def test_search_paginates_ten_per_page(tmp_path: Path, make_client, embedder: FakeEmbedder) -> None:
    many = [
        article(
            f"COUGH_{n}",
            f"Cough type {n}",
            [("Overview", f"Cough type {n} is a cough.")],
            source="CDC",
        )
        for n in range(23)
    ]
    ingest([write_jsonl(tmp_path / "c.jsonl", many)], tmp_path / "index", embedder)
    client = make_client(tmp_path / "index")
    first = client.get("/search", params={"q": "cough"}).text
    third = client.get("/search", params={"q": "cough", "page": 3}).text
    assert first.count('class="result"') == 10
    assert third.count('class="result"') == 3 and '<ol class="results" start="21">' in third
    assert 'rel="next"' in first and 'rel="prev"' in third


# --- readiness and reload -------------------------------------------------------------------


def test_missing_index_starts_but_is_not_ready(tmp_path: Path, make_client) -> None:
    client = make_client(tmp_path / "no-index")
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "the index is not ready: no index at" in ready.json()["error"]
    page = client.get("/")
    assert page.status_code == 503 and "the index is not ready" in page.text.lower()
    assert client.get("/api/search", params={"q": "x"}).status_code == 503
    assert client.post("/ask", data={"question": "what is glaucoma?"}).status_code == 503


def test_corrupt_index_is_not_ready_with_the_reason(
    tmp_path: Path, fresh_index_root: Path, make_client
) -> None:
    store = next(fresh_index_root.glob("gen-*/store.sqlite"))
    store.write_bytes(store.read_bytes()[:-10] + b"0123456789")
    ready = make_client(fresh_index_root).get("/readyz")
    assert ready.status_code == 503 and "corrupt" in ready.json()["error"]


def test_index_built_by_another_model_is_not_ready(index_root: Path, make_client) -> None:
    from medcite.web.app import create_app
    from medcite.web.config import Settings

    app = create_app(
        Settings(index=index_root, embedder="fake"), embedder=FakeEmbedder(name="other")
    )
    with TestClient(app) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503 and "embedding model" in ready.json()["error"]


@pytest.fixture
def reingest_with_cataract(tmp_path: Path, corpus_articles, embedder: FakeEmbedder):
    """Re-ingest the corpus plus a new article (CAT_1) into an index: a new generation."""

    def run(root: Path) -> None:
        extra = article(
            "CAT_1", "Cataract", [("Overview", "A cataract is a cloudy lens.")], source="NEI"
        )
        ingest([write_jsonl(tmp_path / "more.jsonl", corpus_articles + [extra])], root, embedder)

    return run


def test_reload_swaps_in_the_new_generation(
    fresh_index_root: Path, make_client, reingest_with_cataract
) -> None:
    client = make_client(fresh_index_root)
    assert client.get("/readyz").json()["generation"] == 1
    reingest_with_cataract(fresh_index_root)
    assert client.get("/api/doc/CAT_1").status_code == 404  # still serving generation 1
    reloaded = client.post("/api/admin/reload")
    assert reloaded.status_code == 200
    assert reloaded.json() == {
        "generation": 2,
        "previous_generation": 1,
        "documents": 5,
        "passages": reloaded.json()["passages"],
    }
    assert client.get("/api/doc/CAT_1").status_code == 200
    assert client.get("/readyz").json()["generation"] == 2


def test_requests_in_flight_keep_the_index_they_started_with(
    fresh_index_root: Path, make_client, reingest_with_cataract
) -> None:
    client = make_client(fresh_index_root)
    holder = client.app.state.index_holder
    in_flight = holder.current()
    reingest_with_cataract(fresh_index_root)
    client.post("/api/admin/reload")
    assert holder.current() is not in_flight
    assert in_flight.document("GLAU_1") is not None  # the old object still works
    assert in_flight.document("CAT_1") is None


def test_failed_reload_keeps_serving_the_old_index(fresh_index_root: Path, make_client) -> None:
    client = make_client(fresh_index_root)
    (fresh_index_root / "CURRENT").write_text("gen-000099\n")
    failed = client.post("/api/admin/reload")
    assert failed.status_code == 503 and "gen-000099" in failed.json()["error"]
    assert client.get("/readyz").status_code == 200
    assert client.get("/doc/GLAU_1").status_code == 200


def test_reload_makes_a_missing_index_ready(
    tmp_path: Path, make_client, corpus_file: Path, embedder: FakeEmbedder
) -> None:
    root = tmp_path / "later"
    client = make_client(root)
    assert client.get("/readyz").status_code == 503
    ingest([corpus_file], root, embedder)
    assert client.post("/api/admin/reload").json()["previous_generation"] is None
    assert client.get("/readyz").status_code == 200


def test_staff_pages_need_the_staff_password_when_one_is_set(index_root: Path, make_client) -> None:
    client = make_client(index_root, staff_password="s3cret")
    denied = client.get("/search", params={"q": "glaucoma"})
    assert denied.status_code == 401 and "Basic" in denied.headers["www-authenticate"]
    assert client.get("/search/feedback").status_code == 401
    assert client.post("/api/admin/reload").status_code == 401
    assert client.get("/search", auth=("staff", "wrong")).status_code == 401
    assert (
        client.get("/search", params={"q": "glaucoma"}, auth=("staff", "s3cret")).status_code == 200
    )
    bearer = {"Authorization": "Bearer s3cret"}
    assert client.post("/api/admin/reload", headers=bearer).status_code == 200
    assert client.get("/").status_code == 200  # patients never need it


def test_vendored_static_files_are_served(client: TestClient) -> None:
    for path in (
        "/static/medcite.css",
        "/static/medcite.js",
        "/static/vendor/htmx.min.js",
        "/static/vendor/swagger/swagger-ui-bundle.js",
        "/static/docs.js",
    ):
        assert client.get(path).status_code == 200, path


def test_quotes_from_one_section_are_one_source_with_a_link_for_each() -> None:
    """Three quotes from Glaucoma's Overview and one from its Treatment: two sources, the
    first linking each of its quotes' spans."""
    from medcite.chat.types import ANSWERED, Answer, Citation, Quote
    from medcite.web.app import make_templates

    # Articles repeat headings: two sections called "Overview" read as one to a reader.
    spans = [("GLAU_1#1", "Overview", 0, 10), ("GLAU_1#3", "Treatment", 50, 60)]
    spans += [("GLAU_1#1", "Overview", 20, 30), ("GLAU_1#4", "Overview", 31, 40)]
    quotes, citations = [], []
    for number, (section, heading, start, end) in enumerate(spans, 1):
        quotes.append(Quote("text", "GLAU_1", start, end, section, heading, number, 1.0))
        citations.append(
            Citation(number, "GLAU_1", "Glaucoma", "", "NEI", heading, section, start, end)
        )
    answer = Answer("q", ANSWERED, quotes=tuple(quotes), citations=tuple(citations))
    page = make_templates("disclaimer", "NIH").get_template("_quotes.html").render(answer=answer)
    items = re.findall(r"<li value=\"(\d+)\">(.*?)</li>", page, re.S)
    assert [value for value, _ in items] == ["1", "2"]
    overview, treatment = items[0][1], items[1][1]
    assert "Overview" in overview and "Treatment" in treatment
    assert re.findall(r"start=(\d+)&amp;end=\d+#quote\">\[(\d)\]", overview) == [
        ("0", "1"),
        ("20", "3"),
        ("31", "4"),
    ]
    assert "Quotes" not in treatment
    assert "[4]</a>.</span> " in overview  # a space before whatever follows
