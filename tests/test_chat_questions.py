"""Loading evaluation questions from JSON Lines."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import pytest

from medcite.chat.evaluation.questions import Question, Span, load_questions, select_split
from medcite.index.errors import InputError

# The shared MedQuAD corpus beside the repository (../shared/corpus); not in a lone clone.
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
REAL = Path(__file__).resolve().parents[1] / "bench" / "data" / "real"

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


# --- questions with gold answer spans (bench/data/real) ------------------------------------

GOLD = {
    "id": "rq-2",
    "question": "how is glaucoma treated?",
    "kind": "answerable",
    "corpus": "quickstart",
    "split": "check",
    "style": ["lowercase", "short"],
    "article_ids": ["NIHSeniorHealth_0000027", "MPlusHealthTopics_0000406"],
    "gold": [
        {"doc_id": "NIHSeniorHealth_0000027", "start": 4662, "end": 4903},
        {"doc_id": "MPlusHealthTopics_0000406", "start": 726, "end": 912},
    ],
}
NOT_ANSWERABLE = {
    "id": "rq-167",
    "question": "how much sleep do older adults need",
    "kind": "unanswerable",
    "split": "tune",
    "category": "absent_condition",
    "note": "No quickstart article gives recommended hours of sleep.",
}


def test_loads_a_line_with_gold_spans(tmp_path):
    (question,) = load_questions(_write(tmp_path, json.dumps(GOLD)))
    assert question == Question(
        id="rq-2",
        text="how is glaucoma treated?",
        article_ids=("NIHSeniorHealth_0000027", "MPlusHealthTopics_0000406"),
        section_ids=(),
        equivalent_article_ids=(),
        answerable=True,
        gold=(
            Span("NIHSeniorHealth_0000027", 4662, 4903),
            Span("MPlusHealthTopics_0000406", 726, 912),
        ),
        split="check",
    )


def test_an_unanswerable_kind_loads_with_its_category(tmp_path):
    (question,) = load_questions(_write(tmp_path, json.dumps(NOT_ANSWERABLE)))
    assert not question.answerable
    assert question.gold == question.article_ids == ()
    assert (question.split, question.category) == ("tune", "absent_condition")


def test_gold_spans_alone_name_the_gold_articles(tmp_path):
    line = {k: v for k, v in GOLD.items() if k != "article_ids"}
    (question,) = load_questions(_write(tmp_path, json.dumps(line)))
    assert question.article_ids == ("NIHSeniorHealth_0000027", "MPlusHealthTopics_0000406")


def test_a_kind_that_agrees_with_answerable_is_accepted(tmp_path):
    line = NOT_ANSWERABLE | {"answerable": False}
    assert not load_questions(_write(tmp_path, json.dumps(line)))[0].answerable


def _gold_span(**fields: object) -> str:
    return json.dumps(GOLD | {"gold": [fields]})


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (json.dumps(GOLD | {"kind": "maybe"}), "'kind' must be 'answerable' or 'unanswerable'"),
        (json.dumps(GOLD | {"answerable": False}), "'kind' is 'answerable' but 'answerable'"),
        (json.dumps(GOLD | {"gold": {"doc_id": "A"}}), "'gold' must be a list"),
        (json.dumps(GOLD | {"gold": ["A"]}), "gold span 1 must be an object"),
        (_gold_span(start=0, end=5), "gold span 1: 'doc_id' must be"),
        (_gold_span(doc_id="A", start="0", end=5), "'start' and 'end' must be integers"),
        (_gold_span(doc_id="A", start=True, end=5), "'start' and 'end' must be integers"),
        (_gold_span(doc_id="A", start=5, end=5), "needs 0 <= start < end, got 5:5"),
        (_gold_span(doc_id="A", start=-1, end=5), "needs 0 <= start < end"),
        (
            json.dumps(NOT_ANSWERABLE | {"gold": GOLD["gold"]}),
            "'answerable' is false but .* gold spans",
        ),
        (json.dumps(GOLD | {"split": 1}), "'split' must be a string"),
    ],
)
def test_a_bad_gold_line_raises_with_file_name_and_line_number(tmp_path, bad_line, message):
    path = _write(tmp_path, json.dumps(GOLD), bad_line)
    with pytest.raises(InputError, match=rf"^questions\.jsonl line 2: .*{message}"):
        load_questions(path)


def test_select_split_keeps_one_split_in_order(tmp_path):
    lines = [GOLD | {"id": "a"}, NOT_ANSWERABLE | {"id": "b"}, GOLD | {"id": "c", "split": "tune"}]
    questions = load_questions(_write(tmp_path, *map(json.dumps, lines)))
    assert [q.id for q in select_split(questions, "tune")] == ["b", "c"]
    assert [q.id for q in select_split(questions, "check")] == ["a"]


def test_select_split_refuses_questions_without_splits_and_an_empty_split(tmp_path):
    corpus_format = load_questions(_write(tmp_path, json.dumps(GOOD)))
    with pytest.raises(InputError, match="no 'split' field"):
        select_split(corpus_format, "check")
    tune_only = load_questions(_write(tmp_path, json.dumps(NOT_ANSWERABLE)))
    with pytest.raises(InputError, match="no question is in split 'check'; the splits are tune"):
        select_split(tune_only, "check")


@pytest.mark.parametrize("name", sorted(path.name for path in REAL.glob("*.jsonl")))
def test_loads_every_real_style_question_file(name):
    path = REAL / name
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    questions = load_questions(path)
    assert [q.id for q in questions] == [r["id"] for r in raw]
    for question, row in zip(questions, raw, strict=True):
        assert question.answerable == (row["kind"] == "answerable")
        assert question.split in ("tune", "check")
        if question.answerable:
            assert question.gold and question.article_ids
            assert {span.doc_id for span in question.gold} <= set(question.article_ids)
        else:
            assert question.category and not question.gold


@pytest.mark.parametrize("name", sorted(path.name for path in REAL.glob("questions-quickstart*")))
def test_quickstart_gold_spans_slice_whole_sentences_of_the_bundled_corpus(name):
    corpus = REAL.parents[2] / "quickstart" / "corpus.jsonl"
    texts = {}
    for line in corpus.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        texts[record["id"]] = record["text"]
    for question in load_questions(REAL / name):
        for span in question.gold:
            text = texts[span.doc_id]
            quoted = text[span.start : span.end]
            # Sentences (or a list flattened into one), never a fragment cut mid-word.
            assert quoted and quoted.strip() == quoted, (question.id, quoted)
            assert span.start == 0 or not text[span.start - 1].isalnum(), question.id
            assert span.end == len(text) or not text[span.end].isalnum(), question.id
