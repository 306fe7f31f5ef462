"""Spelling correction against the articles' own words."""

from __future__ import annotations

import pytest

from medcite.index.spelling import Speller, edit_distance

VOCABULARY = {
    "glaucoma": 40,
    "asthma": 30,
    "symptoms": 500,
    "symtoms": 1,
    "diabetes": 90,
    "treatment": 400,
    "migraine": 12,
    "of": 9000,
    "what": 3000,
    "rare": 2,
    "hare": 200,
}


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("glacoma", "glaucoma", 1),
        ("astma", "asthma", 1),
        ("teh", "the", 1),
        ("abc", "abc", 0),
        ("kitten", "sitting", 3),
    ],
)
def test_edit_distance_counts_swaps_as_one(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b, limit=5) == distance


def test_edit_distance_stops_past_the_limit() -> None:
    assert edit_distance("kitten", "sitting", limit=1) == 2


@pytest.mark.parametrize(
    ("typed", "corrected"),
    [
        ("glacoma treatment", "glaucoma treatment"),
        ("what are the symtoms of diabeties", "what are the symptoms of diabetes"),
        ("Astma?", "asthma?"),
        ("migrane", "migraine"),
    ],
)
def test_misspelled_words_are_corrected(typed: str, corrected: str) -> None:
    assert Speller(VOCABULARY).correct(typed) == corrected


def test_unknown_names_far_from_any_word_are_kept() -> None:
    speller = Speller(VOCABULARY)
    assert speller.correct("dosage of Abacavir") == "dosage of Abacavir"
    assert speller.unknown_words("dosage of Abacavir") == ["dosage", "abacavir"]


def test_short_words_and_known_words_are_never_changed() -> None:
    speller = Speller(VOCABULARY)
    assert (
        speller.correct("wat of rare") == "wat of rare"
    )  # too short; known (df 2, no 20x neighbour)
