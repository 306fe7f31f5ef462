"""A hostile corpus directory: broken PDFs, binary, empty and huge files, deep nesting, symbolic
link loops, a FIFO. Ingest reads what it can, reports the rest with reasons, and never harms
the index that is already there."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medcite.index import layout
from medcite.index.errors import InputError
from medcite.index.reader import open_index
from medcite.index.testing import FakeEmbedder
from medcite.ingest.pipeline import ingest
from medcite.web import cli

HUGE_BYTES = 50 * 1024 * 1024
SCRIPT = "<script>alert(1)</script>"


def good_text(topic: str) -> str:
    return (
        f"{topic.title()} notes\n\n"
        f"What is {topic}: {topic} is a condition described here in plain words. "
        f"People with {topic} are treated by their doctor.\n"
    )


def nested(root: Path, levels: int, name: str) -> Path:
    directory = root.joinpath(*[f"n{i}" for i in range(levels)])
    directory.mkdir(parents=True)
    return directory / name


def build_bad_corpus(root: Path) -> dict[str, str]:
    """Write the corpus; returns {file name: expected reason} for the files to be skipped."""
    root.mkdir()
    (root / "good.txt").write_text(good_text("zebrafever"), encoding="utf-8")
    (root / "good.md").write_text("# " + good_text("quokkapox"), encoding="utf-8")
    (root / "hostile.md").write_text(
        f"# Hostile notes\n\nWhat is hostilitis: hostilitis is shown as {SCRIPT} text.\n",
        encoding="utf-8",
    )
    nested(root, 60, "deep.txt").write_text(good_text("deepitis"), encoding="utf-8")
    nested(root / "deeper", 105, "too-deep.txt").write_text(good_text("lost"), encoding="utf-8")
    (root / "mixed.jsonl").write_text(
        json.dumps({"id": "JSONL_OK", "title": "Jsonl ok", "text": good_text("linitis")})
        + "\nnot json at all\n"
        + json.dumps({"id": "../../etc/passwd", "text": "sneaky"})
        + "\n",
        encoding="utf-8",
    )
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n%%garbage\x00\xff")
    (root / "truncated.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 64)
    (root / "latin1.txt").write_bytes("Caf\xe9 notes\n\nna\xefve text here.".encode("latin-1"))
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    (root / "empty.txt").write_bytes(b"")
    (root / "blank.md").write_text("   \n\n\t\n", encoding="utf-8")
    with (root / "huge.txt").open("wb") as handle:
        handle.truncate(HUGE_BYTES)  # sparse: instant to write, and must never be read
    loops = root / "loops"
    loops.mkdir()
    (loops / "back-to-top").symlink_to(root, target_is_directory=True)
    (loops / "self").symlink_to(loops / "self")
    (loops / "ping.txt").symlink_to(loops / "pong.txt")
    (loops / "pong.txt").symlink_to(loops / "ping.txt")
    (loops / "dangling.txt").symlink_to(root / "nowhere.txt")
    os.mkfifo(root / "pipe.txt")  # opening it would block forever
    return {
        "mixed.jsonl:2": "not valid JSON",
        "mixed.jsonl:3": "may only use letters",
        "broken.pdf": "PDF",
        "truncated.pdf": "PDF",
        "binary.txt": "binary file",
        "latin1.txt": "not valid UTF-8",
        "image.png": "unsupported file type .png",
        "empty.txt": "empty file",
        "blank.md": "no text",
        "huge.txt": "over the 20 MB limit",
        "self": "too many levels of symbolic links",
        "ping.txt": "too many levels of symbolic links",
        "pong.txt": "too many levels of symbolic links",
        "dangling.txt": "broken symbolic link",
        "pipe.txt": "not a regular file",
        "n99": "nested more than 100 levels deep",  # corpus/deeper/n0/.../n99 is level 101
    }


@pytest.fixture
def bad_corpus(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "bad corpus"
    return root, build_bad_corpus(root)


def test_bad_corpus_ingests_what_it_can_and_reports_the_rest(
    bad_corpus: tuple[Path, dict[str, str]], fresh_index_root: Path
) -> None:
    corpus, expected = bad_corpus
    before = open_index(fresh_index_root)
    old_generation, old_documents = before.generation, before.manifest.documents
    before.close()

    report = ingest([corpus], fresh_index_root, FakeEmbedder())

    assert report.added == 5  # good.txt, good.md, hostile.md, deep.txt, JSONL_OK
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    for name, reason in expected.items():
        assert name in reasons, f"{name} was not reported as skipped: {sorted(reasons)}"
        assert reason in reasons[name], f"{name}: {reasons[name]}"
    assert not any("too-deep" in s.path for s in report.skipped), "walked past the limit"

    index = open_index(fresh_index_root)
    assert index.generation == old_generation + 1
    assert index.manifest.documents == old_documents + 5 == report.documents_total
    assert index.document("GLAU_1") is not None, "the documents already there remain"
    assert index.document("JSONL_OK") is not None
    titles = {title for _, title in index.titles()}
    assert {"Zebrafever notes", "Quokkapox notes", "Deepitis notes"} <= titles
    assert not any("lost" in title.lower() for title in titles)
    assert not list(fresh_index_root.glob("gen-*.staging"))


def test_stored_markup_from_a_file_is_text_on_every_page(
    bad_corpus: tuple[Path, dict[str, str]], fresh_index_root: Path, make_client
) -> None:
    corpus, _ = bad_corpus
    ingest([corpus / "hostile.md"], fresh_index_root, FakeEmbedder())
    client: TestClient = make_client(fresh_index_root)
    answer = client.post("/api/ask", json={"question": "what is hostilitis?"}).json()
    assert answer["citations"], answer
    doc_link = answer["citations"][0]["link"]
    pages = [
        client.get(doc_link).text,
        client.post("/ask", data={"question": "what is hostilitis?"}).text,
        client.get("/search", params={"q": "hostilitis"}).text,
    ]
    for page in pages:
        assert "hostilitis" in page.lower()
        assert SCRIPT not in page


def test_a_corpus_with_nothing_readable_leaves_the_index_as_it_was(
    tmp_path: Path, fresh_index_root: Path
) -> None:
    corpus = tmp_path / "nothing"
    corpus.mkdir()
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7 broken")
    with (corpus / "huge.txt").open("wb") as handle:
        handle.truncate(HUGE_BYTES)
    manifest_before = (layout.current_generation(fresh_index_root) / "manifest.json").read_text()

    with pytest.raises(InputError, match="nothing could be read"):
        ingest([corpus], fresh_index_root, FakeEmbedder())

    current = layout.current_generation(fresh_index_root)
    assert (current / "manifest.json").read_text() == manifest_before
    assert open_index(fresh_index_root).manifest.documents == 4


def test_cli_ingest_of_a_bad_corpus_exits_0_and_lists_what_it_skipped(
    bad_corpus: tuple[Path, dict[str, str]],
    fresh_index_root: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corpus, expected = bad_corpus
    argv = ["--embedder", "fake", "ingest", str(corpus), "--index", str(fresh_index_root)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "5 added" in out and f"skipped {len(expected)} file(s):" in out
    assert "huge.txt: file is 52.4 MB, over the 20 MB limit" in out
    assert cli.main(argv) == 0, "a second run over the same bad corpus"
    again = capsys.readouterr().out
    assert "0 added" in again and "5 unchanged" in again


def test_a_directory_link_out_of_the_corpus_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.txt").write_text(good_text("secretitis"), encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text(good_text("zebrafever"), encoding="utf-8")
    (corpus / "elsewhere").symlink_to(outside, target_is_directory=True)

    report = ingest([corpus], tmp_path / "index", FakeEmbedder())

    assert report.added == 1
    assert any("elsewhere" in s.path for s in report.skipped)


def test_a_file_link_out_of_the_corpus_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "private.txt"
    outside.write_text(good_text("secretitis"), encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text(good_text("zebrafever"), encoding="utf-8")
    (corpus / "inside-link.txt").symlink_to(corpus / "good.txt")
    (corpus / "leak.txt").symlink_to(outside)

    report = ingest([corpus], tmp_path / "index", FakeEmbedder())

    assert report.added == 1  # good.txt once: the inner link is the same file
    assert [s.reason for s in report.skipped if "leak" in s.path] == [
        "links outside the folder being ingested; not followed"
    ]
