"""The Milvus store (through Milvus Lite): the same index as the embedded store, published
all-or-nothing, one generation at a time. The shared retrieval, answer, eval and web tests run
against both stores through the ``STORES`` fixtures; these check what only Milvus has."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medcite.chat.answer import AbstainPolicy
from medcite.chat.calibration import Calibration, policy_file, policy_for, save_for_index
from medcite.chat.retrieve import search
from medcite.index import milvus
from medcite.index.errors import IndexMissingError
from medcite.index.reader import open_index
from medcite.index.stores import StoreConfig, milvus_client, open_store, publish
from medcite.index.testing import CORPUS, FakeEmbedder, article, write_jsonl
from medcite.ingest.pipeline import ingest
from medcite.web import cli
from tests.support import store_for

pytestmark = pytest.mark.milvus
pytest.importorskip("pymilvus", reason="the milvus extra is not installed")

QUERIES = [
    "glaucoma treated with eye drops",
    "what are the symptoms of diabetes",
    "asthma inhaler",
    "vision airways diabetes treated",
]


def by_score(found: list[tuple[int, float]]) -> list[tuple[float, int]]:
    return sorted((-round(score, 5), rowid) for rowid, score in found)


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, StoreConfig]:
    """An index built from the fixture corpus, and a Milvus Lite store of its own."""
    root = tmp_path / "ix"
    ingest([write_jsonl(tmp_path / "corpus.jsonl", CORPUS)], root, FakeEmbedder())
    return root, store_for(root, "milvus")


def test_split_text_keeps_every_character_within_the_byte_limit() -> None:
    text = "é" * 50 + "a" * 70 + "漢字" * 40
    parts = milvus.split_text(text, limit=64)
    assert "".join(parts) == text
    assert all(len(part.encode("utf-8")) <= 64 for part in parts) and len(parts) > 3
    assert milvus.split_text("") == [""]


def test_filter_expressions_quote_what_they_are_given() -> None:
    assert milvus.filter_expression() == ""
    expression = milvus.filter_expression(['NIH "A"'], ["d\\1"])
    assert expression == 'source in ["NIH \\"A\\""] and doc_id in ["d\\\\1"]'


def test_milvus_serves_what_the_embedded_store_serves(built: tuple[Path, StoreConfig]) -> None:
    root, config = built
    assert publish(root, config) == 1
    embedded, served = open_index(root), open_store(root, config)
    assert served.manifest == embedded.manifest
    assert served.vocabulary == embedded.vocabulary
    assert served.titles() == embedded.titles()
    assert served.sources() == embedded.sources()
    for doc_id, _ in embedded.titles():
        assert served.document(doc_id) == embedded.document(doc_id)
    embedder = FakeEmbedder()
    for query in QUERIES:
        vector = embedder.embed([query])[0]
        # Vector search is exact here (HNSW over a few passages): same passages, same cosines
        # (passages of equal cosine may come in either order).
        dense = embedded.dense(vector, 10)
        assert by_score(served.dense(vector, 10)) == by_score(dense)
        rowids = [r for r, _ in dense]
        assert served.dense_scores(vector, rowids) == pytest.approx(
            embedded.dense_scores(vector, rowids)
        )
        assert served.label_scores(vector, rowids) == pytest.approx(
            embedded.label_scores(vector, rowids), abs=1e-6
        )
        # BM25 is Milvus's own: the same passages are found, first the same one.
        lexical, found = embedded.lexical(query, 10), served.lexical(query, 10)
        assert found[0][0] == lexical[0][0] and {r for r, _ in found} == {r for r, _ in lexical}
        assert all(score > 0 for _, score in found)
        assert served.hits(dense) == embedded.hits(dense)
        # Hybrid mixes in BM25 scores, which differ a little: the same article comes first.
        want = search(embedded, embedder, query, k=5, mode="hybrid")
        assert search(served, embedder, query, k=5, mode="hybrid")[0].title == want[0].title


def test_a_long_document_round_trips_in_parts(tmp_path: Path) -> None:
    body = "Ünïcode text about glaucoma treatment and eye pressure. " * 3000  # ~170 kB
    records = copy.deepcopy(CORPUS) + [article("LONG_1", "Long", [("Overview", body)])]
    root = tmp_path / "ix"
    ingest([write_jsonl(tmp_path / "corpus.jsonl", records)], root, FakeEmbedder())
    config = store_for(root, "milvus")
    publish(root, config)
    assert open_store(root, config).document("LONG_1") == open_index(root).document("LONG_1")


def test_a_new_generation_is_published_and_old_ones_dropped(
    built: tuple[Path, StoreConfig], tmp_path: Path
) -> None:
    root, config = built
    client = milvus_client(config.uri, config.token)
    assert publish(root, config) == 1
    assert publish(root, config) is None  # already served
    first = open_store(root, config)
    records = copy.deepcopy(CORPUS)
    for number in (2, 3):
        records[0]["text"] += f" Revision {number}."
        ingest([write_jsonl(tmp_path / "corpus.jsonl", records)], root, FakeEmbedder())
        assert publish(root, config) == number
    assert milvus.served_generation(client, config.name) == 3
    kept = {name for name in client.list_collections() if name.startswith(config.name)}
    assert kept == {milvus.collection_name(config.name, n, k) for n in (2, 3) for k in milvus.KINDS}
    latest = open_store(root, config)
    assert latest.generation == 3 and first.generation == 1
    assert "Revision 3." in (latest.document(records[0]["id"]) or CORPUS[0]).text


def test_a_failed_publish_leaves_the_previous_generation_serving(
    built: tuple[Path, StoreConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, config = built
    publish(root, config)
    records = copy.deepcopy(CORPUS)
    records[0]["text"] += " A change."
    ingest([write_jsonl(tmp_path / "corpus.jsonl", records)], root, FakeEmbedder())
    client = milvus_client(config.uri, config.token)
    real_insert = client.insert

    def failing_insert(collection: str, rows: list[dict[str, Any]]) -> Any:
        if collection.endswith("_documents"):
            raise RuntimeError("disk full")
        return real_insert(collection, rows)

    monkeypatch.setattr(client, "insert", failing_insert)
    with pytest.raises(milvus.MilvusError, match="disk full.*previous generation is still"):
        publish(root, config)
    assert milvus.served_generation(client, config.name) == 1
    hits = search(open_store(root, config), FakeEmbedder(), "glaucoma eye drops", k=1)
    assert hits[0].passage.doc_id == "GLAU_1"
    monkeypatch.undo()
    assert publish(root, config) == 2  # the next run publishes what failed


def test_a_missing_index_or_server_is_a_clear_error(tmp_path: Path) -> None:
    config = StoreConfig("milvus", uri=str(tmp_path / "empty.db"), name="nothing_here")
    with pytest.raises(IndexMissingError, match="no medcite index named 'nothing_here'"):
        open_store(tmp_path, config)
    with pytest.raises(milvus.MilvusError, match="cannot connect to Milvus"):
        milvus.connect(str(tmp_path / "no" / "such" / "dir" / "x.db"))


def test_calibration_is_stored_in_milvus_and_carried_forward(
    built: tuple[Path, StoreConfig], tmp_path: Path
) -> None:
    root, config = built
    fitted_policy = AbstainPolicy(-9.0, 14.0, 6.0, -2.0, 0.5, source="fitted in a test")
    publish(root, config)
    index = open_store(root, config)
    assert policy_file(index) is None
    fitted = Calibration(fitted_policy, 10, 10, 0, 0.9, 0.95, 0.9)
    where = save_for_index(root, index, fitted)
    assert "Milvus" in where
    reopened = open_store(root, config)
    assert policy_for(reopened) == fitted_policy and policy_file(reopened) == where
    records = copy.deepcopy(CORPUS)
    records[1]["text"] += " Changed."
    ingest([write_jsonl(tmp_path / "corpus.jsonl", records)], root, FakeEmbedder())
    publish(root, config)
    assert policy_for(open_store(root, config)) == fitted_policy


def test_the_cli_ingests_into_milvus_and_answers_from_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    root, uri = tmp_path / "ix", str(tmp_path / "cli-milvus.db")
    store = ["--index", str(root), "--store", "milvus", "--milvus-uri", uri]
    assert cli.main(["--embedder", "fake", "ingest", str(corpus), *store]) == 0
    assert "published generation 1" in capsys.readouterr().out
    assert cli.main(["--embedder", "fake", "search", "glaucoma eye drops", *store, "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["doc_id"] == "GLAU_1"
    # The served index is Milvus's: with the local directory gone, it still answers.
    for path in sorted(root.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    assert cli.main(["--embedder", "fake", "search", "glaucoma eye drops", *store, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["doc_id"] == "GLAU_1"
    assert (
        cli.main(
            [
                "search",
                "glaucoma",
                *store[:2],
                "--store",
                "milvus",
                "--milvus-uri",
                uri,
                "--milvus-collection",
                "other",
            ]
        )
        == 2
    )
    assert "no medcite index named 'other'" in capsys.readouterr().err


def test_vectors_in_milvus_are_the_stored_ones(built: tuple[Path, StoreConfig]) -> None:
    root, config = built
    publish(root, config)
    embedded, served = open_index(root), open_store(root, config)
    rowids = sorted(embedded.label_of)
    stored = np.vstack([embedded.vector_index.reconstruct(r) for r in rowids])
    query = np.eye(stored.shape[1], dtype=np.float32)[0]
    assert served.dense_scores(query, rowids) == pytest.approx(stored @ query)


def test_the_sentence_vectors_are_published_with_the_generation(
    built: tuple[Path, StoreConfig],
) -> None:
    """Quotes are chosen from the same vectors whichever store serves the index."""
    from medcite.index.text import sentence_spans

    root, config = built
    publish(root, config)
    embedded, served = open_index(root), open_store(root, config)
    passage = next(iter(embedded.passages(sorted(embedded.label_of)[:1]).values()))[0]
    start, end = sentence_spans(passage.text)[0]
    texts = ["Glaucoma", passage.text[start:end], "A sentence no article has."]
    assert served.stores_sentences and embedded.stores_sentences
    want, got = embedded.stored_vectors(texts), served.stored_vectors(texts)
    assert set(got) == set(want) == set(texts[:2])
    for text, vector in want.items():
        assert got[text] == pytest.approx(vector, abs=1e-6)


def test_an_index_without_sentence_vectors_is_served_without_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medcite.ingest import pipeline

    root = tmp_path / "ix"
    monkeypatch.setattr(pipeline, "_embed_sentences", lambda *args: 0)
    ingest([write_jsonl(tmp_path / "corpus.jsonl", CORPUS)], root, FakeEmbedder())
    config = store_for(root, "milvus")
    publish(root, config)
    served = open_store(root, config)
    assert not served.stores_sentences and served.stored_vectors(["Glaucoma"]) == {}


def test_a_small_row_cache_still_answers_every_search(
    built: tuple[Path, StoreConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, config = built
    publish(root, config)
    served = open_store(root, config)
    expected = {q: search(served, FakeEmbedder(), q, k=5) for q in QUERIES}
    monkeypatch.setattr(milvus, "ROWS_CACHED", 2)
    served = open_store(root, config)
    for query in QUERIES * 2:
        assert search(served, FakeEmbedder(), query, k=5) == expected[query]


def test_a_lite_file_another_process_holds_is_a_clear_error(tmp_path: Path) -> None:
    uri = str(tmp_path / "held.db")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LITE_FILE, uri],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(milvus.MilvusError, match="one process only"):
            milvus.connect(uri)
    finally:
        holder.communicate("")


# Opens a Milvus Lite file, says so, and keeps it open until its stdin closes.
HOLD_LITE_FILE = """
import sys
from pymilvus import MilvusClient
client = MilvusClient(sys.argv[1])
print("open", flush=True)
sys.stdin.read()
"""
