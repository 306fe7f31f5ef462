"""Shared fixtures: a small corpus, indexes built from it with the fake embedder, and web clients.

The articles are short on purpose: with the hashing FakeEmbedder, short passages that repeat
their question score high enough for ``ask`` to answer, so the web tests see real quotes.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from medcite.index.testing import FakeEmbedder
from medcite.ingest.pipeline import ingest
from medcite.web.app import create_app
from medcite.web.config import Settings

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"


def article(
    doc_id: str, title: str, source: str, url: str, sections: list[tuple[str, str]]
) -> dict[str, Any]:
    """A corpus-format record (see corpus/README-data.md): sections joined by blank lines."""
    text, spans = "", []
    for number, (heading, body) in enumerate(sections, 1):
        if text:
            text += "\n\n"
        start = len(text)
        text += body
        spans.append(
            {"id": f"{doc_id}#{number}", "heading": heading, "start": start, "end": len(text)}
        )
    return {
        "id": doc_id,
        "title": title,
        "url": url,
        "source": source,
        "text": text,
        "sections": spans,
    }


ARTICLES = [
    article(
        "GLAU_1",
        "Glaucoma",
        "MPlus_Health_Topics",
        "https://medlineplus.gov/glaucoma.html",
        [
            (
                "Overview",
                "What is glaucoma: glaucoma is a group of eye diseases that damage the "
                "optic nerve. Glaucoma can cause blindness.",
            ),
            (
                "Symptoms",
                "What are the symptoms of glaucoma: glaucoma has no symptoms at first. "
                "Its symptoms later are loss of side vision.",
            ),
            (
                "Treatment",
                "How is glaucoma treated: glaucoma is treated with eye drops, laser "
                "treatment, or surgery.",
            ),
        ],
    ),
    article(
        "ASTH_1",
        "Asthma",
        "NHLBI",
        "https://www.nhlbi.nih.gov/health/asthma",
        [
            (
                "Overview",
                "What is asthma: asthma is a chronic lung disease that inflames and "
                "narrows the airways of the lungs.",
            ),
            (
                "Treatment",
                "How is asthma treated: asthma is treated with long-term control "
                "medicines and quick-relief inhalers.",
            ),
        ],
    ),
    article(
        "DIAB_1",
        "Diabetes",
        "NIDDK",
        "https://www.niddk.nih.gov/health-information/diabetes",
        [
            (
                "Overview",
                "What is diabetes: diabetes is a disease that occurs when your blood "
                "glucose, also called blood sugar, is too high.",
            ),
        ],
    ),
    article(
        "XSS_1",
        "Scripted <b>article</b>",
        "GARD",
        "javascript:alert(1)",
        [
            (
                "Overview",
                f"What is xsstopic: xsstopic is a test condition where {XSS_SCRIPT} and "
                f"{XSS_IMG} are shown as text.",
            ),
        ],
    ),
]


def write_corpus(path: Path, articles: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def corpus_articles() -> list[dict[str, Any]]:
    """The fixture corpus as records (a copy: add to it freely)."""
    return copy.deepcopy(ARTICLES)


@pytest.fixture(scope="session")
def make_article() -> Callable[..., dict[str, Any]]:
    """``make_article(doc_id, title, source, url, [(heading, text), ...])``."""
    return article


@pytest.fixture(scope="session")
def make_corpus() -> Callable[[Path, list[dict[str, Any]]], Path]:
    """``make_corpus(path, records)`` writes a corpus JSON Lines file."""
    return write_corpus


@pytest.fixture(scope="session")
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.jsonl", ARTICLES)


@pytest.fixture(scope="session")
def index_root(
    tmp_path_factory: pytest.TempPathFactory, corpus_file: Path, embedder: FakeEmbedder
) -> Path:
    """A built index shared by the session: tests must not write into it."""
    root = tmp_path_factory.mktemp("index") / "index"
    ingest([corpus_file], root, embedder)
    return root


@pytest.fixture
def fresh_index_root(tmp_path: Path, corpus_file: Path, embedder: FakeEmbedder) -> Path:
    """An index of this test's own, for tests that re-ingest or store feedback."""
    root = tmp_path / "index"
    ingest([corpus_file], root, embedder)
    return root


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(embedder: FakeEmbedder) -> Iterator[ClientFactory]:
    """``make_client(index_root, **settings)``: a started app (lifespan run) with the fake
    embedder; closed when the test ends."""
    with ExitStack() as stack:

        def factory(root: Path, **overrides: Any) -> TestClient:
            settings = Settings(index=root, embedder="fake", **overrides)
            app = create_app(settings, embedder=embedder)
            return stack.enter_context(TestClient(app, raise_server_exceptions=False))

        yield factory


@pytest.fixture
def client(make_client: ClientFactory, index_root: Path) -> TestClient:
    return make_client(index_root)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """With MEDCITE_REQUIRE_SLOW=1 (scripts/test.sh sets it), a real-model test that skips
    fails instead: CI must not pass by quietly not running the real model."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and os.environ.get("MEDCITE_REQUIRE_SLOW") == "1"
        and item.get_closest_marker("slow") is not None
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"a real-model test skipped under MEDCITE_REQUIRE_SLOW=1: {report.longrepr}"
        )
