"""Retrieval: modes, fusion, per-article diversity, filters, and refusals."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from medcite.chat import retrieve
from medcite.chat.retrieve import (
    W_NAMED,
    Filters,
    contact_share,
    demote_contact_details,
    diversify,
    fuse,
    search,
)
from medcite.index import layout, reader, store, vectors
from medcite.index.errors import InputError
from medcite.index.reader import EmbeddedIndex, Index, open_index
from medcite.index.testing import CORPUS, FakeEmbedder, article, write_jsonl
from medcite.index.types import Document, Hit, Passage
from medcite.ingest.pipeline import ingest
from tests.support import STORES, served


@pytest.fixture(scope="module", params=STORES)
def small_index(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Index:
    root = tmp_path_factory.mktemp("retrieve")
    corpus = write_jsonl(root / "corpus.jsonl", CORPUS)
    ingest([corpus], root / "ix", FakeEmbedder())
    return served(root / "ix", request.param)


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_each_mode_finds_the_article_named_in_the_question(small_index: Index, mode: str) -> None:
    hits = search(small_index, FakeEmbedder(), "glaucoma treated with eye drops", k=3, mode=mode)
    assert hits[0].passage.doc_id == "GLAU_1"
    for hit in hits:
        document = small_index.document(hit.passage.doc_id)
        assert hit.passage.text == document.text[hit.passage.start : hit.passage.end]


def test_hits_carry_title_url_and_signals(small_index: Index) -> None:
    hit = search(small_index, FakeEmbedder(), "glaucoma eye drops laser", k=1)[0]
    assert (hit.title, hit.url, hit.source) == (
        "Glaucoma",
        "https://medlineplus.gov/glaucoma.html",
        "MPlus_Health_Topics",
    )
    assert hit.passage.heading == "Treatment"
    assert {"dense", "lexical", "label", "dense_rank", "lexical_rank"} <= dict(hit.signals).keys()


def test_source_filter_keeps_only_that_source(small_index: Index) -> None:
    hits = search(small_index, FakeEmbedder(), "vision", k=10, filters=Filters(sources=("NIDDK",)))
    assert hits and {h.source for h in hits} == {"NIDDK"}


def test_document_filter_and_unknown_source(small_index: Index) -> None:
    hits = search(
        small_index, FakeEmbedder(), "treated", k=10, filters=Filters(doc_ids=("ASTH_1",))
    )
    assert {h.passage.doc_id for h in hits} == {"ASTH_1"}
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
    for query in [
        '"',
        "NEAR(",
        "asthma AND OR NOT",
        "*",
        "title:asthma",
        "'); DROP TABLE passages;--",
    ]:
        search(small_index, FakeEmbedder(), query, k=3, mode="lexical")
    assert (
        search(small_index, FakeEmbedder(), "asthma AND OR NOT", mode="lexical")[0].title
        == "Asthma"
    )


def test_fusion_by_hand() -> None:
    class StubIndex:
        def dense_scores(self, query: np.ndarray, rowids: list[int]) -> np.ndarray:
            return np.array([0.5 for _ in rowids])  # only asked for passages dense did not find

        def label_scores(self, query: np.ndarray, rowids: list[int]) -> np.ndarray:
            return np.array([{1: 0.1, 2: 0.9, 3: 0.0, 4: 0.4}[r] for r in rowids])

    signals: dict[int, dict[str, float]] = {}
    fused = fuse(StubIndex(), np.zeros(2), [(1, 0.8), (2, 0.6)], [(3, 10.0), (1, 5.0)], signals)
    # 1: 0.8 + 0.3 * 5/10 + 0.1 = 1.05   2: 0.6 + 0 + 0.9 = 1.5   3: 0.5 + 0.3 * 10/10 + 0 = 0.8
    assert [rowid for rowid, _ in fused] == [2, 1, 3]
    assert [score for _, score in fused] == pytest.approx([1.5, 1.05, 0.8])
    assert signals[3] == {"dense": 0.5, "label": 0.0}

    # Passages of an article the query names gain W_NAMED, found by a retriever (2) or not (4).
    fused = fuse(StubIndex(), np.zeros(2), [(1, 0.8), (2, 0.6)], [(3, 10.0)], {}, named={2, 4})
    assert dict(fused) == pytest.approx({1: 0.9, 2: 1.5 + W_NAMED, 3: 0.8, 4: 0.5 + 0.4 + W_NAMED})


def test_diversify_keeps_order_and_caps_each_article() -> None:
    def hit(doc: str, n: int) -> Hit:
        return Hit(Passage(f"{doc}{n}", doc, 0, 1, "x"), 1.0, doc)

    hits = [hit("a", 1), hit("a", 2), hit("b", 1), hit("a", 3), hit("b", 2), hit("b", 3)]
    kept = diversify(hits, per_article=2)
    assert [h.passage.id for h in kept] == ["a1", "a2", "b1", "b2"]


FILTERED = [
    (Filters(sources=("NIDDK", "GARD")), {"DIAB_1", "XSS_1"}),
    (Filters(doc_ids=("GLAU_1", "XSS_1")), {"GLAU_1", "XSS_1"}),
    (Filters(sources=("MPlus_Health_Topics", "NHLBI"), doc_ids=("ASTH_1", "XSS_1")), {"ASTH_1"}),
]


@pytest.mark.parametrize("selector_max", [0, 20_000], ids=["deeper-search", "id-selector"])
@pytest.mark.parametrize("mode", ["dense", "lexical"])
def test_filtered_search_ranks_as_the_unfiltered_one_restricted_to_the_filter(
    small_index: Index, monkeypatch: pytest.MonkeyPatch, selector_max: int, mode: str
) -> None:
    monkeypatch.setattr(reader, "SELECTOR_MAX", selector_max)
    query = "vision airways diabetes treated"
    everything = search(small_index, FakeEmbedder(), query, k=20, mode=mode, per_article=0)
    for filters, doc_ids in FILTERED:
        found = search(
            small_index, FakeEmbedder(), query, k=20, mode=mode, per_article=0, filters=filters
        )
        expected = [h for h in everything if h.passage.doc_id in doc_ids]
        assert found and [(h.passage.id, h.score) for h in found] == [
            (h.passage.id, pytest.approx(h.score)) for h in expected
        ]


# SQLite's default limit on the variables one statement may bind (since 3.32; some builds
# raise it, so the test sets it).
SQLITE_MAX_VARIABLES = 32_766


def index_by_hand(directory: Path, articles: dict[str, int], embedder: FakeEmbedder) -> Index:
    """An index of ``articles[source]`` articles per source, each of 100 one-word passages,
    written straight into a store and a FAISS index (ingest takes far longer for this many)."""
    words = [f"word{n}" for n in range(50)]
    vectors_of = {w: v.tobytes() for w, v in zip(words, embedder.embed(words), strict=True)}
    conn = store.connect(directory / layout.STORE_FILE)
    with conn:
        for source, count in articles.items():
            for number in range(count):
                doc_id = f"{source}_{number}"
                text = " ".join(words[(number + i) % 50] for i in range(100))
                document = Document(doc_id, f"{source} {number}", text, "", source)
                passages, start = [], 0
                for word in text.split(" "):
                    end = start + len(word)
                    passages.append(Passage(f"{doc_id}/{start}", doc_id, start, end, word))
                    start = end + 1
                keys = [p.text for p in passages]
                store.insert_document(conn, document, "", passages, keys, vectors_of)
        ids, matrix = store.all_vectors(conn, embedder.dim)
        totals = store.counts(conn)
    conn.close()
    manifest = layout.Manifest(
        generation=1,
        model=embedder.name,
        dim=embedder.dim,
        documents=totals["documents"],
        passages=totals["passages"],
        vector_index="flat",
        max_words=1,
        created="",
        files=(),
    )
    flat = vectors.build(matrix, ids, "flat")
    index = EmbeddedIndex(directory, directory, manifest, flat, np.zeros((0, 0)), {}, {})
    index.open_connections(1)
    with index.connection() as read:
        read.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_MAX_VARIABLES)
    return index


@pytest.fixture(scope="module")
def large_source_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    return index_by_hand(
        tmp_path_factory.mktemp("large"), {"Large": 330, "Small": 3}, FakeEmbedder()
    )


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
@pytest.mark.parametrize("source", ["Large", "Small"])
def test_a_source_with_more_passages_than_sqlite_binds_variables_is_searched(
    large_source_index: Index, mode: str, source: str
) -> None:
    index = large_source_index
    with index.connection() as conn:
        assert store.count_filtered(conn, ["Large"]) > SQLITE_MAX_VARIABLES
    hits = search(
        index, FakeEmbedder(), "word7", k=10, mode=mode, filters=Filters(sources=(source,))
    )
    # Every article says "word7" twice; at most two passages of one article are kept.
    assert len(hits) == (10 if source == "Large" else 6) and {h.source for h in hits} == {source}
    assert all(h.passage.text == "word7" for h in hits)


def test_a_long_filter_keeps_only_its_passages(small_index: Index) -> None:
    doc_ids = tuple(f"MISSING_{n}" for n in range(2_000)) + ("XSS_1", "DIAB_1")
    sources = tuple(f'Missing "{n}"' for n in range(2_000)) + ("NIDDK", "GARD")
    filters = Filters(sources=sources, doc_ids=doc_ids)
    for mode in ("dense", "lexical", "hybrid"):
        hits = search(small_index, FakeEmbedder(), "diabetes xsstopic", mode=mode, filters=filters)
        assert hits and {h.passage.doc_id for h in hits} <= {"XSS_1", "DIAB_1"}


def test_a_filter_binds_the_same_few_variables_however_long_it_is(tmp_path: Path) -> None:
    ingest([write_jsonl(tmp_path / "corpus.jsonl", CORPUS)], tmp_path / "ix", FakeEmbedder())
    embedded = open_index(tmp_path / "ix")
    doc_ids = tuple(f"MISSING_{n}" for n in range(2_000)) + ("XSS_1", "DIAB_1")
    sources = tuple(f"Missing{n}" for n in range(2_000)) + ("NIDDK", "GARD")
    with embedded.connection() as conn:
        limit = conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 7)
        try:
            rowids = store.filtered_rowids(conn, sources, doc_ids)
            assert store.count_filtered(conn, sources, doc_ids) == len(rowids) == 2
            assert store.keep_filtered(conn, list(range(1, 1_000)), sources, doc_ids) == set(
                rowids.tolist()
            )
            found = store.lexical_search(
                conn, "diabetes xsstopic", 10, sources=sources, doc_ids=doc_ids
            )
            assert found and {rowid for rowid, _ in found} <= set(rowids.tolist())
        finally:
            conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)


ADDRESSES = (
    "National Eye Institute National Institutes of Health 2020 Vision Place Bethesda, MD "
    "20892-3655 301-496-5248 E-mail: 2020@nei.nih.gov www.nei.nih.gov The Glaucoma Foundation "
    "80 Maiden Lane, Suite 700 New York, NY 10038 212-285-0080"
)
PROSE = (
    "Glaucoma is a group of diseases that can damage the eye's optic nerve and result in "
    "vision loss and blindness. Early treatment can often protect your eyes against serious "
    "vision loss. For a free booklet, call 1-800-826-6693."
)


def test_a_list_of_addresses_falls_below_the_prose_it_outscored() -> None:
    addresses = Hit(Passage("g1", "g", 0, len(ADDRESSES), ADDRESSES), 1.91, "Glaucoma")
    prose = Hit(Passage("g2", "g", 0, len(PROSE), PROSE), 1.89, "Glaucoma")
    assert contact_share(ADDRESSES) > 0.3 and contact_share(PROSE) < 0.1
    assert contact_share("") == 0.0
    ranked = demote_contact_details([addresses, prose], per_article=2, k=2)
    assert [hit.passage.id for hit in ranked] == ["g2", "g1"]
    # One phone number in a paragraph costs a fraction of what a list of addresses costs.
    assert contact_share(PROSE) < contact_share(ADDRESSES) / 4


@pytest.fixture(scope="module", params=STORES)
def named_index(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Index:
    root = tmp_path_factory.mktemp("named")
    records = [
        article(
            "MEAS",
            "Measles",
            [("Overview", "Measles is a measles virus infection. Measles spreads in the air.")],
        ),
        article(
            "RUB",
            "Rubella",
            [("Overview", "Rubella is an infection that causes a mild rash and fever.")],
            synonyms=["German measles"],
        ),
    ]
    ingest([write_jsonl(root / "corpus.jsonl", records)], root / "ix", FakeEmbedder())
    return served(root / "ix", request.param)


def test_an_article_named_by_a_synonym_gains_in_the_search(
    named_index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "German measles" is Rubella's synonym in the corpus; its text never says "measles", so
    # the word alone finds the Measles article first. (The fake embedder's cosines are far
    # apart, so the gain is made large enough to show here; ``test_fusion_by_hand`` checks
    # its size.)
    monkeypatch.setattr(retrieve, "W_NAMED", 1.0)
    assert search(named_index, FakeEmbedder(), "measles", k=2)[0].passage.doc_id == "MEAS"
    hits = search(named_index, FakeEmbedder(), "my nephew has german measles", k=2)
    assert [hit.passage.doc_id for hit in hits] == ["RUB", "MEAS"]


@pytest.mark.parametrize(
    ("filters", "kept"),
    [
        (Filters(doc_ids=("MEAS",)), {"MEAS"}),
        (Filters(sources=("nowhere",)), set()),
    ],
)
def test_a_named_article_outside_the_filters_is_not_searched(
    named_index: Index, monkeypatch: pytest.MonkeyPatch, filters: Filters, kept: set[str]
) -> None:
    monkeypatch.setattr(retrieve, "W_NAMED", 1.0)
    hits = search(named_index, FakeEmbedder(), "german measles", k=2, filters=filters)
    assert {hit.passage.doc_id for hit in hits} == kept
