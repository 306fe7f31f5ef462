"""The question head (chat/question_kind.py): the kind of question, from its meaning alone, as
one more feature of the abstention policy; and the 'strange word' feature beside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medcite.chat.answer import (
    DEFAULT_HEAD,
    AbstainPolicy,
    Evidence,
    answer_evidence,
)
from medcite.chat.answer import ask as ask_with_triage
from medcite.chat.question_kind import (
    DEFAULT_HEAD_FILE,
    QuestionHead,
    load_head,
    save_head,
)
from medcite.chat.quotes import query_weights
from medcite.chat.retrieve import search
from medcite.chat.triage import make_triage
from medcite.chat.types import ANSWERED, NOT_COVERED
from medcite.index.embedder import INT8_MODEL_NAME, MODEL_NAME
from medcite.index.errors import MedciteError
from medcite.index.reader import Index, open_index
from medcite.index.testing import CORPUS, FakeEmbedder, write_jsonl
from medcite.ingest.pipeline import ingest

TRIAGE = make_triage()
QUESTION = "How is glaucoma treated?"


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    root = tmp_path_factory.mktemp("kind")
    ingest([write_jsonl(root / "corpus.jsonl", CORPUS)], root / "ix", FakeEmbedder())
    return open_index(root / "ix")


def _head_along(question: str, sign: float) -> QuestionHead:
    """A head for the fake embedder scoring ``question`` at ``sign`` (its vector is unit)."""
    vector = FakeEmbedder().embed([question])[0]
    return QuestionHead(FakeEmbedder().name, sign * np.asarray(vector, dtype=np.float64))


def test_the_head_scores_the_vectors_of_its_own_model_only() -> None:
    head = QuestionHead(MODEL_NAME, np.array([1.0, -2.0, 0.5]))
    vector = np.array([0.2, 0.1, 0.4])

    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

    assert head.score(vector, Named(MODEL_NAME)) == pytest.approx(0.2)  # type: ignore[arg-type]
    # The int8 encoder is a quantisation of the same weights: its vectors read the same.
    assert head.score(vector, Named(INT8_MODEL_NAME)) == pytest.approx(0.2)  # type: ignore[arg-type]
    assert head.score(vector, Named("another-model")) == 0.0  # type: ignore[arg-type]
    assert head.score(np.ones(4), Named(MODEL_NAME)) == 0.0  # type: ignore[arg-type]


def test_a_head_file_round_trips(tmp_path: Path) -> None:
    head = QuestionHead(MODEL_NAME, np.array([0.123456, -1.5]), source="fitted in a test")
    save_head(head, tmp_path / "head.json")
    loaded = load_head(tmp_path / "head.json")
    assert loaded.embedder == MODEL_NAME and loaded.source == "fitted in a test"
    assert loaded.weights.tolist() == [0.12346, -1.5]


@pytest.mark.parametrize(
    "text, says",
    [
        ("{not json", "cannot be read"),
        (json.dumps({"format": "something else"}), "not a medcite question head"),
        (json.dumps({"format": "medcite-question-head", "embedder": "m"}), "lacks"),
        (
            json.dumps({"format": "medcite-question-head", "embedder": "m", "weights": [1, "x"]}),
            "finite numbers",
        ),
    ],
)
def test_a_broken_head_file_is_named_in_a_clear_error(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "head.json"
    path.write_text(text)
    with pytest.raises(MedciteError, match=says) as caught:
        load_head(path)
    assert str(path) in str(caught.value)


def test_the_shipped_head_reads_the_shipped_model_and_says_how_it_was_fitted() -> None:
    assert load_head(DEFAULT_HEAD_FILE).embedder == DEFAULT_HEAD.embedder
    assert DEFAULT_HEAD.embedder in (MODEL_NAME, INT8_MODEL_NAME)
    assert DEFAULT_HEAD.weights.shape == (384,)
    assert "bench/calibrate.py" in DEFAULT_HEAD.source


def test_the_head_score_moves_the_answer_through_the_policy(small_index: Index) -> None:
    # The same question and evidence: only the head's score of its meaning differs.
    policy = AbstainPolicy(bias=0.0, w_kind=20.0, threshold=0.5)
    fake = FakeEmbedder()
    liked = ask_with_triage(
        small_index, fake, QUESTION, triage=TRIAGE, policy=policy, head=_head_along(QUESTION, 1)
    )
    disliked = ask_with_triage(
        small_index, fake, QUESTION, triage=TRIAGE, policy=policy, head=_head_along(QUESTION, -1)
    )
    assert liked.kind == ANSWERED and disliked.kind == NOT_COVERED
    # The shipped head cannot read the fake embedder's vectors: it scores 0 (confidence 0.5).
    neutral = ask_with_triage(small_index, fake, QUESTION, triage=TRIAGE, policy=policy)
    assert neutral.confidence == pytest.approx(0.5)


def _evidence(index: Index, question: str) -> Evidence:
    hits = search(index, FakeEmbedder(), question, k=4)
    return answer_evidence(index, hits, query_weights(question, index.idf), question)


def test_a_technical_word_no_article_uses_is_strange(small_index: Index) -> None:
    assert _evidence(small_index, "how is glaucoma treated").strange == 0.0
    # An everyday word no article uses ("jumper") is not strange; a technical one is.
    assert _evidence(small_index, "glaucoma and jumper cables").strange == 0.0
    assert _evidence(small_index, "glaucoma trabeculectomy").strange == 1.0


def test_the_later_weights_round_trip_and_older_files_read_them_as_zero(tmp_path: Path) -> None:
    policy = AbstainPolicy(-1.0, 2.0, 1.0, 0.0, 0.5, w_kind=1.0, w_strange=-0.75)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(policy.to_json()))
    assert AbstainPolicy.load(path) == policy
    data = policy.to_json()
    del data["w_kind"], data["w_strange"]
    data["format_version"] = 3
    path.write_text(json.dumps(data))
    assert AbstainPolicy.load(path) == AbstainPolicy(-1.0, 2.0, 1.0, 0.0, 0.5)
