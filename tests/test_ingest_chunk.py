"""Passages: exact offsets, within one section, never longer than the limit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medcite.index import types
from medcite.index.text import apostrophe_dropped, sentence_spans, stem
from medcite.index.types import Document, Section, content_id
from medcite.ingest.chunk import chunk_document, embedding_text

WORD = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789.,!?'-é", min_size=1, max_size=12
)
SEPARATOR = st.sampled_from([" ", "  ", "\n", " \n\n", ". ", "! ", " - ", "\t"])


@st.composite
def documents(draw: st.DrawFn) -> Document:
    text, sections = "", []
    for n in range(draw(st.integers(1, 4))):
        tokens = draw(st.lists(st.tuples(WORD, SEPARATOR), min_size=1, max_size=120))
        body = "".join(w + s for w, s in tokens)
        if text:
            text += "\n\n"
        sections.append(Section(f"d#{n + 1}", f"Heading {n}", len(text), len(text) + len(body)))
        text += body
    return Document(id="d", title="T", text=text, sections=tuple(sections))


@settings(max_examples=200, deadline=None)
@given(documents(), st.integers(1, 60))
def test_passages_are_exact_slices_inside_one_section(document: Document, max_words: int) -> None:
    passages = chunk_document(document, max_words=max_words)
    for passage in passages:
        assert passage.text == document.text[passage.start : passage.end]
        assert len(passage.text.split()) <= max_words
        section = next(s for s in document.sections if s.id == passage.section_id)
        assert section.start <= passage.start < passage.end <= section.end
        assert passage.heading == section.heading
    # Every word of the document is in exactly one passage.
    covered = sum(len(p.text.split()) for p in passages)
    assert covered == sum(len(document.text[s.start : s.end].split()) for s in document.sections)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_sentence_spans_cover_all_text_in_order(text: str) -> None:
    spans = sentence_spans(text)
    joined = "".join(text[s:e] for s, e in spans)
    assert "".join(joined.split()) == "".join(text.split())
    assert all(s < e for s, e in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_sentences_split_at_full_stops_but_not_abbreviations() -> None:
    text = "Dr. Smith saw it, e.g. twice. It hurts! Does it? Yes - Mostly at night."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Dr. Smith saw it, e.g. twice.",
        "It hurts!",
        "Does it?",
        "Yes",
        "- Mostly at night.",
    ]


def test_document_without_sections_is_one_section() -> None:
    document = Document(id="x", title="X", text="One sentence. Two sentences.")
    (passage,) = chunk_document(document)
    assert (passage.start, passage.end, passage.section_id) == (0, len(document.text), "x#1")


def test_long_section_is_split_into_several_passages() -> None:
    body = " ".join(f"Sentence number {i} is here." for i in range(100))
    document = Document(id="x", title="X", text=body)
    passages = chunk_document(document, max_words=50)
    assert len(passages) == 10  # 500 words in whole 5-word sentences, 50 words a passage
    assert all(p.text.endswith(".") for p in passages)


def test_embedding_text_carries_title_and_heading() -> None:
    assert embedding_text("Gout", "Treatment", "Rest.") == "Gout — Treatment: Rest."
    assert embedding_text("Gout", "", "Rest.") == "Gout: Rest."


def test_chunking_hashes_the_document_once(monkeypatch: pytest.MonkeyPatch) -> None:
    body = " ".join(f"Sentence number {i} is here." for i in range(100))
    document = Document(id="x", title="X", text=body)
    hashed_text: list[int] = []

    def counting_content_id(*parts: str, length: int = 16) -> str:
        hashed_text.extend(1 for part in parts if part == body)
        return content_id(*parts, length=length)

    monkeypatch.setattr(types, "content_id", counting_content_id)
    assert len(chunk_document(document, max_words=50)) == 10
    assert hashed_text == [1]


@pytest.mark.parametrize(
    ("word", "stemmed"),
    [
        ("symptoms", "symptom"),
        ("allergies", "allergy"),
        ("treated", "treat"),
        # A possessive is the word it names: "Parkinson's" as typed "parkinsons".
        ("parkinson's", "parkinson"),
        ("parkinsons", "parkinson"),
        ("diabetes's", "diabete"),
        # -es after a hiss: "rashes" was "rashe", apart from "rash" in idf and in quotes.
        ("rashes", "rash"),
        ("illnesses", "illness"),
        ("patches", "patch"),
        ("headaches", "headache"),  # -ches after a vowel keeps its e
    ],
)
def test_stem_reads_plurals_possessives_and_endings_alike(word: str, stemmed: str) -> None:
    assert stem(word) == stemmed


@pytest.mark.parametrize("word", ["whats", "dont", "doesnt", "cant", "theyre", "youve", "thats"])
def test_a_contraction_typed_without_its_apostrophe_is_recognised(word: str) -> None:
    assert apostrophe_dropped(word)


@pytest.mark.parametrize("word", ["barretts", "urologist", "croup", "tarsal", "sertraline"])
def test_names_are_not_contractions(word: str) -> None:
    assert not apostrophe_dropped(word)
