"""Shared fixtures: the fixture corpus (``medcite.index.testing.CORPUS``), indexes built from it
with the fake embedder, and web clients. The server thread is in ``tests/support.py``."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from medcite.chat import calibration
from medcite.chat.answer import AbstainPolicy
from medcite.index.testing import CORPUS, FakeEmbedder, write_jsonl
from medcite.ingest.pipeline import ingest
from medcite.web.app import create_app
from medcite.web.config import Settings

# The fake embedder's cosines are not the real model's, so the shipped policy (fitted on real
# evidence) means nothing for its indexes. Unit tests answer by a fixed policy of their own:
# the first shipped fit, which answers the fixture corpus's questions and refuses drug names.
FAKE_INDEX_POLICY = AbstainPolicy(
    -10.28, 14.74, 5.99, -2.4, 0.5, source="tests: the policy for fake-embedder indexes"
)


@pytest.fixture(autouse=True)
def fake_index_policy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexes without their own policy file answer by ``FAKE_INDEX_POLICY``, except in the
    real-model tests, which use the shipped one."""
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setattr(calibration, "DEFAULT_POLICY", FAKE_INDEX_POLICY)


@pytest.fixture(scope="session")
def corpus_articles() -> list[dict[str, Any]]:
    """The fixture corpus as records (a copy: add to it freely)."""
    return copy.deepcopy(CORPUS)


@pytest.fixture(scope="session")
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "corpus.jsonl", CORPUS)


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
