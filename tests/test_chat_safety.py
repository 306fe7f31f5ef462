"""The readable rules of triage (chat/safety.py), on their own: phrasings they must recognise,
and questions they must not. The learned layer is tested in test_chat_triage*.py."""

from __future__ import annotations

import pytest

from medcite.chat.safety import normalise
from medcite.chat.triage import Emergency, Triage, load_locale

LOCALE = load_locale("en-US")
RULES_ONLY = Triage(LOCALE, None)


def detect_emergency(text: str) -> Emergency | None:
    return RULES_ONLY.assess(text)


EMERGENCIES = [
    # cardiac
    ("I have crushing chest pain and my left arm is numb", "cardiac"),
    ("chest pain and sweating and can't breathe", "cardiac"),
    ("chset pain", "cardiac"),
    ("heart attack happening", "cardiac"),
    ("im having chest pain right now", "cardiac"),
    ("pressure in my chest and pain going down my left arm", "cardiac"),
    ("I THINK I'M HAVING A HEART ATTACK", "cardiac"),
    ("could this be a heart attack my jaw hurts and im sweating", "cardiac"),
    ("chestpain and sweaty", "cardiac"),
    ("my chest hurts and i feel sick", "cardiac"),
    # stroke
    ("my dad's face is drooping and he can't speak", "stroke"),
    ("slurred speech and one side weak", "stroke"),
    ("my mom is having a stroke", "stroke"),
    ("is this a stroke his face looks crooked", "stroke"),
    ("my husbands speech is slurred and his right arm is weak", "stroke"),
    ("suddenly cant speak and my arm is numb", "stroke"),
    ("worst headache of my life", "stroke"),
    ("i think my wife is havign a stroek", "stroke"),
    # suicide
    ("i want to kill myself", "suicide"),
    ("i dont want to live anymore", "suicide"),
    ("thinking about ending my life", "suicide"),
    ("sucidal", "suicide"),
    ("i want to die", "suicide"),
    ("i wanna die", "suicide"),
    ("i don\u2019t want to be alive anymore", "suicide"),
    ("im going to kill my self", "suicide"),
    ("i've been having thoughts of suicide", "suicide"),
    ("i wish i was dead", "suicide"),
    ("everyone would be better off without me", "suicide"),
    ("i want to hurt myself", "suicide"),
    ("i have nothing to live for", "suicide"),
    ("how many pills would it take to die", "suicide"),
    ("i have been suicidal for years", "suicide"),
    # poisoning_adult
    ("i took a whole bottle of pills", "poisoning_adult"),
    ("my kid swallowed bleach", "poisoning_adult"),
    ("overdosed on tylenol", "poisoning_adult"),
    ("my toddler drank some of the bleach", "poisoning_adult"),
    ("i think my son ate a tide pod", "poisoning_adult"),
    ("she took a handful of sleeping pills", "poisoning_adult"),
    ("i think i overdoesd", "poisoning_adult"),
    ("my daughter got into grandmas pills", "poisoning_adult"),
    ("i took 30 tylenol", "poisoning_adult"),
    ("I think I was poisoned", "poisoning_adult"),
    ("our carbon monoxide alarm is going off and we feel dizzy", "poisoning_adult"),
    # bleeding
    ("bleeding wont stop", "bleeding"),
    ("cut my wrist and bleeding a lot", "bleeding"),
    ("bleding wont stop", "bleeding"),
    ("blood is gushing out of my leg", "bleeding"),
    ("i cant stop the bleeding", "bleeding"),
    ("he is losing a lot of blood", "bleeding"),
    ("im vomiting blood", "bleeding"),
    # breathing
    ("i cant breathe", "breathing"),
    ("cant breath", "breathing"),
    ("cnat breathe", "breathing"),
    ("he's not breathing", "breathing"),
    ("i cant catch my breath", "breathing"),
    ("my baby is choking", "breathing"),
    ("her lips are turning blue", "breathing"),
    ("struggling to breathe", "breathing"),
    ("gasping for air", "breathing"),
    # anaphylaxis
    ("my throat is closing up after eating peanuts", "anaphylaxis"),
    ("lips swelling bee sting hard to breathe", "anaphylaxis"),
    ("my son's throat is swelling shut", "anaphylaxis"),
    ("my tongue is swollen after taking penicillin and its hard to breathe", "anaphylaxis"),
    ("i think im going into anaphylactic shock", "anaphylaxis"),
    ("gave him his epipen", "anaphylaxis"),
    # unconscious
    ("he collapsed and is unresponsive", "unconscious"),
    ("my grandpa is unconscious", "unconscious"),
    ("i cant wake him up", "unconscious"),
    # seizure
    ("my son is having a seizure", "seizure"),
    ("she's been seizing for 5 minutes", "seizure"),
    ("the seizure wont stop", "seizure"),
]

NOT_EMERGENCIES = [
    # General questions about an emergency topic
    "what causes chest pain in runners",
    "suicide prevention statistics",
    "what are the symptoms of a stroke",
    "how is anaphylaxis treated",
    "what is asthma",
    "how do I prevent a heart attack",
    "risk factors for stroke",
    "what are the warning signs of suicide in teenagers",
    "how common is poisoning in children",
    "what is the treatment for bleeding disorders like hemophilia",
    "can asthma cause shortness of breath",
    "what does a heart attack feel like",
    "what happens during a heart attack",
    "can stress cause chest tightness",
    "is chest pain with sweating a sign of a heart attack",
    "what is the best treatment for suicidal depression",
    "what is carbon monoxide poisoning",
    "how is a seizure diagnosed",
    "can you die from a bee sting",
    # Ordinary health questions
    "how is glaucoma treated?",
    "what are the symptoms of diabetes",
    "my eyes hurt and i see halos, what is it",
    "what should i eat to lower my blood pressure",
    "i have a sore throat and a fever",
    "my knee is swollen",
    "is it safe to take ibuprofen with tylenol",
    "how much tylenol can i take in a day",
    "i took 2 tylenol for my headache",
    "my son has a peanut allergy what foods should he avoid",
    "do i need an epipen for my peanut allergy",
    "my dad had a heart attack last year what should he eat",
    "my mother had a stroke, how can we help her recover",
    "i had a seizure years ago, can i drive",
    "i have food poisoning",
    # Near misses: negated, long-standing, or not the emergency the words suggest
    "i dont have chest pain but i have a cough",
    "i get chest pain sometimes when i run",
    "i cant breathe through my nose because of my cold",
    "my throat is swollen and it hurts to swallow",
    "i have heavy bleeding during my period",
    "my cut is still bleeding a little",
    "i cant wake up in the morning",
    "my cancer is not responding to chemo",
    "this headache is killing me",
    "my baby is drooling a lot",
    "i was cooking dinner and burned my hand",
    "i ate breakfast before my medicine",
    "my eyes are swollen from allergies",
    "",
    "   ",
]


@pytest.mark.parametrize(("text", "kind"), EMERGENCIES)
def test_emergency_is_recognised_as_its_kind(text: str, kind: str) -> None:
    found = detect_emergency(text)
    assert found is not None and found.situation == kind
    assert found.message == LOCALE.situations[kind].message


@pytest.mark.parametrize("text", NOT_EMERGENCIES)
def test_question_or_ordinary_message_is_not_an_emergency(text: str) -> None:
    assert detect_emergency(text) is None


def test_every_rule_kind_is_a_situation_with_a_reply() -> None:
    assert {kind for _, kind in EMERGENCIES} <= set(LOCALE.situations)


def test_emergency_is_frozen() -> None:
    emergency = detect_emergency("i cant breathe")
    assert emergency is not None
    with pytest.raises(AttributeError):
        emergency.situation = "other"  # type: ignore[misc]


def test_normalise_drops_apostrophes_and_punctuation() -> None:
    assert normalise("  My dad\u2019s face -- it's DROOPING!! ") == "my dads face its drooping"


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("chset", "chest"),
        ("sucidal", "suicidal"),
        ("bleding", "bleeding"),
        ("breth", "breath"),
        ("stroek", "stroke"),
        ("unconcious", "unconscious"),
        ("cnat", "cant"),
    ],
)
def test_normalise_fixes_common_typos_of_key_words(typo: str, meant: str) -> None:
    assert normalise(typo) == meant


@pytest.mark.parametrize("word", ["breeding", "cooking", "prison", "strike", "losing", "chess"])
def test_normalise_leaves_real_words_near_a_key_word_alone(word: str) -> None:
    assert normalise(word) == word


def test_negated_phrase_does_not_count_but_a_later_one_does() -> None:
    assert detect_emergency("i dont think im having a stroke") is None
    emergency = detect_emergency("i dont think im having a stroke but my face is drooping")
    assert emergency is not None
    assert emergency.situation == "stroke"


def test_a_question_that_says_who_it_is_about_is_an_emergency() -> None:
    emergency = detect_emergency("how do i know if my dad is having a stroke")
    assert emergency is not None
    assert emergency.situation == "stroke"


def test_more_specific_kind_wins_when_several_match() -> None:
    emergency = detect_emergency("my throat is closing and i cant breathe")
    assert emergency is not None
    assert emergency.situation == "anaphylaxis"
