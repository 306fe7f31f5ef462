"""Ingest into generations: incremental, prunable, refusing a mismatched model."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from medcite.index import layout
from medcite.index.errors import IndexMismatchError, InputError
from medcite.index.reader import open_index
from medcite.index.testing import CORPUS, FakeEmbedder, write_jsonl
from medcite.index.types import Document, Section
from medcite.ingest import pipeline
from medcite.ingest.pipeline import ingest


def test_first_ingest_indexes_every_document(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    report = ingest([corpus], tmp_path / "ix", FakeEmbedder())
    assert (report.added, report.documents_total, report.generation) == (4, 4, 1)
    assert report.passages_embedded == report.passages_total > 0
    index = open_index(tmp_path / "ix")
    assert index.manifest.documents == 4
    assert index.document("GLAU_1").title == "Glaucoma"


def test_reingest_unchanged_file_adds_nothing(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    embedder = FakeEmbedder()
    ingest([corpus], tmp_path / "ix", embedder)
    calls_before = list(embedder.calls)
    again = ingest([corpus], tmp_path / "ix", embedder)
    assert (again.unchanged, again.added, again.updated, again.passages_embedded) == (4, 0, 0, 0)
    assert again.generation == 1  # no new generation for a no-op
    assert embedder.calls == calls_before
    assert sorted(p.name for p in (tmp_path / "ix").glob("gen-*")) == ["gen-000001"]


def test_changed_file_replaces_its_passages_and_embeds_only_new_text(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    page = docs / "knee.md"
    page.write_text(
        "# Knee pain\n\nKnee pain is common.\n\n## Care\n\nRest the knee and use ice.\n"
    )
    embedder = FakeEmbedder()
    first = ingest([docs], tmp_path / "ix", embedder)
    page.write_text(
        "# Knee pain\n\nKnee pain is common.\n\n## Care\n\nRaise the leg on a pillow.\n"
    )
    second = ingest([docs], tmp_path / "ix", embedder)
    assert (second.updated, second.generation) == (1, 2)
    assert second.passages_embedded < first.passages_embedded + 1
    index = open_index(tmp_path / "ix")
    ((doc_id, _),) = index.titles()
    assert "pillow" in index.document(doc_id).text
    assert "ice" not in index.document(doc_id).text
    assert [h.passage.doc_id for h in index.hits(index.lexical("pillow", 5))] == [doc_id]
    assert index.lexical("ice", 5) == []


def test_prune_removes_documents_whose_files_are_gone(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Alpha topic\n\nAlpha is the first letter of the Greek alphabet.\n")
    (docs / "b.txt").write_text("Beta topic\n\nBeta is the second letter of the Greek alphabet.\n")
    ingest([docs], tmp_path / "ix", FakeEmbedder())
    (docs / "b.txt").unlink()
    kept = ingest([docs], tmp_path / "ix", FakeEmbedder())
    assert (kept.removed, kept.documents_total) == (0, 2)  # without --prune nothing is dropped
    pruned = ingest([docs], tmp_path / "ix", FakeEmbedder(), prune=True)
    assert (pruned.removed, pruned.documents_total) == (1, 1)
    assert [title for _, title in open_index(tmp_path / "ix").titles()] == ["Alpha topic"]


def test_prune_removes_articles_dropped_from_a_reread_jsonl(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    ingest([corpus], tmp_path / "ix", FakeEmbedder())
    write_jsonl(corpus, CORPUS[:3])
    report = ingest([corpus], tmp_path / "ix", FakeEmbedder(), prune=True)
    assert (report.removed, report.documents_total) == (1, 3)
    assert open_index(tmp_path / "ix").document("XSS_1") is None


def test_nothing_readable_raises_and_leaves_index_untouched(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    ingest([corpus], tmp_path / "ix", FakeEmbedder())
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(InputError, match="nothing could be read.*empty file"):
        ingest([empty], tmp_path / "ix", FakeEmbedder())
    assert open_index(tmp_path / "ix").manifest.documents == 4


def test_bad_files_are_reported_and_good_ones_indexed(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("Good article\n\nThis article can be read.\n")
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (docs / "empty.md").write_text("")
    report = ingest([docs], tmp_path / "ix", FakeEmbedder())
    assert report.documents_total == 1
    assert sorted(Path(s.path).name for s in report.skipped) == ["binary.txt", "empty.md"]


def test_index_built_with_another_model_is_refused(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    ingest([corpus], tmp_path / "ix", FakeEmbedder(name="model-a"))
    with pytest.raises(IndexMismatchError, match="model-a"):
        ingest([corpus], tmp_path / "ix", FakeEmbedder(name="model-b"))
    with pytest.raises(IndexMismatchError, match="model-a"):
        open_index(tmp_path / "ix", model="model-b")
    assert open_index(tmp_path / "ix", model="model-a").generation == 1


def test_old_generations_are_cleaned_up(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    for n in range(4):
        write_jsonl(corpus, CORPUS[: n + 1])
        ingest([corpus], tmp_path / "ix", FakeEmbedder())
    gens = sorted(p.name for p in (tmp_path / "ix").glob("gen-*"))
    assert gens == ["gen-000003", "gen-000004"]
    assert layout.current_generation(tmp_path / "ix").name == "gen-000004"


def test_section_labels_and_vocabulary_are_stored_for_every_passage(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    report = ingest([corpus], tmp_path / "ix", FakeEmbedder())
    assert report.labels_embedded == 7  # 3 + 2 + 1 + 1 sections, each its own "Title — Heading"
    index = open_index(tmp_path / "ix")
    assert len(index.label_of) == report.passages_total
    assert index.vocabulary["glaucoma"] == 3  # passages using the word (titles count)
    again = ingest([corpus], tmp_path / "ix", FakeEmbedder())
    assert (again.labels_embedded, again.generation) == (0, 1)


def _two_text_files_and_another_folder(tmp_path: Path) -> Path:
    """docs/a.txt and docs/b.txt, and an empty folder "elsewhere" to run from."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Alpha topic\n\nAlpha is the first letter of the Greek alphabet.\n")
    (docs / "b.txt").write_text("Beta topic\n\nBeta is the second letter of the Greek alphabet.\n")
    (tmp_path / "elsewhere").mkdir()
    return docs


def test_prune_from_another_working_directory_keeps_documents_whose_files_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _two_text_files_and_another_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    ingest([Path("docs")], tmp_path / "ix", FakeEmbedder())
    monkeypatch.chdir(tmp_path / "elsewhere")
    kept = ingest([Path("../docs/a.txt")], tmp_path / "ix", FakeEmbedder(), prune=True)
    assert (kept.removed, kept.documents_total) == (0, 2)
    (docs / "b.txt").unlink()
    pruned = ingest([Path("../docs/a.txt")], tmp_path / "ix", FakeEmbedder(), prune=True)
    assert (pruned.removed, pruned.documents_total) == (1, 1)
    assert [title for _, title in open_index(tmp_path / "ix").titles()] == ["Alpha topic"]


def test_prune_of_a_same_named_jsonl_elsewhere_keeps_the_other_files_articles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    write_jsonl(tmp_path / "one" / "corpus.jsonl", CORPUS[:3])
    write_jsonl(tmp_path / "two" / "corpus.jsonl", CORPUS[3:])
    monkeypatch.chdir(tmp_path / "one")
    ingest([Path("corpus.jsonl")], tmp_path / "ix", FakeEmbedder())
    monkeypatch.chdir(tmp_path / "two")
    report = ingest([Path("corpus.jsonl")], tmp_path / "ix", FakeEmbedder(), prune=True)
    assert (report.removed, report.documents_total) == (0, 4)


def test_changing_max_words_rechunks_every_stored_document(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", CORPUS[:2])
    second = write_jsonl(tmp_path / "second.jsonl", CORPUS[2:])
    embedder = FakeEmbedder()
    ingest([first], tmp_path / "ix", embedder)
    built = ingest([second], tmp_path / "ix", embedder)
    # Every section is under 40 words: the same passages, so nothing is embedded again.
    same = ingest([second], tmp_path / "ix", embedder, max_words=40)
    assert (same.unchanged, same.rechunked, same.generation) == (2, 4, 3)
    assert (same.passages_total, same.passages_embedded) == (built.passages_total, 0)
    assert open_index(tmp_path / "ix").manifest.max_words == 40

    short = ingest([second], tmp_path / "ix", embedder, max_words=8)
    assert (short.rechunked, short.generation) == (4, 4)
    assert short.passages_embedded == short.passages_total > built.passages_total  # all new text
    index = open_index(tmp_path / "ix")
    assert index.manifest.max_words == 8
    with index.connection() as conn:
        lengths = [
            len(index.document(row[0]).text[row[1] : row[2]].split())  # type: ignore[union-attr]
            for row in conn.execute("SELECT doc_id, start_char, end_char FROM passages")
        ]
    assert len(lengths) == short.passages_total and max(lengths) <= 8
    again = ingest([first], tmp_path / "ix", embedder, max_words=8)
    assert (again.rechunked, again.generation) == (0, 4)


def test_renamed_section_heading_in_a_jsonl_is_picked_up(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    ingest([corpus], tmp_path / "ix", FakeEmbedder())
    renamed = copy.deepcopy(CORPUS)
    renamed[0]["sections"][2]["heading"] = "Therapy"
    write_jsonl(corpus, renamed)
    report = ingest([corpus], tmp_path / "ix", FakeEmbedder())
    assert (report.updated, report.unchanged) == (1, 3)
    index = open_index(tmp_path / "ix")
    headings = [s.heading for s in index.document("GLAU_1").sections]  # type: ignore[union-attr]
    assert headings == ["Overview", "Symptoms", "Therapy"]
    assert "Therapy" in {h.passage.heading for h in index.hits(index.lexical("eye drops", 5))}


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Other"},
        {"sections": (Section("d#1", "Renamed", 0, 5), Section("d#2", "Two", 6, 11))},
        {"sections": (Section("d#9", "One", 0, 5), Section("d#2", "Two", 6, 11))},
        {"sections": (Section("d#1", "One", 0, 4), Section("d#2", "Two", 5, 11))},
        {"sections": ()},
    ],
)
def test_document_checksum_covers_title_and_sections(change: dict[str, object]) -> None:
    document = Document(
        id="d",
        title="T",
        text="Alpha Beta.",
        sections=(Section("d#1", "One", 0, 5), Section("d#2", "Two", 6, 11)),
    )
    assert dataclasses.replace(document, **change).checksum != document.checksum  # type: ignore[arg-type]


def test_prune_trusts_a_relative_origin_from_an_older_index_only_where_it_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _two_text_files_and_another_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    with monkeypatch.context() as old:  # how origins were stored before: as typed
        old.setattr(pipeline, "_origin", lambda document: document.meta()["path"])
        ingest([Path("docs")], tmp_path / "ix", FakeEmbedder())
    (docs / "b.txt").unlink()
    monkeypatch.chdir(tmp_path / "elsewhere")
    kept = ingest([docs / "a.txt"], tmp_path / "ix", FakeEmbedder(), prune=True)
    assert (kept.removed, kept.documents_total) == (0, 2)  # "docs/b.txt" is unknown here
    monkeypatch.chdir(tmp_path)
    pruned = ingest([docs / "a.txt"], tmp_path / "ix", FakeEmbedder(), prune=True)
    assert (pruned.removed, pruned.documents_total) == (1, 1)


def _quoted_sentences(index) -> list[str]:  # type: ignore[no-untyped-def]
    """Every sentence of every passage, as quotes cut them."""
    from medcite.index.text import sentence_spans

    found = index.passages(sorted(index.rowids_for_documents([d["id"] for d in CORPUS])))
    return [
        passage.text[start:end]
        for passage, *_ in found.values()
        for start, end in sentence_spans(passage.text)
    ]


def test_every_passage_sentence_and_title_gets_a_stored_vector(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    embedder = FakeEmbedder()
    report = ingest([corpus], tmp_path / "ix", embedder)
    index = open_index(tmp_path / "ix")
    sentences = _quoted_sentences(index)
    titles = [d["title"] for d in CORPUS]
    stored = index.stored_vectors([*sentences, *titles, "A sentence no article has."])
    assert index.stores_sentences and report.sentences_embedded == len(set(sentences + titles))
    assert set(stored) == set(sentences + titles)
    for text in ("Glaucoma", sentences[0]):
        assert np.allclose(stored[text], embedder.embed([text])[0], atol=2e-3)  # float16
    again = ingest([corpus], tmp_path / "ix", embedder)
    assert (again.sentences_embedded, again.generation) == (0, 1)


def test_a_changed_article_embeds_only_its_new_sentences_and_drops_the_old(
    tmp_path: Path,
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    ingest([corpus], tmp_path / "ix", FakeEmbedder())
    changed = copy.deepcopy(CORPUS)
    old_text = changed[0]["text"]
    changed[0]["text"] = old_text + " Brand new sentence here."  # the last section grows
    changed[0]["sections"][-1]["end"] = len(changed[0]["text"])
    write_jsonl(corpus, changed)
    report = ingest([corpus], tmp_path / "ix", FakeEmbedder())
    index = open_index(tmp_path / "ix")
    assert report.updated == 1 and report.sentences_embedded == 1
    assert "Brand new sentence here." in index.stored_vectors(["Brand new sentence here."])
    first_sentence = old_text[: old_text.index(".") + 1].strip()
    assert first_sentence in index.stored_vectors([first_sentence])  # still a sentence


def test_an_index_from_before_sentence_vectors_gets_them_on_its_next_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from medcite.web.cli import main

    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "_embed_sentences", lambda *args: 0)
        ingest([corpus], tmp_path / "ix", FakeEmbedder())
    old = open_index(tmp_path / "ix")
    assert not old.stores_sentences and old.stored_vectors(["Glaucoma"]) == {}
    assert main(["info", "--index", str(tmp_path / "ix")]) == 0
    assert "sentence vectors: none" in capsys.readouterr().out
    report = ingest([corpus], tmp_path / "ix", FakeEmbedder())
    assert report.generation == 2 and report.sentences_embedded > 0
    assert report.passages_embedded == 0  # the passages' vectors are kept
    assert open_index(tmp_path / "ix").stores_sentences
    assert main(["info", "--index", str(tmp_path / "ix"), "--json"]) == 0
    assert '"sentence_vectors": true' in capsys.readouterr().out
