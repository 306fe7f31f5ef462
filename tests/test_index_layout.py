"""The on-disk index: atomic switch, checksums, clear refusals."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from medcite.index import layout
from medcite.index.errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    MedciteError,
)
from medcite.index.reader import open_index
from medcite.index.testing import CORPUS, FakeEmbedder, write_jsonl
from medcite.ingest.pipeline import ingest
from tests.support import crash_on_current_switch


@pytest.fixture
def built(tmp_path: Path) -> Path:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS[:2])
    ingest([corpus], tmp_path / "ix", FakeEmbedder())
    return tmp_path / "ix"


def test_crash_before_the_switch_leaves_the_old_generation_serving(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write_jsonl(tmp_path / "more.jsonl", CORPUS[2:])
    crash_on_current_switch(monkeypatch)
    with pytest.raises(OSError, match="power cut"):
        ingest([corpus], built, FakeEmbedder())
    monkeypatch.undo()

    index = open_index(built)
    assert (index.generation, index.manifest.documents) == (1, 2)
    report = ingest([corpus], built, FakeEmbedder())  # a re-run completes
    assert report.documents_total == 4
    assert open_index(built).manifest.documents == 4


def test_crash_during_embedding_leaves_staging_that_the_next_run_removes(
    built: Path, tmp_path: Path
) -> None:
    class Exploding(FakeEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt

    corpus = write_jsonl(tmp_path / "more.jsonl", CORPUS[2:])
    with pytest.raises(KeyboardInterrupt):
        ingest([corpus], built, Exploding())
    assert list(built.glob("gen-*.staging"))
    assert open_index(built).manifest.documents == 2
    ingest([corpus], built, FakeEmbedder())
    assert not list(built.glob("gen-*.staging"))


@pytest.mark.parametrize("name", [layout.VECTORS_FILE, layout.STORE_FILE])
def test_corrupt_file_is_caught_by_checksum_naming_the_file(built: Path, name: str) -> None:
    path = layout.current_generation(built) / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match=name):
        open_index(built)


def test_truncated_file_is_caught(built: Path) -> None:
    path = layout.current_generation(built) / layout.VECTORS_FILE
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IndexCorruptError, match="corrupt"):
        open_index(built)


def test_manifest_of_unknown_version_is_refused(built: Path) -> None:
    path = layout.current_generation(built) / layout.MANIFEST_FILE
    data = json.loads(path.read_text())
    data["format_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="version 99"):
        open_index(built)


def test_garbage_manifest_is_refused(built: Path) -> None:
    (layout.current_generation(built) / layout.MANIFEST_FILE).write_text("{not json")
    with pytest.raises(IndexCorruptError, match="cannot be read"):
        open_index(built)


def test_missing_index_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="medcite ingest"):
        open_index(tmp_path / "nowhere")


def test_current_pointing_outside_is_refused(built: Path) -> None:
    (built / layout.CURRENT_FILE).write_text("../../etc\n")
    with pytest.raises(IndexCorruptError, match="does not name a generation"):
        open_index(built)


def test_second_writer_is_refused_while_one_holds_the_lock(built: Path) -> None:
    with layout.writer_lock(built), pytest.raises(MedciteError, match="another ingest"):  # noqa: SIM117
        with layout.writer_lock(built):
            pass


def test_a_loaded_index_keeps_serving_after_its_files_are_deleted(built: Path) -> None:
    # A later ingest removes old generations while requests may still use them.
    index = open_index(built)
    shutil.rmtree(index.directory)
    results: list[object] = []

    def read() -> None:
        results.append(index.document("GLAU_1"))

    threads = [threading.Thread(target=read) for _ in range(12)]  # more threads than readers
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [getattr(d, "title", d) for d in results] == ["Glaucoma"] * 12
