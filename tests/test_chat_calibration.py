"""The abstention policy as data: fitting it (`medcite calibrate`), storing it beside an
index's manifest, answering with it, carrying it through a re-ingest and showing it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import medcite
from medcite.chat import calibration
from medcite.chat.answer import (
    DEFAULT_HEAD,
    DEFAULT_POLICY,
    DEFAULT_POLICY_FILE,
    AbstainPolicy,
    Evidence,
)
from medcite.chat.calibration import fit_policy, policy_for, write_policy
from medcite.chat.conversation import ConversationStore, converse
from medcite.chat.triage import make_triage
from medcite.chat.types import ANSWERED, NOT_COVERED
from medcite.index import layout
from medcite.index.reader import open_index
from medcite.index.testing import CORPUS, FakeEmbedder, article, write_jsonl
from medcite.ingest.pipeline import ingest
from medcite.web.cli import main

ALWAYS = AbstainPolicy(bias=50.0, threshold=0.5, source="test: answers everything")
NEVER = AbstainPolicy(bias=-50.0, threshold=0.5, source="test: answers nothing")

ANSWERABLE = [
    "How is glaucoma treated?",
    "What are the symptoms of glaucoma?",
    "What is asthma?",
    "How is asthma treated?",
    "What is diabetes?",
    "What is glaucoma?",
]
UNANSWERABLE = [
    "How should I store warfarin tablets?",
    "abacavir dosage for zidovudine",
    "how do i change the oil in my car",
    "what is the capital of portugal",
]


def _questions_file(tmp_path: Path, answerable: list[str], unanswerable: list[str]) -> Path:
    rows = [
        {"id": f"a{n}", "question": q, "kind": "answerable", "article_ids": ["GLAU_1"]}
        for n, q in enumerate(answerable)
    ] + [{"id": f"u{n}", "question": q, "answerable": False} for n, q in enumerate(unanswerable)]
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _own_policy_file(root: Path) -> Path:
    current = layout.current_generation(root)
    assert current is not None
    return layout.policy_path(current)


def test_fit_separates_two_clearly_separable_groups() -> None:
    answerable = [Evidence(0.8 + 0.01 * i, 0.7 + 0.02 * i, False) for i in range(10)]
    unanswerable = [Evidence(0.2 + 0.01 * i, 0.1 + 0.02 * i, i % 2 == 0) for i in range(10)]
    policy = fit_policy(answerable, unanswerable, answer_rate=1.0)
    assert all(policy.confidence(e) >= policy.threshold for e in answerable)
    assert all(policy.confidence(e) < policy.threshold for e in unanswerable)
    assert policy.w_dense > 0 and policy.w_cover > 0
    assert all(math.isfinite(v) for v in (policy.bias, policy.w_dense, policy.w_cover))


@pytest.mark.parametrize("rate", [0.5, 0.8, 0.9, 0.97, 1.0])
def test_threshold_answers_the_requested_share_of_answerable_questions(rate: float) -> None:
    rng = np.random.default_rng(7)

    def group(n: int, dense: float, cover: tuple[float, float], unknown: float) -> list[Evidence]:
        rows = zip(
            rng.normal(dense, 0.1, n), rng.uniform(*cover, n), rng.random(n) < unknown, strict=True
        )
        return [Evidence(float(d), float(c), bool(u)) for d, c, u in rows]

    answerable = group(200, 0.6, (0.3, 1.0), 0.1)
    unanswerable = group(80, 0.45, (0.0, 0.7), 0.5)
    policy = fit_policy(answerable, unanswerable, answer_rate=rate)
    answered = sum(policy.confidence(e) >= policy.threshold for e in answerable)
    # The highest cut-off that answers the share: exactly the needed number, no more.
    assert answered == math.ceil(rate * len(answerable))


def test_policy_file_round_trips(tmp_path: Path) -> None:
    policy = AbstainPolicy(-3.25, 7.5, 2.125, -1.0, 0.5, source="fitted on my questions")
    path = tmp_path / "abstain-policy.json"
    write_policy(path, policy, fitted={"answer_rate": 0.9})
    loaded = AbstainPolicy.load(path)
    assert loaded == policy
    assert loaded.source == "fitted on my questions"
    assert json.loads(path.read_text())["fitted"] == {"answer_rate": 0.9}


def test_policy_file_round_trips_the_later_weights(tmp_path: Path) -> None:
    policy = AbstainPolicy(-3.0, 7.5, 2.0, -1.0, 0.5, w_label=0.25, w_length=1.5, w_absent=-2.0)
    write_policy(tmp_path / "p.json", policy)
    assert AbstainPolicy.load(tmp_path / "p.json") == policy


def test_a_version_2_policy_file_reads_with_no_length_or_absence_weight(tmp_path: Path) -> None:
    path = tmp_path / "v2.json"
    fields = {"bias": -3.0, "w_dense": 7.5, "w_cover": 2.0, "w_unknown": -1.0, "threshold": 0.5}
    data = {"format": "medcite-abstain-policy", "format_version": 2, "w_label": 0.5, **fields}
    path.write_text(json.dumps(data))
    assert AbstainPolicy.load(path) == AbstainPolicy(**fields, w_label=0.5)


def test_the_length_and_absence_weights_move_the_confidence() -> None:
    policy = AbstainPolicy(w_length=1.0, w_absent=-2.0)
    plain = Evidence(0.5, 0.5, False)
    assert policy.confidence(Evidence(0.5, 0.5, False, length=2.0)) > policy.confidence(plain)
    assert policy.confidence(Evidence(0.5, 0.5, False, absent=1.0)) < policy.confidence(plain)


def test_a_version_4_policy_file_reads_with_no_lead_weight(tmp_path: Path) -> None:
    path = tmp_path / "v4.json"
    fields = {"bias": -3.0, "w_dense": 7.5, "w_cover": 2.0, "w_unknown": -1.0, "threshold": 0.5}
    data = {"format": "medcite-abstain-policy", "format_version": 4, "w_strange": -1.0, **fields}
    path.write_text(json.dumps(data))
    assert AbstainPolicy.load(path) == AbstainPolicy(**fields, w_strange=-1.0)


def test_a_clearer_lead_of_the_top_article_raises_the_confidence() -> None:
    policy = AbstainPolicy(w_lead=1.5)
    plain = Evidence(0.5, 0.5, False)
    assert policy.confidence(Evidence(0.5, 0.5, False, lead=0.4)) > policy.confidence(plain)


def test_a_version_1_policy_file_reads_with_no_label_weight(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    fields = {"bias": -3.0, "w_dense": 7.5, "w_cover": 2.0, "w_unknown": -1.0, "threshold": 0.5}
    path.write_text(json.dumps({"format": "medcite-abstain-policy", "format_version": 1, **fields}))
    assert AbstainPolicy.load(path) == AbstainPolicy(**fields)


def test_shipped_default_policy_is_read_from_its_file_and_says_how_it_was_fitted() -> None:
    data = json.loads(DEFAULT_POLICY_FILE.read_text())
    assert AbstainPolicy.load(DEFAULT_POLICY_FILE) == DEFAULT_POLICY
    assert DEFAULT_POLICY.source == data["source"] and "bench/calibrate.py" in data["source"]
    # A closer passage, and more of the question found in it, can only raise the confidence;
    # technical words the article never uses can only lower it.
    assert DEFAULT_POLICY.w_dense > 0 and DEFAULT_POLICY.w_cover > 0
    assert DEFAULT_POLICY.w_absent < 0
    # One article well ahead of the rest is a sign the question is about it.
    assert DEFAULT_POLICY.w_lead > 0


@pytest.mark.parametrize("missing", ["unanswerable", "answerable"])
def test_calibrate_refuses_a_file_with_only_one_kind_of_question(
    missing: str, index_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if missing == "unanswerable":
        path = _questions_file(tmp_path, ANSWERABLE, [])
    else:
        path = _questions_file(tmp_path, [], UNANSWERABLE)
    args = ["--embedder", "fake", "calibrate", "--questions", str(path), "--index", str(index_root)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("medcite: error: ") and f"no {missing} questions" in err
    assert not _own_policy_file(index_root).exists()


def test_calibrate_writes_the_index_policy_that_answers_the_requested_share(
    fresh_index_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _questions_file(tmp_path, ANSWERABLE, UNANSWERABLE)
    args = ["--embedder", "fake", "calibrate", "--questions", str(path)]
    assert main([*args, "--index", str(fresh_index_root), "--answer-rate", "1.0"]) == 0
    assert "wrote" in capsys.readouterr().out
    written = _own_policy_file(fresh_index_root)
    data = json.loads(written.read_text())
    assert "questions.jsonl" in data["source"]
    assert data["fitted"]["questions"] == {"answerable": 6, "unanswerable": 4, "skipped": 0}
    with medcite.open_index(fresh_index_root, embedder=FakeEmbedder()) as index:
        assert index.policy == AbstainPolicy.load(written)
        kinds = [index.ask(q).kind for q in ANSWERABLE]
    assert kinds == [ANSWERED] * len(ANSWERABLE)


def test_calibrate_keeps_only_the_chosen_split(
    fresh_index_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"id": "a1", "question": "What is asthma?", "kind": "answerable", "split": "tune"},
        {"id": "u1", "question": "warfarin storage", "kind": "unanswerable", "split": "tune"},
        {"id": "u2", "question": "abacavir dosage", "kind": "unanswerable", "split": "check"},
    ]
    for row in rows:
        if row["kind"] == "answerable":
            row["article_ids"] = ["ASTH_1"]
    path = write_jsonl(tmp_path / "real.jsonl", rows)
    args = ["--embedder", "fake", "calibrate", "--questions", str(path), "--split"]
    assert main([*args, "check", "--index", str(fresh_index_root)]) == 2
    assert "no answerable questions" in capsys.readouterr().err
    assert main([*args, "tune", "--index", str(fresh_index_root)]) == 0
    data = json.loads(_own_policy_file(fresh_index_root).read_text())
    assert data["fitted"]["questions"]["answerable"] == 1
    assert "split tune" in data["source"]


def test_answering_uses_the_index_policy_when_its_generation_has_one(
    fresh_index_root: Path, embedder: FakeEmbedder, capsys: pytest.CaptureFixture[str]
) -> None:
    question = "How is glaucoma treated?"
    index = open_index(fresh_index_root)
    assert policy_for(index) is calibration.DEFAULT_POLICY  # no file: the default
    for policy, kind in ((ALWAYS, ANSWERED), (NEVER, NOT_COVERED)):
        write_policy(_own_policy_file(fresh_index_root), policy)
        assert policy_for(index) == policy
        answer = converse(index, embedder, make_triage(), ConversationStore(), "c" * 24, question)
        assert answer.kind == kind
        with medcite.open_index(fresh_index_root, embedder=embedder) as api:
            assert api.ask(question).kind == kind
        args = ["--embedder", "fake", "ask", question, "--index", str(fresh_index_root)]
        assert main([*args, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["kind"] == kind


def test_the_web_app_answers_with_the_index_policy(
    make_client: object, fresh_index_root: Path
) -> None:
    write_policy(_own_policy_file(fresh_index_root), NEVER)
    client: TestClient = make_client(fresh_index_root)  # type: ignore[operator]
    response = client.post("/api/ask", json={"question": "How is glaucoma treated?"})
    assert response.status_code == 200
    assert response.json()["kind"] == NOT_COVERED
    write_policy(_own_policy_file(fresh_index_root), ALWAYS)
    response = client.post("/api/ask", json={"question": "How is glaucoma treated?"})
    assert response.json()["kind"] == ANSWERED


def test_reingest_carries_the_policy_into_the_new_generation(
    fresh_index_root: Path, tmp_path: Path, embedder: FakeEmbedder
) -> None:
    before = _own_policy_file(fresh_index_root)
    write_policy(before, NEVER)
    extra = article("GOUT_1", "Gout", [("Overview", "What is gout: gout is a kind of arthritis.")])
    corpus = write_jsonl(tmp_path / "more.jsonl", [*CORPUS, extra])
    report = ingest([corpus], fresh_index_root, embedder)
    after = _own_policy_file(fresh_index_root)
    assert after.parent.name == layout.generation_name(report.generation) != before.parent.name
    assert after.read_bytes() == before.read_bytes()
    loaded = policy_for(open_index(fresh_index_root))
    assert loaded == NEVER and loaded.source == NEVER.source


def test_info_shows_which_policy_is_in_force(
    fresh_index_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", "--index", str(fresh_index_root)]) == 0
    out = capsys.readouterr().out
    assert (
        "abstention policy: the shipped default" in out and calibration.DEFAULT_POLICY.source in out
    )
    write_policy(_own_policy_file(fresh_index_root), NEVER)
    assert main(["info", "--index", str(fresh_index_root)]) == 0
    out = capsys.readouterr().out
    assert f"abstention policy: {_own_policy_file(fresh_index_root)}" in out
    assert NEVER.source in out and "bias -50," in out  # the numbers in force, too
    assert main(["info", "--index", str(fresh_index_root), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["abstain_policy"]
    assert shown["file"] == str(_own_policy_file(fresh_index_root))
    assert shown["source"] == NEVER.source and shown["weights"]["bias"] == -50.0
    # The question head is the shipped one; it cannot read the fake embedder's vectors.
    assert shown["question_head"]["reads_this_index"] is False
    assert shown["question_head"]["source"] == DEFAULT_HEAD.source


def test_info_says_when_the_question_head_cannot_read_the_index(
    fresh_index_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", "--index", str(fresh_index_root)]) == 0
    out = capsys.readouterr().out
    assert "kind: the question head in" in out and "kind is 0" in out


def test_a_broken_index_policy_file_is_named_in_the_error(
    fresh_index_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _own_policy_file(fresh_index_root).write_text("{not json", encoding="utf-8")
    args = ["--embedder", "fake", "ask", "What is asthma?", "--index", str(fresh_index_root)]
    assert main(args) == 2
    assert "abstain-policy.json" in capsys.readouterr().err
