"""Shared fixtures: the fixture corpus (``medcite.index.testing.CORPUS``), indexes built from it
with the fake embedder, web clients, and databases (SQLite, and PostgreSQL when Debian's server
binaries are installed). The server thread and the PostgreSQL server are in
``tests/support.py``."""

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
from medcite.index.stores import publish
from medcite.index.testing import CORPUS, FakeEmbedder, write_jsonl
from medcite.ingest.pipeline import ingest
from medcite.web.app import create_app
from medcite.web.config import Settings
from tests.support import STORES, PostgresServer, store_for

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


@pytest.fixture(scope="session")
def index_in_milvus(index_root: Path) -> str:
    """``index_root`` published into a Milvus Lite file; its URI."""
    config = store_for(index_root, "milvus")
    publish(index_root, config)
    return config.uri


@pytest.fixture(params=STORES)
def client(
    request: pytest.FixtureRequest, make_client: ClientFactory, index_root: Path
) -> TestClient:
    """A client of the shared index, served from each store in turn."""
    if request.param == "milvus":
        uri = request.getfixturevalue("index_in_milvus")
        return make_client(index_root, store="milvus", milvus_uri=uri)
    return make_client(index_root)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session; the tests that need it skip without Debian's
    postgresql package (scripts/test.sh installs it) or psycopg."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[test]')")
    bin_dir = PostgresServer.find_binaries()
    if bin_dir is None:
        pytest.skip(
            "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install"
            " postgresql)"
        )
    with PostgresServer(bin_dir) as server:
        yield server


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database of this test's own: an SQLite file, then a PostgreSQL
    database (the test runs once with each)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """With MEDCITE_REQUIRE_SLOW=1 (scripts/test.sh sets it), a real-model or PostgreSQL test
    that skips fails instead: CI must not pass by quietly not running the real model, or by
    testing the shared stores on SQLite alone."""
    outcome = yield
    report = outcome.get_result()
    required = ("slow", "postgres", "milvus", "ray")
    if (
        report.skipped
        and os.environ.get("MEDCITE_REQUIRE_SLOW") == "1"
        and any(item.get_closest_marker(name) is not None for name in required)
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"a real-model, PostgreSQL, Milvus or Ray test skipped under MEDCITE_REQUIRE_SLOW=1:"
            f" {report.longrepr}"
        )
