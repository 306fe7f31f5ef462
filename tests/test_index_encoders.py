"""Which encoder embeds an index: chosen to match the index, never mixed, and changed by one
command (`medcite reencode`). The int8 encoder's fidelity to fp32 is in
test_index_int8_real.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medcite.index import layout
from medcite.index.embedder import (
    DEFAULT_KIND,
    FAKE_MODEL_NAME,
    INT8_MODEL_NAME,
    MODEL_NAME,
    CachingEmbedder,
    resolve_kind,
)
from medcite.index.errors import IndexMismatchError, IndexMissingError
from medcite.index.reader import open_index
from medcite.index.testing import CORPUS, FakeEmbedder, write_jsonl
from medcite.ingest.pipeline import ingest
from medcite.web import cli


@pytest.mark.parametrize(
    ("index_model", "kind"),
    [
        (None, DEFAULT_KIND),
        (INT8_MODEL_NAME, "minilm-int8"),
        (MODEL_NAME, "minilm"),
        (FAKE_MODEL_NAME, "fake"),
    ],
)
def test_auto_follows_the_encoder_that_built_the_index(index_model: str | None, kind: str) -> None:
    assert resolve_kind("auto", index_model) == kind


def test_a_named_encoder_is_used_as_named() -> None:
    assert resolve_kind("minilm", INT8_MODEL_NAME) == "minilm"


def test_an_index_from_an_unknown_encoder_and_an_unknown_kind_are_explained() -> None:
    with pytest.raises(ValueError, match="medcite reencode"):
        resolve_kind("auto", "someone/else")
    with pytest.raises(ValueError, match="unknown embedder 'bert'"):
        resolve_kind("bert", None)


def test_current_model_reads_the_manifest_and_is_none_without_one(tmp_path: Path) -> None:
    assert layout.current_model(tmp_path / "nothing") is None
    ingest([write_jsonl(tmp_path / "c.jsonl", CORPUS)], tmp_path / "ix", FakeEmbedder(name="m-a"))
    assert layout.current_model(tmp_path / "ix") == "m-a"


def test_reencode_embeds_every_passage_again_and_keeps_the_documents(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    first = ingest([corpus], tmp_path / "ix", FakeEmbedder(name="model-a"))
    with pytest.raises(IndexMismatchError, match="medcite reencode"):
        ingest([corpus], tmp_path / "ix", FakeEmbedder(name="model-b"))

    report = ingest([], tmp_path / "ix", FakeEmbedder(name="model-b"), reencode=True)

    assert report.generation == first.generation + 1
    assert report.passages_embedded == report.passages_total == first.passages_total
    assert report.documents_total == first.documents_total
    with pytest.raises(IndexMismatchError):
        open_index(tmp_path / "ix", model="model-a")
    index = open_index(tmp_path / "ix", model="model-b")
    assert index.manifest.model == "model-b"
    # Once re-encoded, the new encoder ingests incrementally: nothing is embedded again.
    again = ingest([corpus], tmp_path / "ix", FakeEmbedder(name="model-b"))
    assert again.passages_embedded == 0 and again.generation == report.generation


def test_reencode_needs_an_index(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="no index"):
        ingest([], tmp_path / "ix", FakeEmbedder(), reencode=True)


def test_the_reencode_command_switches_the_encoder_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", CORPUS)
    ingest([corpus], tmp_path / "ix", FakeEmbedder(name="an-older-encoder"))
    argv = ["--embedder", "fake", "reencode", "--index", str(tmp_path / "ix"), "--json"]

    assert cli.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passages_embedded"] == report["passages_total"] > 0
    assert layout.current_model(tmp_path / "ix") == FAKE_MODEL_NAME

    assert cli.main(argv) == 0
    assert "already encoded" in capsys.readouterr().out
    # `auto` now finds the fake encoder from the manifest: search needs no --embedder.
    assert cli.main(["search", "asthma", "--index", str(tmp_path / "ix")]) == 0


def test_reencode_of_a_missing_index_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--embedder", "fake", "reencode", "--index", str(tmp_path / "no")]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("medcite: error:") and "no index" in line


def test_a_repeated_question_is_embedded_once() -> None:
    inner = FakeEmbedder()
    cached = CachingEmbedder(inner)
    first = cached.embed(["what is asthma"])
    first[0, 0] = 42.0  # the caller's copy; the cache keeps its own
    again, layers = cached.embed_with_layers(["what is asthma"])
    assert inner.calls == [1]
    assert np.array_equal(again, inner.embed(["what is asthma"]))
    assert layers.shape[0] == 1 and cached.name == inner.name and cached.dim == inner.dim


def test_batches_pass_through_the_cache_uncached() -> None:
    inner = FakeEmbedder()
    cached = CachingEmbedder(inner)
    cached.embed(["a b", "c d"])
    cached.embed(["a b", "c d"])
    assert inner.calls == [2, 2]
