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
from medcite.chat.types import ANSWERED, CLARIFY, NOT_COVERED, Answer
from medcite.index.embedder import DEFAULT_KIND, Embedder, make_embedder
from medcite.index.reader import Index, open_index
from medcite.ingest.pipeline import ingest

QUICKSTART = Path(__file__).resolve().parents[1] / "quickstart" / "corpus.jsonl"
SEED = Path(__file__).parent / "data" / "small-needle-knife-cervical-spondylosis.txt"
# The articles the questions below are about, and every eighth other article of the bundled
# quickstart corpus around them: about 150 articles, embedded in under a minute.
TOPICS = {
    "Glaucoma",
    "Asthma",
    "Endometriosis",
    "Gout",
    "Shingles",
    "Cataract",
    # The examples of issue 10, and the near-miss names they must not be taken for.
    "Diabetes",
    "Osteoporosis",
    "Flu",
    "Parkinson's Disease",
    "Heel Injuries and Disorders",
    "Carpal Tunnel Syndrome",
    "Heart Attack",
    "COPD",
    "Alcohol Use and Older Adults",
    # Named by a synonym or a title run together, beside the articles that won before.
    "Pinkeye",
    "Eye Infections",
    "Osteogenesis Imperfecta",
    "Bone Diseases",
    "Rubella",
    "Measles",
    "Diabetes Type 2",
    # Its last passage holds little but the publisher's sign-off.
    "Scleroderma",
    # A story word no article uses; a list item run into the next sentence.
    "Athlete's Foot",
}

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


# --- issue 10: answers that answer, for questions as patients write them ---------------------


def first_title(answer) -> str:  # type: ignore[no-untyped-def]
    return answer.citations[0].title if answer.citations else ""


def answered_from(index: Index, model: Embedder, question: str, title: str) -> Answer:
    """The answer to ``question``, checked to be an answer whose first citation is ``title``."""
    answer = ask(index, model, question)
    assert answer.kind == ANSWERED and first_title(answer) == title, (
        answer.kind,
        first_title(answer),
    )
    return answer


def test_how_is_glaucoma_treated_quotes_a_treatment_not_a_heading(
    sample_index: Index, model: Embedder
) -> None:
    answer = answered_from(sample_index, model, "how is glaucoma treated?", "Glaucoma")
    first = answer.quotes[0].text
    assert "treat" in first.lower() and not first.startswith("Surgery Laser")


def test_an_aside_about_a_video_is_not_the_answer(sample_index: Index, model: Embedder) -> None:
    answer = answered_from(
        sample_index, model, "what exercises help with osteoporosis", "Osteoporosis"
    )
    assert "exercise" in answer.quotes[0].text.lower()
    assert not any(quote.text.startswith("(") for quote in answer.quotes)


def test_staff_search_for_glaucoma_does_not_open_with_addresses(
    sample_index: Index, model: Embedder
) -> None:
    """Issue 10: the NIHSeniorHealth Glaucoma article's list of addresses and phone numbers
    topped a search for "glaucoma"."""
    hits = search(sample_index, model, "glaucoma", k=5)
    assert all(hit.title == "Glaucoma" for hit in hits[:3])
    assert "Vision Place" not in hits[0].passage.text, hits[0].passage.text[:80]
    article = sample_index.rowids_for_documents(["NIHSeniorHealth_0000027"])
    passages = sample_index.passages(sorted(article)).values()
    assert any("Vision Place" in passage.text for passage, *_ in passages), "not in the index"


@pytest.mark.parametrize(
    ("question", "title", "words"),
    [
        (
            "my mom was just diagnosed with shingles, is it contagious to my kids?",
            "Shingles",
            ("contagious", "spread"),
        ),
    ],
)
def test_a_question_in_a_story_is_answered_from_its_article(
    sample_index: Index, model: Embedder, question: str, title: str, words: tuple[str, ...]
) -> None:
    answer = answered_from(sample_index, model, question, title)
    assert any(word in answer.quotes[0].text.lower() for word in words)


@pytest.mark.parametrize(
    ("question", "near"),
    [
        # No quickstart article says how much sleep older adults need. The tenth session's
        # policy answers it from "Alcohol Use and Older Adults" (BM25 ranks its overview first
        # on "sleeping problems" and "older adults"; 44th by meaning), at confidence 0.78.
        pytest.param(
            "how much sleep do older adults need",
            "Alcohol Use and Older Adults",
            marks=pytest.mark.xfail(strict=True, reason="answered from a near title; see README"),
        ),
        # "tarsal" is a word no article here uses: not a typo of "trial" or "tartar".
        ("What are the symptoms of Tarsal tunnel syndrome ?", "Carpal Tunnel Syndrome"),
    ],
)
def test_a_question_the_articles_do_not_answer_is_not_answered_by_a_near_name(
    sample_index: Index, model: Embedder, question: str, near: str
) -> None:
    assert first_title(ask(sample_index, model, question)) != near


@pytest.mark.parametrize(
    ("question", "title", "first", "second"),
    [
        # Issue 10's "two questions in one". Without a quote for each part, both were answered
        # with one quote, about the first part only.
        (
            "is cataract surgery safe? how do i know if i have cataracts",
            "Cataract",
            "risk",
            "symptoms",
        ),
        ("what is osteoporosis, and how can i prevent it", "Osteoporosis", "prevent", "weakens"),
    ],
)
def test_a_message_asking_two_things_is_answered_on_both(
    sample_index: Index, model: Embedder, question: str, title: str, first: str, second: str
) -> None:
    answer = ask(sample_index, model, question)
    assert answer.kind == ANSWERED and {c.title for c in answer.citations} == {title}
    texts = [quote.text.lower() for quote in answer.quotes]
    assert any(first in text for text in texts) and any(second in text for text in texts)


def test_a_pronoun_only_first_question_asks_which_condition(
    sample_index: Index, model: Embedder
) -> None:
    answer = ask(sample_index, model, "what are its symptoms")
    assert answer.kind == CLARIFY and not answer.quotes


def test_a_misspelled_name_beside_a_pronoun_is_answered(
    sample_index: Index, model: Embedder
) -> None:
    # Before spelling, "glacoma" named nothing, and "it" made this a "which condition?".
    answered_from(sample_index, model, "what causes glacoma and how do they treat it", "Glaucoma")


def test_two_everyday_words_run_together_do_not_refuse_a_question(
    sample_index: Index, model: Embedder
) -> None:
    # "bloodwork" is in no article and not a whole word of the model's vocabulary, so it
    # counted as a strange name, a drug's or a condition's the index lacks: refused at 0.48.
    question = (
        "i have gout and my bloodwork came back with high uric acid, what foods should i avoid"
    )
    answered_from(sample_index, model, question, "Gout")


def test_the_first_quote_runs_on_to_what_follows_the_sentence_it_opens_with(
    sample_index: Index, model: Embedder
) -> None:
    # Quoted "Flu almost never causes an upset stomach." alone until the fourteenth session;
    # the sentences after it say most people recover on their own. The sentence chosen is
    # still not the best start: an issue 10 example half right.
    answer = answered_from(sample_index, model, "how long does the flu last", "Flu")
    assert "recover" in answer.quotes[0].text


@pytest.mark.parametrize(
    ("question", "title"),
    [
        # Answered from Eye Infections and Bone Diseases until the names counted.
        ("my daughter has pink eye. is it contagous? does it need antibiotic drops?", "Pinkeye"),
        ("how do they test a baby for brittle bone disease?", "Osteogenesis Imperfecta"),
        # "Signs of type 1 diabetes..." from Diabetes was quoted, a strict expected failure.
        ("what are the early signs of type 2 diabetes", "Diabetes Type 2"),
    ],
)
def test_a_question_naming_an_article_by_title_or_synonym_is_answered_from_it(
    sample_index: Index, model: Embedder, question: str, title: str
) -> None:
    answered_from(sample_index, model, question, title)


@pytest.mark.parametrize(
    ("question", "title"),
    [
        # The whole answer was "NIH: National Institute of Arthritis and Musculoskeletal and
        # Skin Diseases", the line that ends the article, until sign-offs were learned.
        ("my aunt has sclerodrema. what is that", "Scleroderma"),
        # Its list of who is at risk ran into "Centers for Disease Control and Prevention".
        ("is fifth disease serious if you are pregnant", "Fifth Disease"),
    ],
)
def test_the_publishers_sign_off_is_never_quoted(
    sample_index: Index, model: Embedder, question: str, title: str
) -> None:
    answer = answered_from(sample_index, model, question, title)
    ending = sample_index.document(answer.quotes[0].doc_id).text.rstrip()
    assert any(ending.endswith(line) for line in sample_index.sign_offs)
    assert not any(line in quote.text for quote in answer.quotes for line in sample_index.sign_offs)


def test_a_story_word_or_a_typo_no_article_uses_does_not_refuse_a_plain_question(
    sample_index: Index, model: Embedder
) -> None:
    # "drugstore" is in no article: it counts once, as a strange word, not again as a word
    # the top article lacks. The article ran its list's last item into the next sentence;
    # the quote opens on the sentence.
    question = "athletes foot - is the drugstore cream enough or do i need a prescription?"
    answer = answered_from(sample_index, model, question, "Athlete's Foot")
    assert answer.quotes[0].text.startswith("Treatments include")


def test_what_is_copd_does_not_repeat_itself(sample_index: Index, model: Embedder) -> None:
    answer = answered_from(sample_index, model, "what is copd", "COPD")
    word_sets = [set(quote.text.lower().split()) for quote in answer.quotes]
    for i, a in enumerate(word_sets):
        for b in word_sets[i + 1 :]:
            assert len(a & b) / len(a | b) < 0.6


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory: pytest.TempPathFactory, model: Embedder) -> Index:
    """The user's own plain-text article (``../shared/seeds`` style) beside a few bundled ones."""
    root = tmp_path_factory.mktemp("seed")
    lines = QUICKSTART.read_text(encoding="utf-8").splitlines()[::50]
    (root / "some.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest([SEED, root / "some.jsonl"], root / "ix", model)
    return open_index(root / "ix", model=model.name)


def test_the_disclaimer_names_the_publisher_the_settings_give(
    seed_index: Index, model: Embedder
) -> None:
    triage = make_triage(publisher="Cainiu Health")
    question = "is needle knife therapy suitable for everyone with cervical spondylosis"
    answer = ask_with_triage(seed_index, model, question, triage=triage)
    assert answer.kind == ANSWERED and "needle knife" in first_title(answer)
    assert "Cainiu Health" in answer.disclaimer and "NIH" not in answer.disclaimer


@pytest.mark.xfail(strict=True, reason="issue 10: quotes the generic 'not suitable for all'")
def test_the_seed_article_names_who_should_not_have_the_treatment(
    seed_index: Index, model: Embedder
) -> None:
    answer = ask(seed_index, model, "who should not have needle knife therapy")
    assert "cervical instability" in " ".join(quote.text for quote in answer.quotes)


# Examples the answer logic still gets wrong (see the README's evaluation section): kept as
# strict expected failures, so a fix shows up as a failure to remove the mark.
@pytest.mark.xfail(strict=True, reason="issue 10: still refused or answered badly")
@pytest.mark.parametrize(
    ("question", "check"),
    [
        # Named by Rubella's synonym, which gains 0.1 (``retrieve.W_NAMED``): not enough to
        # pass Measles, whose text says "measles" throughout.
        (
            "im 10 weeks pregnant and my nephew has german measles. could it hurt my baby?",
            lambda a: first_title(a) == "Rubella",
        ),
        ("best treatment for plantar fasciitis", lambda a: a.kind == ANSWERED),
        ("What are the treatments for Heart Block ?", lambda a: first_title(a) != "Heart Attack"),
        # Answered from Parkinson's Disease since the tenth session's policy, but with
        # "researchers are making great progress", not how the symptoms grow worse.
        (
            "my father has parkinsons, what should we expect as it progresses",
            lambda a: (
                first_title(a) == "Parkinson's Disease"
                and "research" not in a.quotes[0].text.lower()
            ),
        ),
    ],
)
def test_issue_10_examples_not_yet_right(
    sample_index: Index, model: Embedder, question: str, check
) -> None:  # type: ignore[no-untyped-def]
    assert check(ask(sample_index, model, question))
