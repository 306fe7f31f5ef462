"""The real all-MiniLM-L6-v2 model (the int8 encoder a new index gets) over a part of the
bundled quickstart corpus (about 150 MedQuAD articles), so these run on a lone clone.

Marked slow: under a minute to embed them once per module on two cores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medcite.chat.answer import ask as ask_with_triage
from medcite.chat.retrieve import search
from medcite.chat.triage import make_triage
from medcite.chat.types import ANSWERED, NOT_COVERED
from medcite.index.embedder import DEFAULT_KIND, Embedder, make_embedder
from medcite.index.reader import Index, open_index
from medcite.ingest.pipeline import ingest

QUICKSTART = Path(__file__).resolve().parents[1] / "quickstart" / "corpus.jsonl"
# The articles the questions below are about, and every eighth other article of the bundled
# quickstart corpus around them: about 150 articles, embedded in under a minute.
TOPICS = {"Glaucoma", "Asthma", "Endometriosis", "Gout", "Shingles", "Cataract"}

pytestmark = pytest.mark.slow

# The shipped triage: with the fake embedder it falls back to the rules alone.
TRIAGE = make_triage()


def ask(*args, **kwargs):  # type: ignore[no-untyped-def]
    return ask_with_triage(*args, triage=TRIAGE, **kwargs)


@pytest.fixture(scope="module")
def model() -> Embedder:
    return make_embedder(DEFAULT_KIND)  # the encoder a new index gets


@pytest.fixture(scope="module")
def sample_index(tmp_path_factory: pytest.TempPathFactory, model: Embedder) -> Index:
    root = tmp_path_factory.mktemp("real")
    lines = QUICKSTART.read_text(encoding="utf-8").splitlines()
    chosen = [
        line
        for number, line in enumerate(lines)
        if number % 8 == 0 or json.loads(line)["title"] in TOPICS
    ]
    corpus = root / "corpus.jsonl"
    corpus.write_text("\n".join(chosen) + "\n", encoding="utf-8")
    report = ingest([corpus], root / "ix", model)
    assert report.documents_total == len(chosen) > 100
    return open_index(root / "ix", model=model.name)


def test_real_vectors_are_normalised_and_similar_texts_are_close(model: Embedder) -> None:
    vectors = model.embed(["eye pressure damages the optic nerve", "glaucoma", "tax returns"])
    assert vectors.shape == (3, 384)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


@pytest.mark.parametrize(
    ("question", "article"),
    [
        ("what is glaucoma", "MPlusHealthTopics_0000406"),
        ("what triggers an asthma attack", "MPlusHealthTopics_0000065"),
        ("what are the signs of endometriosis", "MPlusHealthTopics_0000328"),
        ("my big toe joint is red hot and swollen", "MPlusHealthTopics_0000409"),
        ("is the shingles rash contagious", "MPlusHealthTopics_0000812"),
        ("cloudy blurry vision in older people", "MPlusHealthTopics_0000158"),
    ],
)
@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_obvious_questions_find_their_article_in_the_top_3(
    sample_index: Index, model: Embedder, question: str, article: str, mode: str
) -> None:
    hits = search(sample_index, model, question, k=3, mode=mode, per_article=1)
    assert article in [hit.passage.doc_id for hit in hits]


def test_misspelled_question_still_finds_its_article(sample_index: Index, model: Embedder) -> None:
    hits = search(sample_index, model, "endometreosis pain", k=3, per_article=1)
    assert "MPlusHealthTopics_0000328" in [hit.passage.doc_id for hit in hits]


def test_ask_answers_with_verbatim_quotes_from_the_right_article(
    sample_index: Index, model: Embedder
) -> None:
    answer = ask(sample_index, model, "How is glaucoma treated?")
    assert answer.kind == ANSWERED
    assert answer.quotes[0].doc_id in {"MPlusHealthTopics_0000406", "NIHSeniorHealth_0000027"}
    for quote in answer.quotes:
        assert quote.text == sample_index.document(quote.doc_id).text[quote.start : quote.end]


def test_drug_question_is_not_answered(sample_index: Index, model: Embedder) -> None:
    answer = ask(sample_index, model, "What should I know about storage and disposal of Abacavir?")
    assert answer.kind == NOT_COVERED
    assert answer.suggestions
