"""Reading a message: the focus of a long story, and the questions it asks."""

from __future__ import annotations

import pytest

from medcite.chat.reading import LONG_MESSAGE_WORDS, asked_parts, focus


@pytest.mark.parametrize(
    ("message", "parts"),
    [
        ("is glaucoma treated? will i go blind?", ["is glaucoma treated?", "will i go blind?"]),
        (
            "my mom has shingles, is it contagious to my kids and how long does it last",
            ["is it contagious to my kids", "how long does it last"],
        ),
        ("what is copd, and how do you get it", ["what is copd", "how do you get it"]),
        # One question, however it is worded; a story sentence is not a question.
        ("how is croup treated", ["how is croup treated"]),
        ("My son has croup. He coughs at night. What helps?", []),
        ("My son has croup. He coughs at night. What helps him sleep?", ["What helps him sleep?"]),
        ("i have asthma and my brother has it too", []),
    ],
)
def test_the_questions_a_message_asks_are_found(message: str, parts: list[str]) -> None:
    assert asked_parts(message) == parts


def test_a_short_message_is_searched_as_it_is() -> None:
    message = "what are the symptoms of shingles"
    assert focus(message, lambda word: 1.0) == message


def test_a_long_message_is_searched_by_its_subject_and_its_question() -> None:
    story = " ".join(["We went to the park on Sunday and had a very nice time there."] * 6)
    message = f"SUBJECT: shingles\n{story} Is it contagious to my kids?"
    assert len(message.split()) > LONG_MESSAGE_WORDS
    searched = focus(message, lambda word: 1.0)
    assert searched.startswith("shingles") and searched.endswith("Is it contagious to my kids?")
    assert len(searched.split()) < len(message.split())
