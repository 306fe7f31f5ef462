"""Retrieval: modes, fusion, per-article diversity, filters, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from medcite.chat.retrieve import Filters, diversify, fuse, search
from medcite.index.errors import InputError
from medcite.index.reader import Index, open_index
from medcite.index.testing import SMALL_CORPUS, FakeEmbedder, write_jsonl
from medcite.index.types import Hit, Passage
from medcite.ingest.pipeline import ingest


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    root = tmp_path_factory.mktemp("retrieve")
    corpus = write_jsonl(root / "corpus.jsonl", SMALL_CORPUS)
    ingest([corpus], root / "ix", FakeEmbedder())
    return open_index(root / "ix")


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_each_mode_finds_the_article_named_in_the_question(small_index: Index, mode: str) -> None:
    hits = search(small_index, FakeEmbedder(), "glaucoma treated with eye drops", k=3, mode=mode)
    assert hits[0].passage.doc_id == "T_glaucoma"
    for hit in hits:
        document = small_index.document(hit.passage.doc_id)
        assert hit.passage.text == document.text[hit.passage.start : hit.passage.end]


def test_hits_carry_title_url_and_signals(small_index: Index) -> None:
    hit = search(small_index, FakeEmbedder(), "glaucoma eye drops laser", k=1)[0]
    assert (hit.title, hit.url, hit.source) == (
        "Glaucoma",
        "https://example.org/glaucoma",
        "TestSource",
    )
    assert hit.passage.heading == "Treatment"
    assert {"dense", "lexical", "label", "dense_rank", "lexical_rank"} <= dict(hit.signals).keys()


def test_source_filter_keeps_only_that_source(small_index: Index) -> None:
    hits = search(
        small_index, FakeEmbedder(), "vision", k=10, filters=Filters(sources=("OtherSource",))
    )
    assert hits and {h.source for h in hits} == {"OtherSource"}


def test_document_filter_and_unknown_source(small_index: Index) -> None:
    hits = search(
        small_index, FakeEmbedder(), "treated", k=10, filters=Filters(doc_ids=("T_asthma",))
    )
    assert {h.passage.doc_id for h in hits} == {"T_asthma"}
    assert search(small_index, FakeEmbedder(), "treated", filters=Filters(sources=("Nope",))) == []


def test_at_most_per_article_passages_from_one_article(small_index: Index) -> None:
    hits = search(small_index, FakeEmbedder(), "glaucoma", k=10, per_article=1)
    doc_ids = [h.passage.doc_id for h in hits]
    assert len(doc_ids) == len(set(doc_ids))


@pytest.mark.parametrize(
    ("query", "k", "mode", "message"),
    [
        ("   ", 5, "hybrid", "empty"),
        ("gout", 0, "hybrid", "k must"),
        ("gout", 101, "hybrid", "k must"),
        ("gout", 5, "magic", "unknown search mode"),
    ],
)
def test_bad_requests_are_refused(
    small_index: Index, query: str, k: int, mode: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        search(small_index, FakeEmbedder(), query, k=k, mode=mode)


def test_query_of_only_punctuation_or_fts_syntax_is_safe(small_index: Index) -> None:
    for query in ['"', "NEAR(", "gout AND OR NOT", "*", "title:gout", "'); DROP TABLE passages;--"]:
        search(small_index, FakeEmbedder(), query, k=3, mode="lexical")
    assert search(small_index, FakeEmbedder(), "gout AND OR NOT", mode="lexical")[0].title == "Gout"


def test_fusion_by_hand() -> None:
    class StubIndex:
        def dense_scores(self, query: np.ndarray, rowids: list[int]) -> np.ndarray:
            return np.array([0.5 for _ in rowids])  # only asked for passages dense did not find

        def label_scores(self, query: np.ndarray, rowids: list[int]) -> np.ndarray:
            return np.array([{1: 0.1, 2: 0.9, 3: 0.0}[r] for r in rowids])

    signals: dict[int, dict[str, float]] = {}
    fused = fuse(StubIndex(), np.zeros(2), [(1, 0.8), (2, 0.6)], [(3, 10.0), (1, 5.0)], signals)
    # 1: 0.8 + 0.3 * 5/10 + 0.1 = 1.05   2: 0.6 + 0 + 0.9 = 1.5   3: 0.5 + 0.3 * 10/10 + 0 = 0.8
    assert [rowid for rowid, _ in fused] == [2, 1, 3]
    assert [score for _, score in fused] == pytest.approx([1.5, 1.05, 0.8])
    assert signals[3] == {"dense": 0.5, "label": 0.0}


def test_diversify_keeps_order_and_caps_each_article() -> None:
    def hit(doc: str, n: int) -> Hit:
        return Hit(Passage(f"{doc}{n}", doc, 0, 1, "x"), 1.0, doc)

    hits = [hit("a", 1), hit("a", 2), hit("b", 1), hit("a", 3), hit("b", 2), hit("b", 3)]
    kept = diversify(hits, per_article=2)
    assert [h.passage.id for h in kept] == ["a1", "a2", "b1", "b2"]
