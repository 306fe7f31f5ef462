"""Triage's learned layer, locale files and scoring, with a tiny hand-made model that reads the
fake embedder (the real model's triage is tested in test_chat_triage_real.py)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from medcite.chat.evaluation.triage import TriageCase, evaluate_triage, format_triage_report
from medcite.chat.triage import (
    DEFAULT_MODEL,
    LEXICAL_BUCKETS,
    LONG_MESSAGE_WORDS,
    Triage,
    TriageModel,
    lexical_features,
    load_locale,
    load_model,
    make_triage,
    save_model,
    segments,
)
from medcite.index.errors import InputError, MedciteError
from medcite.index.testing import FakeEmbedder
from medcite.web.cli import main

EMBEDDER = FakeEmbedder()
LOCALE = load_locale("en-US")


def word_model(words: dict[str, float], situation_of: str = "stroke") -> TriageModel:
    """A model that reads only single words: each weight is added for the word's bucket."""
    lexical = np.zeros(LEXICAL_BUCKETS, dtype=np.float32)
    for word, weight in words.items():
        lexical[zlib.crc32(word.encode()) % LEXICAL_BUCKETS] = weight
    situations = ("cardiac", situation_of) if situation_of != "cardiac" else ("cardiac", "stroke")
    bias = np.array([0.0, 1.0] if situation_of != "cardiac" else [1.0, 0.0], dtype=np.float32)
    return TriageModel(
        embedder=EMBEDDER.name,
        threshold=0.5,
        bias=-2.0,
        dense=np.zeros(EMBEDDER.dim, dtype=np.float32),
        lexical=lexical,
        rules=np.zeros(2, dtype=np.float32),
        situations=situations,
        situation_weights=np.zeros((EMBEDDER.dim, 2), dtype=np.float32),
        situation_bias=bias,
    )


MODEL = word_model({"drooping": 30.0, "ago": -30.0})


def test_the_model_flags_what_its_weights_say_and_names_the_situation() -> None:
    triage = Triage(LOCALE, MODEL)
    found, _ = triage.check("my face is drooping", EMBEDDER)
    assert found is not None
    assert found.situation == "stroke"
    assert found.name == LOCALE.situations["stroke"].name
    assert found.message == LOCALE.situations["stroke"].message
    assert 0.5 <= found.probability <= 1.0
    assert triage.check("my face was drooping two years ago", EMBEDDER)[0] is None


def test_the_model_overrules_the_phrase_rules_both_ways() -> None:
    """ "i cant breathe" is an urgent phrase, but this model gives it no weight; "drooping" in a
    general question is no rule's symptom, but the model flags it."""
    triage = Triage(LOCALE, MODEL)
    assert Triage(LOCALE, None).check("i cant breathe", EMBEDDER)[0] is not None
    assert triage.check("i cant breathe", EMBEDDER)[0] is None
    assert triage.check("what is drooping", EMBEDDER)[0] is not None


def test_check_returns_the_sentence_vector_for_retrieval_to_reuse() -> None:
    _, vector = Triage(LOCALE, MODEL).check("how is glaucoma treated", EMBEDDER)
    assert vector is not None
    np.testing.assert_allclose(vector, EMBEDDER.embed(["how is glaucoma treated"])[0])


def test_a_model_for_another_embedder_leaves_the_rules_to_decide() -> None:
    other = FakeEmbedder(name="another-model")
    triage = Triage(LOCALE, MODEL)
    assert triage.check("what is drooping", other) == (None, None)
    found, _ = triage.check("crushing chest pain right now", other)
    assert found is not None and found.situation == "cardiac"
    assert "rules only" in triage.describe(other)


def test_a_danger_sign_deep_in_a_long_story_is_read_in_its_own_window() -> None:
    story = " ".join(["we went to the market and bought apples for the pie"] * 20)
    text = f"{story} and then her face is drooping {story}"
    assert len(text.split()) > LONG_MESSAGE_WORDS
    pieces = segments(text)
    assert pieces[0] == text and len(pieces) > 2
    assert any("drooping" in piece for piece in pieces[1:])
    # A word that tips a short window over the cut-off weighs too little in the whole story.
    window = next(piece for piece in pieces[1:] if "drooping" in piece)
    in_window = lexical_features(window)[zlib.crc32(b"drooping") % LEXICAL_BUCKETS]
    model = word_model({"drooping": 3.0 / in_window})
    assert model.probability(text, np.zeros(EMBEDDER.dim)) < 0.5
    assert Triage(LOCALE, model).check(text, EMBEDDER)[0] is not None


def test_lexical_features_are_normalised_and_fix_typos_of_key_words() -> None:
    features = lexical_features("chset pain")
    assert abs(sum(v * v for v in features.values()) - 1.0) < 1e-6
    assert features == lexical_features("CHEST pain!!")


def test_a_model_survives_saving_and_loading(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    save_model(MODEL, path)
    loaded = load_model(path)
    assert loaded.embedder == MODEL.embedder and loaded.situations == MODEL.situations
    np.testing.assert_array_equal(loaded.lexical, MODEL.lexical)
    assert loaded.probability("face drooping", np.zeros(EMBEDDER.dim)) == pytest.approx(
        MODEL.probability("face drooping", np.zeros(EMBEDDER.dim))
    )


def test_a_broken_or_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a model")
    with pytest.raises(MedciteError, match="not valid"):
        load_model(broken)
    with pytest.raises(MedciteError, match="no triage model"):
        load_model(tmp_path / "missing.npz")


def test_the_shipped_model_reads_the_shipped_embedding_model() -> None:
    model = load_model(DEFAULT_MODEL)
    assert model.embedder == "sentence-transformers/all-MiniLM-L6-v2"
    assert set(model.situations) <= set(LOCALE.situations)
    assert 0.0 < model.threshold < 1.0


def test_every_situation_reply_tells_the_reader_whom_to_call() -> None:
    assert len(LOCALE.situations) >= 20
    for situation in LOCALE.situations.values():
        assert "911" in situation.message, situation.key
        assert situation.name
    assert "988" in LOCALE.situations["suicide"].message
    for key in ("poisoning_adult", "poisoning_child"):
        assert "1-800-222-1222" in LOCALE.situations[key].message
    assert "F.A.S.T." in LOCALE.situations["stroke"].message


def test_a_locale_file_switches_the_numbers_and_the_publisher(tmp_path: Path) -> None:
    raw = json.loads((DEFAULT_MODEL.parent / "locales" / "en-US.json").read_text())
    raw["locale"] = "en-GB"
    raw["disclaimer"] = "From {publisher}, not medical advice. In an emergency, call 999."
    raw["situations"]["stroke"]["message"] = "Call 999 now."
    path = tmp_path / "en-GB.json"
    path.write_text(json.dumps(raw))
    triage = make_triage(path, None, publisher="the NHS")
    assert (
        triage.locale.disclaimer == "From the NHS, not medical advice. In an emergency, call 999."
    )
    found, _ = triage.check("my face is drooping and my arm is weak", EMBEDDER)
    assert found is not None and found.message == "Call 999 now."


def test_a_missing_or_broken_locale_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MedciteError, match="no locale file"):
        load_locale("xx-XX")
    broken = tmp_path / "broken.json"
    broken.write_text('{"locale": "x"}')
    with pytest.raises(MedciteError, match="not valid"):
        load_locale(broken)


def test_the_report_counts_recall_and_false_alarms_per_situation() -> None:
    cases = [
        TriageCase("1", "her face is drooping", True, "stroke"),
        TriageCase("2", "his face is numb", True, "stroke"),
        TriageCase("3", "drooping eyelid questions", False, "stroke"),
        TriageCase("4", "what is a stroke", False, "stroke"),
        TriageCase("5", "drooping chest", True, "cardiac"),
    ]
    triage = Triage(LOCALE, MODEL)
    report = evaluate_triage(cases, lambda text: triage.check(text, EMBEDDER)[0], "test")
    stroke = {s.situation: s for s in report.situations}["stroke"]
    assert (stroke.emergencies, stroke.caught, stroke.look_alikes, stroke.false_alarms) == (
        2,
        1,
        2,
        1,
    )
    assert stroke.recall == 0.5 and stroke.false_alarm_rate == 0.5
    assert report.totals.emergencies == 3 and report.totals.caught == 2
    cardiac = {s.situation: s for s in report.situations}["cardiac"]
    assert cardiac.caught == 1 and cardiac.named_right == 0  # named "stroke" by this model
    assert [r.case.id for r in report.misses] == ["2"]
    assert [r.case.id for r in report.false_alarms] == ["3"]
    text = format_triage_report(report)
    assert "his face is numb" in text and "drooping eyelid questions" in text


def test_medcite_eval_triage_prints_recall_and_misses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "triage.jsonl"
    rows = [
        {"id": "a", "text": "i cant breathe", "label": "emergency", "situation": "breathing"},
        {"id": "b", "text": "my toe itches", "label": "emergency", "situation": "burn"},
        {"id": "c", "text": "what is asthma", "label": "not_emergency", "situation": "breathing"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.json"
    assert main(["--embedder", "fake", "eval", "--triage", str(path), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "rules only" in printed and "my toe itches" in printed
    result = json.loads(out.read_text())
    assert result["totals"]["recall"] == 0.5 and result["totals"]["false_alarm_rate"] == 0.0
    assert [m["id"] for m in result["misses"]] == ["b"]


def test_a_bad_triage_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "text": "x", "label": "maybe", "situation": "burn"}\n')
    assert main(["--embedder", "fake", "eval", "--triage", str(path)]) == 2
    assert "line 1" in capsys.readouterr().err
    with pytest.raises(InputError):
        from medcite.chat.evaluation.triage import load_triage_file

        load_triage_file(tmp_path / "missing.jsonl")
