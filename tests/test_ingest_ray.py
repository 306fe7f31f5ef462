"""Ingest on a local Ray (2 CPUs): the same index as the in-process ingest, incremental, and
all-or-nothing. Runs on ../shared/corpus/sample when it is there, else on the first 200
articles of the bundled quickstart corpus."""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from medcite.index import layout
from medcite.index.embedder import make_embedder
from medcite.index.testing import FakeEmbedder, write_jsonl
from medcite.ingest.pipeline import ingest

pytestmark = pytest.mark.ray
pytest.importorskip("ray", reason="the ray extra is not installed")

from medcite.ingest.ray_executor import RayError, RayExecutor  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "corpus" / "sample" / "corpus.jsonl"
QUICKSTART = REPO / "quickstart" / "corpus.jsonl"


@pytest.fixture(scope="module")
def articles() -> list[dict[str, object]]:
    source = SAMPLE if SAMPLE.is_file() else QUICKSTART
    lines = source.read_text(encoding="utf-8").splitlines()[:200]
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    import ray

    yield
    ray.shutdown()


def executor(kind: str = "fake") -> RayExecutor:
    return RayExecutor(partial(make_embedder, kind, threads=1), num_cpus=2)


def contents(root: Path) -> dict[str, list[tuple[object, ...]]]:
    """Everything an index generation stores, in a fixed order."""
    directory = layout.current_generation(root)
    assert directory is not None
    conn = sqlite3.connect(directory / layout.STORE_FILE)
    try:
        return {
            "documents": conn.execute("SELECT * FROM documents ORDER BY id").fetchall(),
            "passages": conn.execute(
                "SELECT id, doc_id, start_char, end_char, section_id, heading, embed_key,"
                " vector FROM passages ORDER BY doc_id, start_char"
            ).fetchall(),
            "labels": conn.execute("SELECT * FROM labels ORDER BY key").fetchall(),
            "words": conn.execute("SELECT * FROM words ORDER BY word").fetchall(),
        }
    finally:
        conn.close()


def test_a_ray_ingest_equals_the_in_process_one(
    ray_session: None, articles: list[dict[str, object]], tmp_path: Path
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", articles)
    on_ray = ingest([corpus], tmp_path / "ray", FakeEmbedder(), executor=executor())
    local = ingest([corpus], tmp_path / "local", FakeEmbedder())
    assert on_ray.passages_embedded == local.passages_embedded == on_ray.passages_total > 200
    assert contents(tmp_path / "ray") == contents(tmp_path / "local")

    # Incremental: one changed article, only its passages are embedded again.
    changed = copy.deepcopy(articles)
    # Same length, so the article's section offsets still hold.
    changed[0]["text"] = str(changed[0]["text"]).replace(" the ", " THE ", 1)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", changed)
    on_ray = ingest([corpus], tmp_path / "ray", FakeEmbedder(), executor=executor())
    local = ingest([corpus], tmp_path / "local", FakeEmbedder())
    assert (on_ray.updated, on_ray.unchanged) == (1, len(articles) - 1)
    assert 0 < on_ray.passages_embedded == local.passages_embedded <= 5
    assert contents(tmp_path / "ray") == contents(tmp_path / "local")


def test_a_failed_ray_ingest_leaves_the_index_serving(
    ray_session: None, articles: list[dict[str, object]], tmp_path: Path
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", articles[:20])
    root = tmp_path / "ix"
    ingest([corpus], root, FakeEmbedder())
    before = layout.current_generation(root)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", articles[:40])
    broken = RayExecutor(partial(make_embedder, "no-such-encoder"), num_cpus=2)
    with pytest.raises(RayError, match="embedding passages"):
        ingest([corpus], root, FakeEmbedder(), executor=broken)
    assert layout.current_generation(root) == before
    assert contents(root)["documents"] and len(contents(root)["documents"]) == 20


@pytest.mark.slow
def test_the_int8_encoder_on_ray_gives_the_same_vectors(
    ray_session: None, articles: list[dict[str, object]], tmp_path: Path
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", articles[:15])
    model = make_embedder("minilm-int8", threads=1)
    ingest([corpus], tmp_path / "ray", model, executor=executor("minilm-int8"))
    ingest([corpus], tmp_path / "local", model)
    assert contents(tmp_path / "ray") == contents(tmp_path / "local")
