"""Screenshots of the web app for the README: docs/chat.png, docs/search.png, docs/article.png
and docs/chat-mobile.png.

Starts the real app (with the configured embedder) on a free loopback port, drives Debian's
Chromium with Playwright, and stops the app again. If the index directory holds no index yet,
one is built first from --corpus.

    .venv/bin/python scripts/screenshots.py          # index and embedder from $MEDCITE_*
    .venv/bin/python scripts/screenshots.py --index medcite-index --embedder fake
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


import httpx  # noqa: E402

from medcite.index.embedder import make_embedder  # noqa: E402
from medcite.index.errors import IndexMissingError  # noqa: E402
from medcite.index.layout import current_model, open_generation  # noqa: E402
from medcite.ingest.pipeline import ingest  # noqa: E402
from medcite.web.app import create_app  # noqa: E402
from medcite.web.config import Settings  # noqa: E402
from tests.support import CHROMIUM, CHROMIUM_ARGS, ServerThread  # noqa: E402


def parse_args(settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=settings.index, help="index directory")
    parser.add_argument(
        "--embedder",
        default=settings.embedder,
        help="auto (the index's own), minilm-int8, minilm or fake",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=REPO / "quickstart" / "corpus.jsonl",
        help="what to ingest when the index directory holds no index",
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="where the PNGs go")
    parser.add_argument(
        "--question",
        default=(
            "my toddler has a barking cough thats worse at night, doc said croup. "
            "how long does croup usually last"
        ),
    )
    parser.add_argument("--search", default="glaucoma")
    return parser.parse_args()


def ensure_index(root: Path, corpus: Path, embedder: Any) -> None:
    try:
        open_generation(root)
    except IndexMissingError:
        print(f"no index at {root}: ingesting {corpus} ...", file=sys.stderr)
        ingest([corpus], root, embedder)


def ask(page: Any, question: str) -> Any:
    page.fill("#question", question)
    page.click("#ask-form button[type=submit]")
    page.locator("#conversation > article").last.wait_for()
    return page.locator("#conversation > article").last


def take(base: str, out: Path, question: str, query: str) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        desktop = browser.new_context(viewport={"width": 1280, "height": 900})
        page = desktop.new_page()
        page.goto(base + "/")
        exchange = ask(page, question)
        page.screenshot(path=out / "chat.png", full_page=True)

        cite = exchange.locator("a.cite")
        if cite.count():
            cite.first.click()
        else:
            print(
                f"{question!r} was not answered here; article.png shows the top search hit",
                file=sys.stderr,
            )
            page.goto(f"{base}/search?q={query}")
            page.locator(".result-title a").first.click()
        page.wait_for_url("**/doc/**")
        page.wait_for_timeout(600)  # let the smooth scroll to #quote finish
        page.screenshot(path=out / "article.png")

        page.goto(f"{base}/search?q={query}")
        page.screenshot(path=out / "search.png", full_page=True)
        desktop.close()

        mobile = browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2
        )
        page = mobile.new_page()
        page.goto(base + "/")
        ask(page, question)
        page.screenshot(path=out / "chat-mobile.png", full_page=True)
        mobile.close()
        browser.close()


def main() -> int:
    settings = Settings()
    args = parse_args(settings)
    embedder = make_embedder(args.embedder, index_model=current_model(args.index))
    ensure_index(args.index, args.corpus, embedder)
    app = create_app(
        settings.model_copy(update={"index": args.index, "embedder": args.embedder}),
        embedder=embedder,
    )
    with ServerThread(app) as server:
        ready = httpx.get(server.url + "/readyz", timeout=10)
        if ready.status_code != 200:
            raise SystemExit(f"the app is not ready: {ready.text}")
        take(server.url, args.out, args.question, args.search)
    for name in ("chat.png", "search.png", "article.png", "chat-mobile.png"):
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
