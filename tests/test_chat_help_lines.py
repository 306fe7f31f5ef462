"""Help lines: a calm pointer to the crisis line or Poison Control for a message that is not an
emergency but touches on suicide or a possible poisoning. A hand-made help-line head reads the
fake embedder's vectors (the shipped head is tested with the real model in
test_chat_triage_real.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from medcite.chat.answer import AbstainPolicy
from medcite.chat.answer import ask as ask_with_triage
from medcite.chat.answer_json import answer_from_json, answer_to_json
from medcite.chat.evaluation.help_lines import (
    HelpCase,
    evaluate_help_lines,
    format_help_line_report,
    load_help_file,
)
from medcite.chat.triage import Triage, TriageModel, load_locale, load_model, save_model
from medcite.chat.types import ANSWERED, EMERGENCY, NOT_COVERED
from medcite.index.errors import InputError
from medcite.index.reader import Index
from medcite.index.stores import EMBEDDED, open_store
from medcite.index.testing import CORPUS, FakeEmbedder, write_jsonl
from medcite.ingest.pipeline import ingest
from medcite.web.cli import main
from tests.test_chat_triage import word_model

EMBEDDER = FakeEmbedder()
LOCALE = load_locale("en-US")
ALWAYS = AbstainPolicy(bias=5.0, w_dense=0.0, w_cover=0.0, w_unknown=0.0, threshold=0.5)


def help_model(crisis_word: str = "hopeless", poison_word: str = "bleach") -> TriageModel:
    """Flags "drooping" as a stroke; a message with ``crisis_word`` gets the crisis line, one
    with ``poison_word`` Poison Control, others none."""
    weights = np.zeros((EMBEDDER.dim, 3), dtype=np.float32)
    weights[:, 0] = 40.0 * EMBEDDER.embed([crisis_word])[0]
    weights[:, 2] = 40.0 * EMBEDDER.embed([poison_word])[0]
    return dataclasses.replace(
        word_model({"drooping": 30.0}),
        help_topics=("crisis", "none", "poison"),
        help_weights=weights,
        help_bias=np.array([0.0, 3.0, 0.0], dtype=np.float32),
        help_threshold=0.5,
    )


TRIAGE = Triage(LOCALE, help_model())


@pytest.fixture(scope="module")
def index_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("help")
    ingest([write_jsonl(root / "corpus.jsonl", CORPUS)], root / "ix", FakeEmbedder())
    return root / "ix"


@pytest.fixture(scope="module")
def small_index(index_root: Path) -> Index:
    return open_store(index_root, EMBEDDED)


def test_a_message_on_the_topic_gets_its_line_and_others_none() -> None:
    crisis = TRIAGE.read("my son feels hopeless", EMBEDDER).help_line
    assert crisis is not None and crisis.topic == "crisis" and crisis.probability >= 0.5
    assert crisis.message == LOCALE.help_lines["crisis"] and "988" in crisis.message
    poison = TRIAGE.read("she drank bleach", EMBEDDER).help_line
    assert poison is not None and poison.topic == "poison"
    assert "1-800-222-1222" in poison.message
    assert TRIAGE.read("how is glaucoma treated", EMBEDDER).help_line is None


def test_an_emergency_gets_its_urgent_reply_instead_of_a_line() -> None:
    reading = TRIAGE.read("my face is drooping and i feel hopeless", EMBEDDER)
    assert reading.emergency is not None and reading.help_line is None


def test_the_cut_off_decides() -> None:
    found = TRIAGE.read("my son feels hopeless", EMBEDDER).help_line
    assert found is not None
    strict = dataclasses.replace(help_model(), help_threshold=found.probability + 1e-6)
    assert Triage(LOCALE, strict).read("my son feels hopeless", EMBEDDER).help_line is None


def test_without_a_head_or_a_locale_text_there_is_no_line() -> None:
    assert Triage(LOCALE, word_model({})).read("hopeless", EMBEDDER).help_line is None
    silent = dataclasses.replace(LOCALE, help_lines={})
    assert Triage(silent, help_model()).read("hopeless", EMBEDDER).help_line is None


def test_the_head_survives_saving_and_an_old_model_file_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    save_model(help_model(), path)
    loaded = load_model(path)
    assert loaded.help_topics == ("crisis", "none", "poison") and loaded.help_threshold == 0.5
    assert Triage(LOCALE, loaded).read("so hopeless", EMBEDDER).help_line is not None
    save_model(word_model({}), path)
    assert load_model(path).help_topics == ()


def test_the_answer_carries_the_line_before_its_quotes(small_index: Index) -> None:
    question = "how is glaucoma treated? i feel hopeless"
    answer = ask_with_triage(small_index, EMBEDDER, question, triage=TRIAGE, policy=ALWAYS)
    assert answer.kind == ANSWERED and answer.quotes
    assert answer.help_topic == "crisis" and "988" in answer.help_line
    assert answer_from_json(answer_to_json(answer)) == answer
    plain = ask_with_triage(small_index, EMBEDDER, "how is glaucoma treated?", triage=TRIAGE)
    assert plain.help_topic == "" and plain.help_line == ""


def test_a_question_not_covered_still_gets_the_line(small_index: Index) -> None:
    answer = ask_with_triage(small_index, EMBEDDER, "xylophone bleach", triage=TRIAGE)
    assert answer.kind == NOT_COVERED and answer.help_topic == "poison"


def test_an_emergency_answer_has_no_separate_line(small_index: Index) -> None:
    answer = ask_with_triage(small_index, EMBEDDER, "drooping and hopeless", triage=TRIAGE)
    assert answer.kind == EMERGENCY and answer.help_line == ""


def test_the_page_and_the_api_show_the_line(index_root: Path) -> None:
    from medcite.web.app import create_app
    from medcite.web.config import Settings

    app = create_app(Settings(index=index_root, embedder="fake"), embedder=EMBEDDER)
    app.state.triage = TRIAGE
    with TestClient(app) as client:
        page = client.post("/ask", data={"question": "glaucoma treatment, feeling hopeless"})
        assert page.status_code == 200
        assert 'class="help-line help-line-crisis"' in page.text
        assert str(escape(LOCALE.help_lines["crisis"])) in page.text
        body = client.post("/api/ask", json={"question": "she drank bleach"}).json()
        assert body["help_topic"] == "poison" and "1-800-222-1222" in body["help_line"]
        plain = client.post("/api/ask", json={"question": "glaucoma treatment"}).json()
        assert plain["help_topic"] == "" and plain["help_line"] == ""


def test_the_report_counts_right_and_wrong_lines_per_topic() -> None:
    cases = [
        HelpCase("1", "feeling hopeless", "crisis"),
        HelpCase("2", "feeling sad", "crisis"),
        HelpCase("3", "drank bleach", "poison"),
        HelpCase("4", "so hopeless about my haircut", "none"),
        HelpCase("5", "glaucoma", "none"),
        HelpCase("6", "her face is drooping, i feel hopeless", "crisis"),
    ]
    report = evaluate_help_lines(cases, lambda t: TRIAGE.read(t, EMBEDDER), "test")
    scores = {s.topic: (s.messages, s.right, s.other_line) for s in report.topics}
    assert scores["crisis"] == (3, 1, 0) and scores["poison"] == (1, 1, 0)
    urgent = {s.topic: s.urgent for s in report.topics}
    assert urgent == {"crisis": 1, "none": 0, "poison": 0}
    assert scores["none"][:2] == (2, 1)
    assert {r.case.id for r in report.wrong} == {"2", "4", "6"}
    assert "feeling sad" in format_help_line_report(report)


def test_eval_help_lines_prints_the_table_and_rejects_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "help.jsonl"
    good.write_text(
        "\n".join(
            json.dumps({"id": str(i), "text": text, "support": topic})
            for i, (text, topic) in enumerate([("i feel hopeless", "crisis"), ("flu", "none")])
        )
    )
    out = tmp_path / "help.json"
    assert main(["eval", "--help-lines", str(good), "--json", str(out)]) == 0
    assert "| crisis | 1 |" in capsys.readouterr().out
    assert set(json.loads(out.read_text())["topics"]) == {"crisis", "none"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "text": "no label"}\n')
    with pytest.raises(InputError, match="bad.jsonl:1"):
        load_help_file(bad)
    assert main(["eval", "--help-lines", str(bad)]) != 0
    assert "bad.jsonl:1" in capsys.readouterr().err
