"""Sign-offs learned from the corpus (``medcite.index.signoffs``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from medcite.index.reader import Index
from medcite.index.signoffs import last_sentence, sign_off_at, sign_offs, written_like_a_name
from medcite.index.testing import FakeEmbedder, article, write_jsonl
from medcite.ingest.pipeline import ingest
from tests.support import STORES, served


def test_last_sentence_is_the_line_that_ends_the_text() -> None:
    text = "Pinkeye spreads easily.\n\nWash your hands often. NIH: National Eye Institute"
    assert last_sentence(text) == "NIH: National Eye Institute"
    assert last_sentence("") == ""


def test_a_short_line_ending_several_articles_is_a_sign_off() -> None:
    endings = [
        "NIH: National Eye Institute",
        "NIH: National Eye Institute",
        "NIH: National Eye Institute",
        "- Eat more fiber",  # ends only two articles
        "- Eat more fiber",
        "Treatment depends on the cause.",  # a sentence, not a line: it says something
        "Treatment depends on the cause.",
        "Treatment depends on the cause.",
        "Ask your doctor which of these many treatments would suit you best given your age",
        "Ask your doctor which of these many treatments would suit you best given your age",
        "Ask your doctor which of these many treatments would suit you best given your age",
    ]
    assert sign_offs(endings) == {"NIH: National Eye Institute"}


def test_a_line_written_like_a_name_is_a_sign_off_even_when_it_ends_one_article() -> None:
    # In the quickstart corpus 24 agency lines end fewer than three articles each.
    endings = ["Bureau of Labor Statistics", "September 2014", "Most people recover"]
    assert sign_offs(endings) == {"Bureau of Labor Statistics"}
    assert written_like_a_name("Dept. of Health and Human Services, Office on Women's Health")
    assert not written_like_a_name("- Palliative Care")  # a list item
    assert not written_like_a_name("Pseudohypoparathyroidism type 1A")
    assert not written_like_a_name("Genetics")  # one word could be anything


def test_a_sign_off_glued_to_the_end_of_a_sentence_is_found() -> None:
    known = {"NIH: National Institute on Drug Abuse", "National Institute on Drug Abuse"}
    sentence = "- Aggressive behavior NIH: National Institute on Drug Abuse"
    assert sentence[sign_off_at(sentence, known) :] == "NIH: National Institute on Drug Abuse"
    assert sign_off_at("NIH: National Institute on Drug Abuse", known) == 0
    assert sign_off_at("Abuse of drugs harms the National Institute on Drug Abuse.", known) is None
    assert sign_off_at("- Aggressive behavior", known) is None


# Three articles end with one line, a fourth with another: the first is a sign-off.
SIGNED = [
    article(f"D{n}", f"Topic {n}", [("Overview", f"Topic {n} is common.\n\nNIH: Institute")])
    for n in range(3)
] + [article("E", "Other", [("Overview", "Other is rare. More on rashes")])]


@pytest.fixture(scope="module", params=STORES)
def signed_index(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Index:
    root = tmp_path_factory.mktemp("signed")
    ingest([write_jsonl(root / "corpus.jsonl", SIGNED)], root / "ix", FakeEmbedder())
    return served(root / "ix", request.param)


def test_an_index_learns_its_sign_offs_from_its_articles(signed_index: Index) -> None:
    assert signed_index.sign_offs == {"NIH: Institute"}


def test_a_published_milvus_index_reads_its_sign_offs_without_reading_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest([write_jsonl(tmp_path / "corpus.jsonl", SIGNED)], tmp_path / "ix", FakeEmbedder())
    index = served(tmp_path / "ix", "milvus")

    def no_documents(self: Index, chars: int) -> list[str]:
        raise AssertionError("read every document")

    monkeypatch.setattr(Index, "document_tails", no_documents)
    assert index.sign_offs == {"NIH: Institute"}
