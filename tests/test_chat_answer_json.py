"""An ``Answer`` as JSON and back (what the shared conversation store keeps): every field of
every kind of answer comes back equal, and rows from another medcite version still read."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given
from hypothesis import strategies as st

from medcite.chat.answer_json import answer_from_json, answer_to_json
from medcite.chat.types import Answer, AnswerKind, Citation, Quote, Topic

CITATION = Citation(
    1, "GLAU_1", "Glaucoma", "https://example.org/g", "NEI", "Treatment", "GLAU_1#3", 120, 480
)
QUOTE = Quote(
    "Glaucoma is treated with “eye drops” — ½ dose.",
    "GLAU_1",
    130,
    177,
    "GLAU_1#3",
    "Treatment",
    1,
    0.8123456789012345,
)
FULL = Answer(
    question="how is glaucoma treated? 🙂",
    kind=AnswerKind.EMERGENCY,
    quotes=(QUOTE, QUOTE),
    citations=(CITATION,),
    confidence=0.1 + 0.2,
    message="Call 911 now.",
    suggestions=(Topic("ASTH_1", "Asthma"), Topic("GLAU_1", "Glaucoma")),
    disclaimer="Not medical advice.",
    searched_for="how is glaucoma treated (Glaucoma)",
    emergency="stroke",
    emergency_name="a possible stroke",
)


def test_an_answer_with_every_field_set_comes_back_equal() -> None:
    back = answer_from_json(answer_to_json(FULL))
    assert back == FULL
    assert isinstance(back.kind, AnswerKind) and isinstance(back.quotes, tuple)
    assert isinstance(back.quotes[0], Quote) and isinstance(back.suggestions[0], Topic)


def test_every_field_of_an_answer_is_written() -> None:
    """A field added to Answer must be added to the JSON too (this fails until it is)."""
    written = json.loads(answer_to_json(FULL))
    assert set(written) == {field.name for field in dataclasses.fields(Answer)}
    assert written["kind"] == "emergency" and written["quotes"][0]["text"] == QUOTE.text


def test_a_row_from_another_version_reads_missing_fields_as_defaults() -> None:
    older = json.dumps({"question": "q?", "kind": "not_covered", "future_field": 1})
    assert answer_from_json(older) == Answer(question="q?", kind=AnswerKind.NOT_COVERED)


texts = st.text(max_size=40)
ints = st.integers(min_value=0, max_value=10**9)
floats = st.floats(allow_nan=False)
topics = st.builds(Topic, texts, texts)
quotes = st.builds(Quote, texts, texts, ints, ints, texts, texts, ints, floats)
citations = st.builds(Citation, ints, texts, texts, texts, texts, texts, texts, ints, ints)
answers = st.builds(
    Answer,
    question=texts,
    kind=st.sampled_from(AnswerKind),
    quotes=st.lists(quotes, max_size=3).map(tuple),
    citations=st.lists(citations, max_size=3).map(tuple),
    confidence=floats,
    message=texts,
    suggestions=st.lists(topics, max_size=3).map(tuple),
    disclaimer=texts,
    searched_for=texts,
    emergency=texts,
    emergency_name=texts,
)


@given(answers)
def test_any_answer_round_trips(answer: Answer) -> None:
    assert answer_from_json(answer_to_json(answer)) == answer
