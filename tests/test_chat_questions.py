"""Loading evaluation questions from JSON Lines."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import pytest

from medcite.chat.questions import Question, load_questions
from medcite.index.errors import InputError

# The shared MedQuAD corpus beside the repository (../shared/corpus); not in a lone clone.
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

GOOD = {
    "id": "GARD_0000004-1",
    "question": "What is (are) Achondroplasia ?",
    "qtype": "information",
    "article_id": "GARD_0000004",
    "section_ids": ["GARD_0000004#1", "GHR_0000010#1"],
    "source": "GARD",
    "equivalent_article_ids": ["GHR_0000010"],
}


def _write(tmp_path: Path, *lines: str, name: str = "questions.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _line(**fields: object) -> str:
    return json.dumps(fields)


def test_loads_a_good_line(tmp_path):
    path = _write(tmp_path, json.dumps(GOOD))
    assert load_questions(path) == [
        Question(
            id="GARD_0000004-1",
            text="What is (are) Achondroplasia ?",
            article_ids=("GARD_0000004",),
            section_ids=("GARD_0000004#1", "GHR_0000010#1"),
            equivalent_article_ids=("GHR_0000010",),
            answerable=True,
            qtype="information",
        )
    ]


def test_keeps_file_order_and_skips_blank_lines(tmp_path):
    path = _write(
        tmp_path,
        "",
        _line(id="b", question="Q b?", article_id="B"),
        "   ",
        _line(id="a", question="Q a?", article_id="A"),
        "",
    )
    assert [q.id for q in load_questions(path)] == ["b", "a"]


def test_article_ids_list_form(tmp_path):
    path = _write(tmp_path, _line(id="q1", question="Q?", article_ids=["A", "B", "A"]))
    (question,) = load_questions(path)
    assert question.article_ids == ("A", "B")
    assert question.section_ids == ()
    assert question.equivalent_article_ids == ()
    assert question.answerable is True
    assert question.qtype == ""


def test_section_ids_alone_are_enough_gold(tmp_path):
    path = _write(tmp_path, _line(id="q1", question="Q?", section_ids=["A#2"]))
    (question,) = load_questions(path)
    assert question.article_ids == ()
    assert question.section_ids == ("A#2",)


def test_unknown_fields_are_ignored(tmp_path):
    path = _write(tmp_path, _line(**GOOD, difficulty="hard", notes={"x": 1}))
    (question,) = load_questions(path)
    assert question.id == GOOD["id"]


def test_unanswerable_line(tmp_path):
    path = _write(
        tmp_path,
        _line(
            id="MPlusDrugs_0000001-10",
            question="What to do in case of emergency or overdose of Abacavir ?",
            qtype="emergency or overdose",
            source="MPlusDrugs",
            answerable=False,
        ),
    )
    assert load_questions(path) == [
        Question(
            id="MPlusDrugs_0000001-10",
            text="What to do in case of emergency or overdose of Abacavir ?",
            article_ids=(),
            section_ids=(),
            equivalent_article_ids=(),
            answerable=False,
            qtype="emergency or overdose",
        )
    ]


def test_questions_are_frozen(tmp_path):
    (question,) = load_questions(_write(tmp_path, json.dumps(GOOD)))
    with pytest.raises(AttributeError):
        question.text = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (_line(id="q", article_id="A"), "missing 'question'"),
        (_line(question="Q?", article_id="A"), "missing 'id'"),
        (
            _line(id="q", question="", article_id="A"),
            "'question' must be a non-empty string",
        ),
        (_line(id=7, question="Q?", article_id="A"), "'id' must be a non-empty string"),
        (_line(id="q", question="Q?"), "answerable question has no 'article_id'"),
        (_line(id="q", question="Q?", article_id="A", article_ids=["B"]), "not both"),
        (_line(id="q", question="Q?", article_id=["A"]), "'article_id' must be"),
        (
            _line(id="q", question="Q?", section_ids="A#1"),
            "'section_ids' must be a list",
        ),
        (
            _line(id="q", question="Q?", article_id="A", answerable="no"),
            "'answerable' must be",
        ),
        (
            _line(id="q", question="Q?", article_id="A", answerable=False),
            "'answerable' is false",
        ),
        (_line(id="q", question="Q?", article_id="A", qtype=3), "'qtype' must be"),
    ],
)
def test_bad_line_raises_with_file_name_and_line_number(tmp_path, bad_line, message):
    path = _write(tmp_path, json.dumps(GOOD), "", bad_line)
    with pytest.raises(InputError, match=rf"^questions\.jsonl line 3: .*{message}"):
        load_questions(path)


def test_message_names_the_missing_field_exactly(tmp_path):
    path = _write(tmp_path, *[json.dumps(GOOD | {"id": f"q{i}"}) for i in range(6)], '{"id": "x"}')
    with pytest.raises(InputError) as caught:
        load_questions(path)
    assert str(caught.value) == "questions.jsonl line 7: missing 'question'"


def test_duplicate_id_raises_naming_both_lines(tmp_path):
    path = _write(tmp_path, json.dumps(GOOD), json.dumps(GOOD))
    with pytest.raises(
        InputError, match=r"line 2: duplicate id 'GARD_0000004-1' \(first on line 1\)"
    ):
        load_questions(path)


def test_missing_file_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="no such questions file"):
        load_questions(tmp_path / "absent.jsonl")


def test_non_utf8_file_raises_input_error(tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_bytes(b'{"id": "q", "question": "caf\xe9?", "article_id": "A"}\n')
    with pytest.raises(InputError, match="not UTF-8"):
        load_questions(path)


def _first_lines(source: Path, target: Path, count: int) -> Path:
    if not source.is_file():
        pytest.skip(f"needs the shared MedQuAD corpus: {source} is not here")
    with source.open(encoding="utf-8") as lines:
        target.write_text("".join(islice(lines, count)), encoding="utf-8")
    return target


def test_loads_the_first_rows_of_the_real_dev_questions(tmp_path):
    path = _first_lines(CORPUS / "questions-dev.jsonl", tmp_path / "questions-dev.jsonl", 200)
    questions = load_questions(path)
    assert len(questions) == 200
    for question in questions:
        assert question.answerable
        assert len(question.article_ids) == 1
        assert question.section_ids
        # The README: the asked article's own section comes first.
        assert question.section_ids[0].startswith(question.article_ids[0] + "#")
        assert question.text and question.qtype
    assert questions[0].id == "CancerGov_0000001_1-4"


def test_loads_the_first_rows_of_the_real_unanswerable_questions(tmp_path):
    path = _first_lines(CORPUS / "unanswerable-dev.jsonl", tmp_path / "unanswerable-dev.jsonl", 200)
    questions = load_questions(path)
    assert len(questions) == 200
    for question in questions:
        assert not question.answerable
        assert question.article_ids == question.section_ids == ()
        assert question.text
