"""The app in a real browser (Debian's Chromium driven by Playwright): with and without
JavaScript, safe with hostile text, accessible (axe-core), usable on a phone.

Run: ``.venv/bin/python -m pytest -q -m browser tests/test_web_browser.py``
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from medcite.index.testing import XSS_IMG, XSS_SCRIPT, FakeEmbedder, article, write_jsonl
from medcite.ingest.pipeline import ingest
from medcite.web.app import create_app
from medcite.web.config import Settings
from tests.support import CHROMIUM, CHROMIUM_ARGS, ServerThread

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def base_url(
    tmp_path_factory: pytest.TempPathFactory,
    corpus_articles: list[dict[str, Any]],
) -> Iterator[str]:
    """The app on its own index (feedback sent here stays here), with one long article so
    that scrolling to a highlighted quote means something."""
    paragraphs = [
        (
            "Overview" if n == 0 else f"Part {n}",
            f"Paragraph {n} of the long article says little of interest. " * 12,
        )
        for n in range(30)
    ]
    paragraphs.append(("Treatment", "The long condition is treated with rest and water."))
    long_article = article("LONG_1", "Long condition", paragraphs, source="CDC")
    root = tmp_path_factory.mktemp("browser") / "index"
    corpus = write_jsonl(root.parent / "corpus.jsonl", corpus_articles + [long_article])
    embedder = FakeEmbedder()
    ingest([corpus], root, embedder)
    app = create_app(Settings(index=root, embedder="fake"), embedder=embedder)
    with ServerThread(app) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watch:
    """What a page did that it should not: dialogs opened, CSP violations, script errors."""

    def __init__(self, page: Any) -> None:
        self.dialogs: list[str] = []
        self.problems: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: Any) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append(message.text)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.watch = Watch(page)
    yield page
    context.close()
    assert page.watch.dialogs == []
    assert page.watch.problems == []


def ask(page: Any, question: str, count: int) -> Any:
    """Ask with JavaScript on and wait for the ``count``-th exchange to arrive."""
    page.fill("#question", question)
    page.click("#ask-form button[type=submit]")
    page.wait_for_function(
        "n => document.querySelectorAll('#conversation > article').length >= n", arg=count
    )
    return page.locator("#conversation > article").nth(count - 1)


def wait_in_viewport(page: Any, selector: str) -> None:
    """Wait until ``selector`` is on screen (scrolling to an anchor may be animated)."""
    page.wait_for_function(
        """selector => {
            const box = document.querySelector(selector).getBoundingClientRect();
            return box.top >= 0 && box.bottom <= window.innerHeight && box.height > 0;
        }""",
        arg=selector,
    )


def test_asking_shows_quotes_with_citations_without_leaving_the_page(
    page: Any, base_url: str
) -> None:
    page.goto(base_url + "/")
    exchange = ask(page, "how is glaucoma treated?", 1)
    assert page.url == base_url + "/"
    assert exchange.locator("blockquote").first.inner_text().startswith("How is glaucoma treated")
    assert exchange.locator("a.cite").first.inner_text().startswith("[1]")
    assert exchange.locator("ol.sources li").count() >= 1
    assert page.input_value("#question") == ""
    follow = ask(page, "what are its symptoms?", 2)
    assert "Symptoms" in follow.locator("figcaption").first.inner_text()


def test_clicking_a_citation_shows_the_highlighted_quote_in_view(page: Any, base_url: str) -> None:
    page.goto(base_url + "/")
    quote = ask(page, "how is glaucoma treated?", 1).locator("blockquote").first.inner_text()
    page.click("#conversation a.cite")
    page.wait_for_url("**/doc/GLAU_1?start=*#quote")
    mark = page.locator("mark#quote")
    assert mark.inner_text() == quote
    wait_in_viewport(page, "mark#quote")

    document = httpx.get(base_url + "/api/doc/LONG_1").json()
    last = document["sections"][-1]
    page.goto(f"{base_url}/doc/LONG_1?start={last['start']}&end={last['end']}#quote")
    wait_in_viewport(page, "mark#quote")
    assert page.evaluate("window.scrollY") > 500


def test_feedback_buttons_say_thanks_in_place(page: Any, base_url: str) -> None:
    page.goto(base_url + "/")
    exchange = ask(page, "what is asthma?", 1)
    exchange.get_by_role("button", name="Helpful", exact=True).click()
    exchange.get_by_text("Thank you for your feedback").wait_for()
    assert page.url == base_url + "/"


def test_emergency_answer_is_an_alert(page: Any, base_url: str) -> None:
    page.goto(base_url + "/")
    exchange = ask(page, "my husband has crushing chest pain", 1)
    alert = exchange.get_by_role("alert")
    assert alert.is_visible()
    border = alert.evaluate("e => getComputedStyle(e.closest('article')).borderTopWidth")
    assert float(border.removesuffix("px")) >= 3


def test_staff_search_with_a_source_filter(page: Any, base_url: str) -> None:
    page.goto(base_url + "/search")
    page.fill("#q", "treated")
    page.select_option("#source", "NHLBI")
    page.click(".search-form button[type=submit]")
    page.wait_for_url("**/search?q=treated&source=NHLBI")
    titles = page.locator(".result-title a").all_inner_texts()
    assert titles and set(titles) == {"Asthma"}
    assert page.locator(".snippet mark").first.inner_text().lower() == "treated"
    copy = page.locator("button.copy-citation").first
    assert copy.is_visible()
    copy.click()
    status = page.locator(".copy-status").first
    page.wait_for_function("e => e.textContent.length > 0", arg=status.element_handle())


def test_everything_works_without_javascript(browser: Any, base_url: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(base_url + "/")
    page.fill("#question", "how is glaucoma treated?")
    page.click("#ask-form button[type=submit]")
    page.wait_for_load_state()
    assert page.url == base_url + "/ask"
    assert page.locator("#conversation blockquote").first.is_visible()
    page.fill("#question", "what are its symptoms?")
    page.click("#ask-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#conversation > article").count() == 2
    page.locator("#conversation > article").nth(1).get_by_role("button", name="Not helpful").click()
    page.wait_for_load_state()
    assert page.get_by_text("Thank you for your feedback").count() == 1
    page.goto(base_url + "/search?q=glaucoma")
    assert page.locator(".citation-text").first.is_visible()
    assert not page.locator("button.copy-citation").first.is_visible()
    context.close()


def test_hostile_text_is_shown_literally_and_runs_nothing(page: Any, base_url: str) -> None:
    page.goto(base_url + "/")
    hostile = f"what is {XSS_SCRIPT} {XSS_IMG}?"
    exchange = ask(page, hostile, 1)
    assert hostile in exchange.locator(".question").inner_text()
    quote = ask(page, "what is xsstopic?", 2).locator("blockquote").first.inner_text()
    assert XSS_SCRIPT in quote and XSS_IMG in quote
    page.goto(base_url + "/doc/XSS_1")
    assert page.get_by_role("heading", level=1).inner_text() == "Scripted <b>article</b>"
    assert XSS_IMG in page.locator(".article-text").inner_text()
    assert page.locator("a[href^='javascript:']").count() == 0
    page.goto(base_url + "/search?q=xsstopic")
    assert XSS_SCRIPT in page.locator(".snippet").first.inner_text()
    page.wait_for_timeout(200)  # give a payload that slipped through the time to fire


def axe_violations(page: Any) -> list[str]:
    page.add_script_tag(url="/static/vendor/axe.min.js")
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize(
    "setup",
    ["chat", "answered", "not covered", "emergency", "search", "article", "feedback", "error"],
)
def test_pages_have_no_serious_accessibility_violations(
    page: Any, base_url: str, setup: str
) -> None:
    if setup in ("chat", "answered", "not covered", "emergency"):
        page.goto(base_url + "/")
        question = {
            "answered": "how is glaucoma treated?",
            "not covered": "how do I fix my car?",
            "emergency": "my husband has crushing chest pain",
        }.get(setup)
        if question:
            ask(page, question, 1)
    elif setup == "search":
        page.goto(base_url + "/search?q=glaucoma")
        assert page.locator(".result").count() > 0
    elif setup == "article":
        page.goto(base_url + "/doc/GLAU_1?start=0&end=40#quote")
    elif setup == "feedback":
        page.goto(base_url + "/search/feedback")
    else:
        page.goto(base_url + "/doc/NOPE_1")
        page.watch.problems.clear()  # the 404 itself is logged by the browser
    assert axe_violations(page) == []


@pytest.mark.parametrize("path", ["/", "/search?q=glaucoma", "/doc/LONG_1", "/search/feedback"])
def test_pages_fit_a_phone_screen_without_sideways_scrolling(
    browser: Any, base_url: str, path: str
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(base_url + path)
    if path == "/":
        ask(page, "how is glaucoma treated?", 1)
        ask(page, "how do I fix my car?", 2)
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    context.close()
    assert overflow <= 0


def test_api_docs_render_offline_under_the_csp(page: Any, base_url: str) -> None:
    page.goto(base_url + "/docs")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock-summary-path", has_text="/api/ask").count() == 1
