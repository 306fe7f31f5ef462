"""Answers: verbatim quotes with citations, emergencies first, 'not covered' when unsure."""

from __future__ import annotations

from pathlib import Path

import pytest

from medcite.chat.answer import (
    MAX_QUESTION_CHARS,
    AbstainPolicy,
    _lead,
    answer_evidence,
    suggested_topics,
    topic_of,
)
from medcite.chat.answer import ask as ask_with_triage
from medcite.chat.conversation import ConversationStore
from medcite.chat.quotes import query_weights
from medcite.chat.retrieve import search
from medcite.chat.triage import make_triage
from medcite.chat.types import ANSWERED, CLARIFY, EMERGENCY, NOT_COVERED, Topic, resolve_follow_up
from medcite.index.errors import InputError
from medcite.index.reader import Index, open_index
from medcite.index.spelling import common_english
from medcite.index.testing import CORPUS, FakeEmbedder, article, write_jsonl
from medcite.index.types import Hit, Passage
from medcite.ingest.pipeline import ingest
from tests.support import STORES, served

# With the fake embedder, coverage of the question's words decides.
LENIENT = AbstainPolicy(bias=-3.0, w_dense=0.0, w_cover=6.0, w_unknown=0.0, threshold=0.5)

# The shipped triage: with the fake embedder it falls back to the rules alone.
TRIAGE = make_triage()


def ask(*args, **kwargs):  # type: ignore[no-untyped-def]
    return ask_with_triage(*args, triage=TRIAGE, **kwargs)


@pytest.fixture(scope="module", params=STORES)
def small_index(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Index:
    root = tmp_path_factory.mktemp("answer")
    ingest([write_jsonl(root / "corpus.jsonl", CORPUS)], root / "ix", FakeEmbedder())
    return served(root / "ix", request.param)


def _indexed(tmp_path: Path, records: list[dict]) -> Index:
    """An index of ``records``, built in ``tmp_path`` with the fake embedder."""
    ingest([write_jsonl(tmp_path / "corpus.jsonl", records)], tmp_path / "ix", FakeEmbedder())
    return open_index(tmp_path / "ix")


def _hit(doc_id: str, *, score: float = 1.0, title: str = "") -> Hit:
    """A hit on a one-passage stand-in for article ``doc_id``."""
    return Hit(Passage(f"{doc_id}-p", doc_id, 0, 4, "text"), score, title or doc_id)


def _evidence(index: Index, question: str):  # type: ignore[no-untyped-def]
    hits = search(index, FakeEmbedder(), question, k=4)
    return answer_evidence(index, hits, query_weights(question, index.idf), question)


def test_a_technical_word_the_top_article_lacks_counts_as_absent(small_index: Index) -> None:
    # "glaucoma" is in the Glaucoma article, "inhalers" only in the Asthma one; neither is an
    # everyday word ("treated", "with" are, and say nothing of the topic).
    assert _evidence(small_index, "how is glaucoma treated").absent == 0.0
    evidence = _evidence(small_index, "glaucoma inhalers")
    assert evidence.absent > 0.0
    assert 0.0 < _evidence(small_index, "glaucoma and its treatment with inhalers").absent < 1.0


def test_a_word_no_article_uses_is_strange_not_absent(small_index: Index) -> None:
    # Every article lacks "trabeculectomy" alike: it cannot tell the top article from
    # another, so it counts once, as a strange word, and not again as absent.
    evidence = _evidence(small_index, "glaucoma trabeculectomy recovery")
    assert evidence.absent == 0.0
    assert evidence.strange == 1.0


def test_the_lead_is_how_far_the_top_article_is_ahead_of_the_next() -> None:
    hits = [_hit("a", score=2.0), _hit("a", score=1.8), _hit("b", score=1.5)]
    assert _lead(hits) == pytest.approx(0.5)
    # With no other article found, the whole score is its lead.
    assert _lead([_hit("a", score=2.0), _hit("a", score=1.0)]) == pytest.approx(2.0)


def test_a_question_one_article_answers_has_a_clearer_lead(tmp_path: Path) -> None:
    # "glaucoma" names one article; "eye" is in three, found about as well.
    index = _indexed(
        tmp_path,
        [
            article(
                "G", "Glaucoma", [("Overview", "Glaucoma damages the optic nerve of the eye.")]
            ),
            article("C", "Cataract", [("Overview", "A cataract clouds the lens of the eye.")]),
            article(
                "P",
                "Presbyopia",
                [("Overview", "Presbyopia makes the eye slow to focus up close.")],
            ),
        ],
    )
    named = _evidence(index, "glaucoma optic nerve").lead
    vague = _evidence(index, "eye").lead
    assert named > vague >= 0.0


def test_a_contraction_without_its_apostrophe_is_not_absent(small_index: Index) -> None:
    # "doesnt" is "doesn't", not a name the article lacks.
    assert _evidence(small_index, "glaucoma treatment doesnt work").absent == 0.0


def test_two_everyday_words_run_together_are_not_a_strange_name(tmp_path: Path) -> None:
    # "daycare" is "day" and "care", words three articles use: a parent's word, not a
    # condition the index lacks. "ganglion" splits only into "gang" and "lion", which no
    # article uses, and "trabeculectomy" not at all: both stay strange (spent real-style
    # questions were refused for "daycare", "bloodwork", "seasick").
    others = [
        article(f"CARE_{n}", f"Care {n}", [("Overview", "Care for a child every day matters.")])
        for n in range(3)
    ]
    index = _indexed(tmp_path, CORPUS + others)
    assert _evidence(index, "my son got pink eye at daycare, is it glaucoma").strange == 0.0
    assert _evidence(index, "my son got a ganglion, is it glaucoma").strange == 1.0
    assert _evidence(index, "glaucoma trabeculectomy recovery").strange == 1.0
    index.close()


def test_another_form_of_an_everyday_word_is_not_a_strange_name(small_index: Index) -> None:
    # "meds" (med), "calmer" (calm), "messier" (messy), "heater" (heat), "regretting"
    # (regret), "crawly" (crawl) and "competitively" (competitive) are in no article and not
    # whole words of the model's vocabulary, but their everyday root is: a story's words, not
    # a drug or a condition the index lacks. "melatonin" and "statins" have none, and a root
    # under four letters counts only before -er and -est ("mody" is a kind of diabetes).
    for word in ("meds", "calmer", "messier", "heater", "regretting", "crawly", "competitively"):
        assert _evidence(small_index, f"glaucoma {word}").strange == 0.0, word
    for word in ("melatonin", "statins", "mody"):
        assert _evidence(small_index, f"glaucoma {word}").strange == 1.0, word


def test_a_word_common_in_english_is_not_a_strange_name(small_index: Index) -> None:
    # "coworker", "chemo" and "skateboarding" are in no article and split into word pieces,
    # yet they are a story's words, not a drug or a condition the index lacks.
    for word in ("coworker", "chemo", "skateboarding"):
        assert common_english(word)
        assert _evidence(small_index, f"glaucoma {word}").strange == 0.0, word
    for word in ("lisinopril", "psoriasis", "scleredema"):
        assert not common_english(word)
        assert _evidence(small_index, f"glaucoma {word}").strange == 1.0, word


def test_a_misspelled_article_word_is_not_a_strange_name(small_index: Index) -> None:
    # "narrows" is in one passage (Asthma's), too rare for the speller to correct "narows"
    # to; it is still a typo of an article word, not a name the index lacks.
    assert small_index.speller.suggest("narows") is None
    assert _evidence(small_index, "asthma narows the airways").strange == 0.0
    assert _evidence(small_index, "asthma scleredema").strange == 1.0


def test_a_story_is_longer_evidence_than_a_question(small_index: Index) -> None:
    short = _evidence(small_index, "glaucoma treatment")
    story = _evidence(
        small_index, "my dad was told at his eye exam he has glaucoma, how is it treated"
    )
    assert story.length > short.length > 0


def test_every_quote_is_the_document_text_at_its_offsets(small_index: Index) -> None:
    answer = ask(small_index, FakeEmbedder(), "glaucoma treatment eye drops laser", policy=LENIENT)
    assert answer.kind == ANSWERED
    assert 1 <= len(answer.quotes) <= 3
    for quote, citation in zip(answer.quotes, answer.citations, strict=True):
        document = small_index.document(quote.doc_id)
        assert quote.text == document.text[quote.start : quote.end]
        assert (citation.doc_id, citation.start, citation.end) == (
            quote.doc_id,
            quote.start,
            quote.end,
        )
        assert citation.number == quote.citation
    first = answer.quotes[0]
    assert first.doc_id == "GLAU_1" and first.heading == "Treatment"
    assert "eye drops" in first.text
    assert answer.citations[0].title == "Glaucoma"
    assert answer.disclaimer


def test_quote_is_whole_sentences(small_index: Index) -> None:
    answer = ask(small_index, FakeEmbedder(), "asthma lung disease airways", policy=LENIENT)
    assert answer.quotes[0].text.endswith(".")
    assert answer.quotes[0].text[0].isupper()


def test_question_the_articles_do_not_cover_gets_topics_instead(small_index: Index) -> None:
    answer = ask(small_index, FakeEmbedder(), "abacavir dosage for zidovudine", policy=LENIENT)
    assert answer.kind == NOT_COVERED
    assert answer.quotes == ()
    assert "do not seem to answer" in answer.message
    assert answer.suggestions and all(s.title for s in answer.suggestions)


def test_emergency_reply_names_the_situation_and_says_whom_to_call(small_index: Index) -> None:
    answer = ask(small_index, FakeEmbedder(), "i have crushing chest pain and my left arm is numb")
    assert answer.kind == EMERGENCY
    assert answer.emergency == "cardiac" and answer.emergency_name
    assert "911" in answer.message


def test_an_emergency_reply_still_quotes_what_the_articles_cover(small_index: Index) -> None:
    """A false alarm ("i cant breathe" said of a general asthma question) still answers."""
    question = "does asthma narrow the airways of the lungs? i cant breathe"
    answer = ask(small_index, FakeEmbedder(), question, policy=LENIENT)
    assert answer.kind == EMERGENCY and answer.emergency == "breathing"
    assert answer.quotes and answer.citations
    for quote in answer.quotes:
        document = small_index.document(quote.doc_id)
        assert quote.text == document.text[quote.start : quote.end]


def test_a_first_question_that_points_back_at_nothing_asks_which_condition(
    small_index: Index,
) -> None:
    answer = ask(small_index, FakeEmbedder(), "what are its symptoms?")
    assert answer.kind == CLARIFY and "Which condition" in answer.message
    assert answer.quotes == ()
    named = ask(small_index, FakeEmbedder(), "what are the symptoms of glaucoma", policy=LENIENT)
    assert named.kind == ANSWERED


def test_a_misspelled_name_with_a_pronoun_is_answered_not_asked_about(
    tmp_path: Path,
) -> None:
    # "glaucomma" is in no article, so before spelling it named nothing and the pronoun made
    # "what causes vasculitus and how do they treat it" a "Which condition do you mean?"
    # (check12). A name is a word few passages use: among 120 other articles that use every
    # other word of the question, "glaucoma" is the only one.
    common = "What causes it, how is it treated, and can it damage a nerve or cause blindness?"
    others = [
        article(f"OTHER_{n}", f"Topic {n}", [("Overview", f"Topic {n} is common. {common}")])
        for n in range(120)
    ]
    index = _indexed(tmp_path, CORPUS + others)
    question = "does glaucomma damage a nerve, can it cause blindness"
    answer = ask(index, FakeEmbedder(), question, policy=LENIENT)
    assert answer.kind == ANSWERED and answer.citations[0].title == "Glaucoma"
    unnamed = ask(index, FakeEmbedder(), "does it damage a nerve, can it cause blindness")
    index.close()
    assert unnamed.kind == CLARIFY


@pytest.mark.parametrize("question", ["", "   ", "x" * (MAX_QUESTION_CHARS + 1)])
def test_empty_or_huge_question_is_refused(small_index: Index, question: str) -> None:
    with pytest.raises(InputError):
        ask(small_index, FakeEmbedder(), question)


def test_follow_up_is_resolved_against_the_last_topic(small_index: Index) -> None:
    first = ask(
        small_index, FakeEmbedder(), "glaucoma damage optic nerve blindness", policy=LENIENT
    )
    topic = topic_of(first)
    assert topic == Topic("GLAU_1", "Glaucoma")
    follow = ask(small_index, FakeEmbedder(), "what are its symptoms?", topic=topic, policy=LENIENT)
    assert follow.searched_for == "what are its symptoms? (Glaucoma)"
    assert follow.kind == ANSWERED
    assert follow.quotes[0].doc_id == "GLAU_1"
    assert follow.quotes[0].heading == "Symptoms"


def test_a_message_naming_another_article_is_not_a_follow_up(small_index: Index) -> None:
    """ "that" in "a cough that wakes her" is no back-reference when the message names an
    article of its own."""
    topic = Topic("GLAU_1", "Glaucoma")
    own = ask(small_index, FakeEmbedder(), "a wheeze that wakes her, is that asthma?", topic=topic)
    assert own.searched_for == "a wheeze that wakes her, is that asthma?"
    follow = ask(small_index, FakeEmbedder(), "is that inherited?", topic=topic)
    assert follow.searched_for == "is that inherited? (Glaucoma)"
    assert small_index.names_an_article("what is ASTHMA") is True
    assert small_index.names_an_article("what is asthmatic bronchitis") is False


def test_a_message_naming_a_word_no_article_uses_is_not_a_follow_up(small_index: Index) -> None:
    """ "it" in "is it ok to take ..." points at nothing: the message is about its own
    (unknown) drug, not the last topic."""
    topic = Topic("GLAU_1", "Glaucoma")
    own = ask(small_index, FakeEmbedder(), "is it ok to take melatonin every night", topic=topic)
    assert own.searched_for == "is it ok to take melatonin every night"
    follow = ask(small_index, FakeEmbedder(), "is it ok to take every night", topic=topic)
    assert follow.searched_for == "is it ok to take every night (Glaucoma)"
    # A misspelling of a rare article word is not a strange name, but it still names the
    # message's own topic: "narows" is not about glaucoma.
    own = ask(small_index, FakeEmbedder(), "does that mean it narows her airways", topic=topic)
    assert own.searched_for == "does that mean it narows her airways"


def test_question_without_back_reference_is_left_alone() -> None:
    topic = Topic("GLAU_1", "Glaucoma")
    assert resolve_follow_up("what causes asthma", topic) == "what causes asthma"
    assert (
        resolve_follow_up("is glaucoma inherited? is it", topic) == "is glaucoma inherited? is it"
    )
    assert resolve_follow_up("how is it treated", None) == "how is it treated"


def test_conversations_expire_and_are_capped() -> None:
    now = [0.0]
    store = ConversationStore(ttl=60, capacity=2, clock=lambda: now[0])
    store.remember("a", Topic("1", "One"))
    store.remember("b", Topic("2", "Two"))
    store.remember("c", Topic("3", "Three"))
    assert store.topic("a") is None  # least recently used, beyond the cap
    assert store.topic("c") == Topic("3", "Three")
    now[0] = 61.0
    assert store.topic("b") is None and store.topic("c") is None
    assert len(store) == 0


def test_suggested_topics_keep_one_article_per_title_in_rank_order() -> None:
    hits = [
        _hit("A", title="Shingles"),
        _hit("B", title="shingles"),
        _hit("C", title="Chickenpox"),
        _hit("A", title="Shingles"),
    ]
    assert suggested_topics(hits) == (Topic("A", "Shingles"), Topic("C", "Chickenpox"))


def test_quotes_are_scored_with_the_sentence_vectors_ingest_stored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A question costs one model run, its own: the sentences' vectors come from the index.
    An index without them (built before they were stored) embeds them and quotes the same."""
    import dataclasses

    index = _indexed(tmp_path, CORPUS)
    question = "how is glaucoma treated"
    embedder = FakeEmbedder()
    stored = ask(index, embedder, question, policy=LENIENT)
    assert stored.kind == ANSWERED and embedder.calls == [1]
    older = dataclasses.replace(index, sentences_stored=False)
    embedder = FakeEmbedder()
    embedded = ask(older, embedder, question, policy=LENIENT)
    assert sum(embedder.calls) > 1
    assert [q.text for q in embedded.quotes] == [q.text for q in stored.quotes]


def test_a_message_asking_two_things_gets_a_quote_for_each(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The second question's answer is in another section of the same article; without the
    stored sentence vectors (too costly then) only the first question is answered."""
    import dataclasses

    index = _indexed(tmp_path, CORPUS)
    question = "is glaucoma treated with surgery? what are the symptoms of glaucoma at first?"
    answer = ask(index, FakeEmbedder(), question, policy=LENIENT)
    assert answer.kind == ANSWERED
    assert {q.heading for q in answer.quotes} == {"Symptoms", "Treatment"}
    assert all(q.doc_id == "GLAU_1" for q in answer.quotes)
    older = ask(
        dataclasses.replace(index, sentences_stored=False), FakeEmbedder(), question, policy=LENIENT
    )
    assert {q.heading for q in older.quotes} == {"Symptoms"}
