"""Quote selection: whole sentences that answer, lists kept whole, no repeats."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medcite.chat.quotes import (
    MEANING_SENTENCES,
    Window,
    _after_glued_item,
    asked_about,
    best_window,
    select_windows,
    sentence_similarity,
    with_answers_to_parts,
)
from medcite.index.text import sentence_spans
from medcite.index.types import Hit, Passage


def hit(text: str, title: str = "Glaucoma", doc: str = "d", section: str = "d#1") -> Hit:
    return Hit(
        Passage(f"{doc}:{section}", doc, 0, len(text), text, section, "Treatment"), 1.0, title
    )


def quoted(window_hit: Hit, weights: dict[str, float]) -> str:
    window = best_window(window_hit, weights)
    return window_hit.passage.text[window.start : window.end]


def test_title_words_do_not_decide_which_sentence_answers() -> None:
    text = (
        "Many people live with glaucoma. Laser surgery is another treatment for glaucoma. "
        "Researchers study glaucoma."
    )
    # "treated" and "treatment" are one word family; "glaucoma" is in every sentence.
    assert quoted(hit(text), {"glaucoma": 1.0, "treat": 2.0}) == (
        "Laser surgery is another treatment for glaucoma."
    )


def test_a_sentence_that_introduces_a_list_keeps_its_items() -> None:
    text = "Symptoms of asthma include - Wheezing - Coughing at night Not all people have them."
    assert quoted(hit(text, "Asthma"), {"symptom": 2.0}).startswith(
        "Symptoms of asthma include - Wheezing - Coughing at night"
    )


def test_question_sentences_are_not_quoted() -> None:
    text = "What is glaucoma? Glaucoma is a group of eye diseases."
    assert quoted(hit(text), {"glaucoma": 1.0}) == "Glaucoma is a group of eye diseases."


SIGN_OFF = "NIH: National Eye Institute"


def test_a_sign_off_is_never_quoted() -> None:
    text = f"Laser surgery lowers eye pressure. It takes minutes. {SIGN_OFF}"
    windows = select_windows([hit(text)], {"laser": 1.0, "minute": 1.0}, sign_offs={SIGN_OFF})
    assert [hit_text(w) for w in windows] == [
        "Laser surgery lowers eye pressure. It takes minutes."
    ]
    # Without it, the quote runs on to the end of the passage.
    windows = select_windows([hit(text)], {"laser": 1.0, "minute": 1.0})
    assert hit_text(windows[0]).endswith(SIGN_OFF)


def test_a_quote_stops_before_a_sign_off_glued_to_its_last_sentence() -> None:
    text = f"Laser surgery lowers eye pressure. - Eye drops - Laser surgery {SIGN_OFF}"
    windows = select_windows([hit(text)], {"laser": 1.0, "drop": 1.0}, sign_offs={SIGN_OFF})
    assert hit_text(windows[0]).endswith("- Laser surgery")
    assert all(SIGN_OFF not in hit_text(w) for w in windows)


def test_a_passage_holding_only_a_sign_off_gives_no_first_quote() -> None:
    hits = [hit(SIGN_OFF, section="d#2"), hit("Glaucoma damages the optic nerve.", section="d#1")]
    windows = select_windows(hits, {"glaucoma": 1.0}, sign_offs={SIGN_OFF})
    assert hit_text(windows[0]) == "Glaucoma damages the optic nerve."


def hit_text(window: Window) -> str:
    passage = window.hit.passage
    return passage.text[window.start - passage.start : window.end - passage.start]


def test_the_same_words_from_two_articles_are_quoted_once() -> None:
    text = "Laser treatment lowers eye pressure."
    hits = [hit(text, doc="a", section="a#1"), hit(text, doc="b", section="b#1")]
    assert len(select_windows(hits, {"laser": 1.0, "treatment": 1.0})) == 1


def test_nearly_the_same_words_from_another_article_are_quoted_once() -> None:
    first = hit("COPD is a lung disease that makes it hard to breathe.", doc="a", section="a#1")
    again = hit(
        "COPD is a lung disease that makes it very hard to breathe.", doc="b", section="b#1"
    )
    other = hit("COPD makes breathing hard; quitting smoking helps most.", doc="c", section="c#1")
    windows = select_windows([first, again, other], {"copd": 1.0, "breath": 1.0, "hard": 1.0})
    assert [w.hit.passage.doc_id for w in windows] == ["a", "c"]


def test_a_second_quote_is_judged_on_its_words_not_against_the_first_ones_meaning() -> None:
    """Only the first passage is scored by meaning, which can add up to four times its word
    coverage: another section covering the question's words as well is still quoted."""
    first = hit("Laser treatment lowers eye pressure.", doc="a", section="a#1")
    second = hit("Laser treatment is done in the office.", doc="a", section="a#2")

    def meaning(sentences: Sequence[str], topic: str) -> list[float]:
        return [0.8 for _ in sentences]

    weights = {"laser": 1.0, "treatment": 1.0}
    windows = select_windows([first, second], weights, meaning=meaning)
    assert [w.hit.passage.section_id for w in windows] == ["a#1", "a#2"]
    assert windows[0].score > windows[0].words + 3.0


def test_a_second_passage_sentence_that_answers_nearly_as_well_is_quoted_too() -> None:
    """ "how is glaucoma treated?": the passage names eye drops first and laser surgery three
    sentences later; both answer, so both are quoted, the better first."""
    drops = "Eye drops that lower eye pressure are the usual first treatment."
    laser = "Laser surgery helps fluid drain from the eye."
    fillers = [f"Filler sentence number {n} says nothing at all." for n in range(2)]
    text = " ".join([drops, *fillers, laser])

    def meaning(sentences: Sequence[str], topic: str) -> list[float]:
        return [{drops: 0.9, laser: 0.85}.get(s, 0.1) for s in sentences]

    windows = select_windows([hit(text)], {"treat": 1.0}, meaning=meaning)
    # The first quote runs on through the two sentences after it (``_with_context``).
    assert [text[w.start : w.end] for w in windows] == [" ".join([drops, *fillers]), laser]


def test_a_weak_second_sentence_of_the_passage_is_not_quoted() -> None:
    drops = "Eye drops that lower eye pressure are the usual first treatment."
    fillers = [f"Filler sentence number {n} says nothing at all." for n in range(4)]
    text = " ".join([drops, *fillers])

    def meaning(sentences: Sequence[str], topic: str) -> list[float]:
        return [0.9 if s == drops else 0.1 for s in sentences]

    windows = select_windows([hit(text)], {"treat": 1.0}, meaning=meaning)
    assert [text[w.start : w.end] for w in windows] == [" ".join([drops, *fillers[:2]])]


def test_the_first_quote_starts_at_the_sentence_that_answers_and_runs_on_after_it() -> None:
    """ "how long does croup last": the sentence that answers opens the quote, and the two
    after it, not the ones before, come with it."""
    answer = "The symptoms usually last for about three to five days."
    text = " ".join(
        [
            "Croup is an infection of the airway.",
            "It causes a barking cough.",
            answer,
            "Most cases are mild.",
            "Rarely, croup can be serious.",
            "Call your provider if you are worried.",
        ]
    )

    def meaning(sentences: Sequence[str], topic: str) -> list[float]:
        return [0.9 if s == answer else 0.1 for s in sentences]

    windows = select_windows([hit(text, "Croup")], {"last": 1.0}, meaning=meaning)
    first = text[windows[0].start : windows[0].end]
    assert first == f"{answer} Most cases are mild. Rarely, croup can be serious."


def test_the_first_quote_runs_on_only_as_far_as_the_word_limit() -> None:
    answer = "The symptoms usually last for about three to five days."
    long_one = "This sentence goes on " + "and on " * 40 + "without end."
    text = f"{answer} {long_one} Most cases are mild."

    def meaning(sentences: Sequence[str], topic: str) -> list[float]:
        return [0.9 if s == answer else 0.1 for s in sentences]

    windows = select_windows([hit(text, "Croup")], {"last": 1.0}, meaning=meaning)
    assert text[windows[0].start : windows[0].end] == answer


def test_a_quote_does_not_open_with_a_stray_list_item() -> None:
    text = "- Infections, flu. When asthma symptoms get worse, it is called an asthma attack."
    assert quoted(hit(text, "Asthma in Children"), {"asthma": 1.0, "symptom": 1.0}) == (
        "When asthma symptoms get worse, it is called an asthma attack."
    )


def test_a_sentence_close_in_meaning_wins_over_one_that_shares_more_words() -> None:
    """ "early signs of diabetes": the sentence that lists symptoms, though it shares no word
    with the question, over one that repeats "diabetes" and "signs" without answering."""
    text = (
        "Many people show no signs of diabetes for years. "
        "Extreme thirst, hunger and a frequent need to urinate are common. "
        "Diabetes affects millions."
    )
    answer = "Extreme thirst, hunger and a frequent need to urinate are common."

    def meaning(sentences: Sequence[str], topic: str) -> list[float]:
        return [0.9 if s == answer else 0.1 for s in sentences]

    weights = {"earli": 1.0, "sign": 1.0, "diabet": 1.0}
    by_words = best_window(hit(text, title="Diabetes"), weights)
    by_meaning = best_window(hit(text, title="Diabetes"), weights, meaning=meaning)
    assert answer not in text[by_words.start : by_words.end]
    assert answer in text[by_meaning.start : by_meaning.end]


def test_only_the_sentences_sharing_most_of_the_question_are_scored_by_meaning() -> None:
    # Each sentence scored costs a model run: a long passage pays for MEANING_SENTENCES.
    fillers = [f"Filler sentence number {n} says nothing." for n in range(8)]
    answer = "Laser surgery is a treatment for glaucoma."
    text = " ".join(fillers[:5] + [answer] + fillers[5:])
    asked: list[str] = []

    def meaning(sentences: Sequence[str], topic: str) -> list[float]:
        asked.extend(sentences)
        return [0.9 if s == answer else 0.1 for s in sentences]

    window = best_window(hit(text), {"laser": 2.0, "treat": 1.0}, meaning=meaning)
    assert len(asked) == MEANING_SENTENCES < len(fillers) and answer in asked
    assert text[window.start : window.end] == answer


class VectorsByText:
    """An embedder stand-in that knows a unit vector for each text it is asked about."""

    name = "by-text"
    dim = 3

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = {t: np.array(v) / np.linalg.norm(v) for t, v in vectors.items()}

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.vectors[t] for t in texts])


def test_meaning_scores_what_is_asked_about_the_topic_not_the_topic() -> None:
    """ "how is croup treated?" is mostly "croup": the plain cosine prefers the sentence that
    defines croup; with the topic taken out, the one about treatment wins."""
    defines, treats = "Croup is an infection.", "Most children get better at home."
    embedder = VectorsByText(
        {"Croup": [1, 0, 0], defines: [0.95, 0.1, 0.3], treats: [0.5, 0.85, 0]}
    )
    question = np.array([0.9, 0.3, 0.0]) / np.linalg.norm([0.9, 0.3, 0.0])
    meaning = sentence_similarity(embedder, question)  # type: ignore[arg-type]
    plain = meaning([defines, treats], "")
    asked = meaning([defines, treats], "Croup")
    assert plain[0] > plain[1] and asked[1] > asked[0]
    rest = asked_about(question, embedder.vectors["Croup"])
    assert abs(float(rest @ embedder.vectors["Croup"])) < 1e-9
    assert abs(float(np.linalg.norm(rest)) - 1.0) < 1e-9


def test_a_question_naming_only_the_topic_is_scored_whole() -> None:
    """ "what is croup?" asks for the topic itself: no topic is taken out of it."""
    topics: list[str] = []

    def meaning(sentences: Sequence[str], topic: str) -> list[float]:
        topics.append(topic)
        return [0.5 for _ in sentences]

    text = "Croup is an infection of the airway. It causes a barking cough."
    best_window(hit(text, title="Croup"), {"croup": 1.0}, meaning=meaning)
    best_window(hit(text, title="Croup"), {"croup": 1.0, "cough": 1.0}, meaning=meaning)
    assert topics == ["", "Croup"]


def test_a_quote_starts_after_a_heading_run_into_its_sentence() -> None:
    text = "Surgery Laser surgery is another treatment for glaucoma. It lowers eye pressure."
    window = best_window(hit(text), {"laser": 1.0, "surgeri": 1.0})
    assert text[window.start : window.end].startswith("Laser surgery is another treatment")
    summary = "Summary : Laser surgery treats glaucoma."
    window = best_window(hit(summary), {"laser": 1.0, "surgeri": 1.0})
    assert summary[window.start : window.end] == "Laser surgery treats glaucoma."
    plain = "New York doctors treat glaucoma with laser surgery."
    window = best_window(hit(plain), {"laser": 1.0, "surgeri": 1.0})
    assert plain[window.start : window.end] == plain


def test_a_quote_starts_after_a_list_item_run_into_its_sentence() -> None:
    # The source lost the full stop after the list's last item: the quote opens on the
    # sentence, not on "- Keep your toenails clean".
    text = (
        "To prevent it - Keep your feet dry - Keep your toenails clean and clipped short "
        "Treatments include antifungal creams for most cases. They usually work."
    )
    start = text.index("- Keep your toenails")
    window = Window(hit(text, "Athlete's Foot"), start, len(text), 1.0)
    window = _after_glued_item(window, sentence_spans(text))
    assert text[window.start : window.end].startswith("Treatments include antifungal creams")
    windows = select_windows([hit(text[start:], "Athlete's Foot")], {"cream": 2.0})
    assert text[start:][windows[0].start : windows[0].end].startswith("Treatments include")
    # A name inside an item ("Crohn's", "Lyme") is not where a sentence starts, nor is a
    # last word with too little after it.
    for text, first in (
        ("Causes include - Diseases such as Crohn's disease or colitis.", "- Diseases such"),
        ("Symptoms include - Fever - Fatigue Lyme disease is hard to diagnose.", "- Fatigue"),
        ("It can follow - Guillain-Barre Syndrome", "- Guillain-Barre"),
        ("Signs - Vitamin A deficiency in children is rare.", "- Vitamin A"),
    ):
        start = text.index(first)
        window = Window(hit(text), start, len(text), 1.0)
        assert text[_after_glued_item(window, sentence_spans(text)).start :].startswith(first)
    # "A" opens the sentence after an item in small letters.
    text = "Signs - Speech problems in boys A blood test can find it."
    window = Window(hit(text), text.index("- Speech"), len(text), 1.0)
    assert text[_after_glued_item(window, sentence_spans(text)).start :].startswith("A blood test")
    # An item the question asks about is the answer, and stays.
    text = 'Other symptoms - Trouble sleeping - Memory problems ("fibro fog") No one knows why.'
    window = Window(hit(text), text.index("- Memory"), len(text), 1.0)
    assert _after_glued_item(window, sentence_spans(text), {"fog"}).start == window.start
    assert text[_after_glued_item(window, sentence_spans(text)).start :].startswith("No one knows")


def test_an_aside_in_brackets_is_not_the_opening_of_a_quote() -> None:
    text = (
        "Osteoporosis weakens bones. (Watch the video to learn how exercise helped a woman "
        "with osteoporosis. Exercise builds bone. Weight-bearing exercise like walking helps "
        "keep bones strong."
    )
    assert quoted(hit(text, "Osteoporosis"), {"exercise": 2.0, "help": 1.0}).startswith(
        "Weight-bearing exercise like walking helps"
    )


def test_an_opening_sentence_answers_what_is_but_not_how_is_it_treated() -> None:
    text = (
        "Glaucoma is a group of diseases that damage the optic nerve. It can cause blindness. "
        "Medicines and laser surgery can treat glaucoma."
    )
    assert quoted(hit(text), {"glaucoma": 1.0}).startswith("Glaucoma is a group")
    assert quoted(hit(text), {"glaucoma": 1.0, "treat": 2.0}).startswith("Medicines and laser")


def test_each_question_of_a_message_gets_the_best_window_of_the_article() -> None:
    """The first part is answered by the first quote already (not quoted twice); the second
    by the other section's sentence that means it."""
    overview = "Glaucoma damages the optic nerve. It can cause blindness."
    treatment = "Eye drops lower the pressure. Surgery is another treatment."
    start = len(overview) + 2
    a = Hit(Passage("d:1", "d", 0, len(overview), overview, "d#1", "Overview"), 1.0, "Glaucoma")
    b = Hit(
        Passage("d:2", "d", start, start + len(treatment), treatment, "d#2", "Treatment"),
        1.0,
        "Glaucoma",
    )

    def likes(word: str):  # type: ignore[no-untyped-def]
        return lambda sentences, topic: [1.0 if word in s else 0.0 for s in sentences]

    first = best_window(a, {"blind": 1.0})
    parts = [({"blind": 1.0}, likes("blindness")), ({"surgeri": 1.0}, likes("Surgery"))]
    kept = with_answers_to_parts([first], [a, b], parts)
    texts = [
        w.hit.passage.text[w.start - w.hit.passage.start : w.end - w.hit.passage.start]
        for w in kept
    ]
    assert texts == ["It can cause blindness.", "Surgery is another treatment."]
    assert with_answers_to_parts([first], [a, b], parts, max_quotes=1) == [first]
    assert with_answers_to_parts([], [a, b], parts) == []
