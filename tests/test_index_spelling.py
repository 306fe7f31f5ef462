"""Spelling correction against the articles' own words."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from medcite.index import spelling
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


def test_a_short_name_is_not_two_edits_from_its_correction() -> None:
    # "tarsal" (tunnel syndrome) is a name the articles lack, not a typo of "tartar".
    assert Speller({"tartar": 20, "trial": 50}).suggest("tarsal") is None


def test_a_rare_form_of_a_word_family_the_articles_use_is_kept() -> None:
    speller = Speller({"sores": 140, "snore": 7, "snores": 2, "snoring": 18, "stored": 30})
    assert speller.suggest("snores") is None  # not "sores"
    assert speller.suggest("snored") is None  # "snoring" is its family; not "stored"
    assert Speller({"sores": 140, "snores": 2}).suggest("snores") == "sores"  # a lone typo


def test_everyday_words_are_the_models_whole_words_and_nothing_if_it_cannot_be_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    words = spelling.everyday_words()
    assert {"kids", "block", "trial"} <= words and not {"tarsal", "sertraline"} & words
    assert not any(word.startswith("##") for word in words)  # word pieces are not words
    from medcite.index import onnx_encoder

    spelling.everyday_words.cache_clear()
    monkeypatch.setattr(onnx_encoder, "model_dir", lambda: tmp_path / "missing")
    try:
        assert spelling.everyday_words() == frozenset()
    finally:
        spelling.everyday_words.cache_clear()


def test_an_everyday_word_is_not_a_typo_though_no_article_uses_it() -> None:
    speller = Speller({"trachea": 40, "cancer": 900}, everyday={"teacher", "cancel", "cancer"})
    assert speller.correct("my teacher said to cancel") == "my teacher said to cancel"
    assert speller.suggest("cancr") == "cancer"  # not an everyday word: a typo


def test_two_edits_never_reach_an_everyday_word() -> None:
    assert Speller({"vessels": 40}).suggest("vesicls") == "vessels"
    assert Speller({"vessels": 40}, everyday={"vessels"}).suggest("vesicls") is None
    # One edit still does: "diabetis" is a typo.
    assert Speller({"diabetes": 40}, everyday={"diabetes"}).suggest("diabetis") == "diabetes"


def test_a_title_word_is_never_a_typo_and_always_a_correction() -> None:
    """ "swine" (two passages, in the title "H1N1 Flu (Swine Flu)") is not "spine"; "croop"
    is "croup", whose article has only two passages."""
    vocabulary = {"spine": 300, "swine": 2, "croup": 2}
    assert Speller(vocabulary).suggest("swine") == "spine"
    assert Speller(vocabulary).suggest("croop") is None
    speller = Speller(vocabulary, names={"swine", "croup"})
    assert speller.suggest("swine") is None
    assert speller.suggest("croop") == "croup"


def test_a_form_of_a_title_word_is_not_a_typo() -> None:
    # "ushers" (syndrome) is the title word "usher", not a typo of "users".
    vocabulary = {"users": 50, "usher": 2}
    assert Speller(vocabulary).suggest("ushers") == "users"
    assert Speller(vocabulary, names={"usher"}).suggest("ushers") is None


def test_a_long_word_is_a_correction_however_rare() -> None:
    """ "plurisy" is "pleurisy", used by two passages; a short rare word is no correction."""
    vocabulary = {"pleurisy": 2, "croup": 2}
    assert len("pleurisy") >= spelling.LONG_WORD
    assert Speller(vocabulary).suggest("plurisy") == "pleurisy"
    assert Speller(vocabulary).suggest("pericarditus") is None  # nothing near
    assert Speller(vocabulary).suggest("croop") is None


def test_a_word_two_letters_longer_than_an_article_word_is_not_its_typo() -> None:
    vocabulary = {"melanin": 30, "otitis": 20, "overeating": 25, "hemorrhoids": 15}
    speller = Speller(vocabulary)
    assert speller.suggest("melatonin") is None
    assert speller.suggest("osteitis") is None
    assert speller.suggest("overreacting") is None
    # Two letters missing is still a typo: patients drop letters.
    assert speller.suggest("hemoroids") == "hemorrhoids"


def test_unknown_names_far_from_any_word_are_kept() -> None:
    speller = Speller(VOCABULARY)
    assert speller.correct("dosage of Abacavir") == "dosage of Abacavir"
    assert speller.unknown_words("dosage of Abacavir") == ["dosage", "abacavir"]


def test_short_words_and_known_words_are_never_changed() -> None:
    speller = Speller(VOCABULARY)
    assert (
        speller.correct("wat of rare") == "wat of rare"
    )  # too short; known (df 2, no 20x neighbour)


class ClearedByAnotherThread(dict[str, str | None]):
    """The memory of a Speller that another thread clears right after each store: the
    interleaving that made a lookup of the word just stored raise KeyError."""

    def __setitem__(self, key: str, value: str | None) -> None:
        super().__setitem__(key, value)
        self.clear()


def test_a_clear_between_store_and_lookup_still_answers() -> None:
    speller = Speller(VOCABULARY)
    speller._suggestions = ClearedByAnotherThread()
    assert speller.suggest("glacoma") == "glaucoma"
    assert speller.correct("astma symtoms") == "asthma symptoms"


class YieldsAfterStore(dict[str, str | None]):
    """A Speller's memory that lets other threads run right after each store."""

    def __setitem__(self, key: str, value: str | None) -> None:
        super().__setitem__(key, value)
        time.sleep(0.0001)


def test_a_full_memory_shared_by_many_threads_never_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(spelling, "SUGGESTIONS_KEPT", 2)  # full, so cleared, all the time
    speller = Speller(VOCABULARY)
    speller._suggestions = YieldsAfterStore()
    typed = ["glacoma", "astma", "diabeties", "migrane", "symtoms", "abacavir"]
    expected = {word: Speller(VOCABULARY).suggest(word) for word in typed}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                for word in typed:
                    assert speller.suggest(word) == expected[word]
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_a_near_miss_of_any_article_word_is_known_though_too_rare_to_correct_to() -> None:
    # "biliary" and "murmur" are in one passage each: too rare to rewrite a question with,
    # but "billiary" and "murmer" are their typos, not names no article knows.
    speller = Speller({**VOCABULARY, "biliary": 1, "murmur": 1})
    assert speller.suggest("billiary") is None
    for typed in ("billiary", "murmer", "glaucomma", "biliary"):
        assert speller.near_known(typed), typed
    # Too far from every article word, or too short to tell.
    for typed in ("lisinopril", "scleredema", "mumr"):
        assert not speller.near_known(typed), typed
