"""Which articles a message names, by title or synonym (``medcite.index.naming``)."""

from __future__ import annotations

from medcite.index.naming import named_articles, names_of

EVERYDAY = frozenset({"pregnancy", "fever", "coke", "snow", "all", "leukemia"})
ARTICLES = [
    ("RUB", "Rubella", ("German measles", "Three day measles")),
    ("PINK", "Pinkeye", ("Conjunctivitis",)),
    ("OI", "Osteogenesis Imperfecta", ("Brittle bone disease", "OI")),
    ("ALL", "Acute Lymphocytic Leukemia", ("Acute lymphoblastic leukemia", "ALL")),
    ("LEUK", "Leukemia", ()),
    ("BPH", "Enlarged Prostate (BPH)", ("benign prostatic hyperplasia",)),
    ("MD", "Macular Degeneration", ()),
    ("AMD", "Age-related Macular Degeneration", ("AMD",)),
    ("HDP", "Heart Diseases--Prevention", ()),
    ("PREG", "Pregnancy", ()),
    ("COC", "Cocaine", ("Coke", "Snow", "C")),
]
NAMES = names_of(ARTICLES, EVERYDAY)


def named(text: str) -> set[str]:
    return set(named_articles(text, NAMES))


def test_a_synonym_names_its_article() -> None:
    assert named("a kid in my daughters class has german measles, should i worry") == {"RUB"}
    assert named("they're testing him for brittle bone disease") == {"OI"}


def test_words_compare_by_stem_and_run_together() -> None:
    assert named("my daughter has pink eye") == {"PINK"}  # the title is "Pinkeye"
    assert named("how do you prevent heart disease") == {"HDP"}  # "Heart Diseases--Prevention"


def test_a_parenthesis_is_a_name_and_so_is_the_title_without_it() -> None:
    assert named("my husband has an enlarged prostate") == {"BPH"}
    assert named("what is BPH") == {"BPH"}


def test_a_short_acronym_counts_only_in_capitals() -> None:
    assert named("my son was diagnosed with ALL") == {"ALL"}
    assert named("is all of it hereditary") == set()
    assert named("what does OI mean") == set()  # two letters: too many meanings


def test_an_everyday_word_alone_names_nothing() -> None:
    # "Pregnancy" and the synonyms "Coke" and "Snow" of Cocaine are everyday words: the
    # search decides, not the name.
    assert named("can i drink coke during pregnancy") == set()
    assert named("snow shoveling and vitamin C") == set()


def test_a_longer_name_wins_over_one_inside_it() -> None:
    assert named("my mom has age-related macular degeneration") == {"AMD"}
    assert named("my mom has macular degeneration") == {"MD"}
