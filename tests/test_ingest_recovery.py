"""A corrupt current generation: ingest repairs the index as the error message advises, and
`medcite info` says which generations are intact."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from medcite.index import layout
from medcite.index.errors import IndexCorruptError
from medcite.index.reader import open_index
from medcite.index.testing import CORPUS, FakeEmbedder, write_jsonl
from medcite.ingest.pipeline import ingest
from medcite.web.cli import main
from tests.support import crash_on_current_switch


def flip_a_byte(generation: Path) -> None:
    path = generation / layout.VECTORS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate_the_store(generation: Path) -> None:
    path = generation / layout.STORE_FILE
    path.write_bytes(path.read_bytes()[:100])


def garble_the_manifest(generation: Path) -> None:
    (generation / layout.MANIFEST_FILE).write_text("{not json")


DAMAGE: list[Callable[[Path], None]] = [flip_a_byte, truncate_the_store, garble_the_manifest]


@pytest.fixture
def two_generations(tmp_path: Path) -> tuple[Path, Path, Path]:
    """gen-000001 holds a.jsonl (glaucoma, asthma), gen-000002 adds b.jsonl (diabetes)."""
    a = write_jsonl(tmp_path / "a.jsonl", CORPUS[:2])
    b = write_jsonl(tmp_path / "b.jsonl", CORPUS[2:3])
    c = write_jsonl(tmp_path / "c.jsonl", CORPUS[3:])
    root = tmp_path / "ix"
    ingest([a], root, FakeEmbedder())
    ingest([b], root, FakeEmbedder())
    assert layout.current_generation(root) == root / "gen-000002"
    return root, a, c


def stored_ids(root: Path) -> list[str]:
    index = open_index(root)
    return sorted(doc_id for doc_id, _ in index.titles())


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__)
def test_ingest_builds_on_the_newest_intact_generation_when_the_current_one_is_corrupt(
    two_generations: tuple[Path, Path, Path], damage: Callable[[Path], None]
) -> None:
    root, _, c = two_generations
    damage(root / "gen-000002")
    with pytest.raises(IndexCorruptError, match="medcite ingest"):
        open_index(root)  # the advice the error gives ...
    report = ingest([c], root, FakeEmbedder())  # ... is what repairs it
    assert report.generation == 3
    assert "gen-000001" in report.recovered and "newest intact" in report.recovered
    # gen-000001's documents plus the new file; b.jsonl's document was only in the bad one.
    assert stored_ids(root) == ["ASTH_1", "GLAU_1", "XSS_1"]
    assert report.documents_total == 3
    assert (root / "gen-000002").is_dir()  # kept for inspection after the switch


def test_ingest_recovers_when_current_names_a_missing_generation(
    two_generations: tuple[Path, Path, Path],
) -> None:
    root, _, c = two_generations
    (root / layout.CURRENT_FILE).write_text("gen-000099\n")
    with pytest.raises(IndexCorruptError, match="medcite ingest"):
        open_index(root)
    report = ingest([c], root, FakeEmbedder())
    assert "gen-000099" in report.recovered and "gen-000002" in report.recovered
    assert stored_ids(root) == ["ASTH_1", "DIAB_1", "GLAU_1", "XSS_1"]


def test_ingest_rebuilds_from_the_files_when_no_generation_is_intact(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS[:2])
    root = tmp_path / "ix"
    ingest([corpus], root, FakeEmbedder())
    flip_a_byte(root / "gen-000001")
    report = ingest([write_jsonl(tmp_path / "more.jsonl", CORPUS[3:])], root, FakeEmbedder())
    assert "no generation is intact" in report.recovered
    assert (report.generation, report.added) == (2, 1)
    assert stored_ids(root) == ["XSS_1"]


def test_recovery_rewrites_even_when_nothing_new_was_read(
    two_generations: tuple[Path, Path, Path],
) -> None:
    root, a, _ = two_generations
    flip_a_byte(root / "gen-000002")
    report = ingest([a], root, FakeEmbedder())  # a.jsonl is unchanged since gen-000001
    assert (report.unchanged, report.generation) == (2, 3)
    assert open_index(root).generation == 3


def test_the_corrupt_generation_is_kept_until_the_new_one_serves(
    two_generations: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _, c = two_generations
    flip_a_byte(root / "gen-000002")
    evidence = {p.name: p.read_bytes() for p in (root / "gen-000002").iterdir()}
    crash_on_current_switch(monkeypatch)
    with pytest.raises(OSError, match="power cut"):
        ingest([c], root, FakeEmbedder())
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in (root / "gen-000002").iterdir()} == evidence
    assert layout.current_generation(root) == root / "gen-000002"

    report = ingest([c], root, FakeEmbedder())  # builds on gen-000003, complete but unserved
    assert "gen-000002" in report.recovered and "gen-000003" in report.recovered
    assert open_index(root).generation == report.generation == 4


def test_check_generations_says_which_are_intact(two_generations: tuple[Path, Path, Path]) -> None:
    root, _, _ = two_generations
    flip_a_byte(root / "gen-000002")
    checks = layout.check_generations(root)
    assert [(c.name, c.current, c.intact) for c in checks] == [
        ("gen-000002", True, False),
        ("gen-000001", False, True),
    ]
    assert layout.VECTORS_FILE in checks[0].problem
    assert checks[1].manifest is not None and checks[1].manifest.documents == 2


def test_info_lists_the_generations_and_which_are_intact(
    two_generations: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, _ = two_generations
    assert main(["info", "--index", str(root)]) == 0
    out = capsys.readouterr().out
    assert "generation 2" in out
    assert "gen-000002  current  intact" in out and "gen-000001           intact" in out

    flip_a_byte(root / "gen-000002")
    assert main(["info", "--index", str(root)]) == 2
    captured = capsys.readouterr()
    assert "gen-000002  current  not intact:" in captured.out
    assert "gen-000001           intact" in captured.out
    assert "medcite ingest" in captured.err

    assert main(["info", "--index", str(root), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert [(g["name"], g["current"], g["intact"]) for g in data["generations"]] == [
        ("gen-000002", True, False),
        ("gen-000001", False, True),
    ]
    assert layout.VECTORS_FILE in data["error"]
