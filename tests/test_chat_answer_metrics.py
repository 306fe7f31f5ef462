"""Answer metrics on gold answer spans: the span functions, one reply's verdicts and the table,
on cases small enough to count by hand."""

from __future__ import annotations

import pytest

from medcite.chat.evaluation.metrics import (
    ANSWER_GROUPS,
    ANSWER_METRICS,
    Tally,
    answer_metric,
    chars_inside,
    judge_answer,
    overlaps,
    span_chars,
    spans_overlapped,
    tally,
)
from medcite.chat.evaluation.questions import Question, Span
from medcite.chat.types import ANSWERED, EMERGENCY, NOT_COVERED, Answer, Quote

# A 100-character article "A" and a 100-character article "B".
TEXTS = {"A": "".join(chr(ord("a") + i % 26) for i in range(100)), "B": "x" * 100}


def _quote(doc_id: str, start: int, end: int, number: int = 1) -> Quote:
    return Quote(TEXTS[doc_id][start:end], doc_id, start, end, f"{doc_id}#1", "", number, 1.0)


def _question(gold: tuple[Span, ...] = (), articles: tuple[str, ...] = ("A",)) -> Question:
    return Question("q", "a question?", articles, (), (), answerable=True, gold=gold)


def _judge(question: Question, kind: str, *quotes: Quote):
    return judge_answer(question, Answer("a question?", kind, quotes=quotes), TEXTS.get)


# --- spans -------------------------------------------------------------------------------


def test_spans_overlap_only_when_they_share_a_character_of_one_document():
    assert overlaps(Span("A", 0, 10), Span("A", 9, 20))
    assert overlaps(Span("A", 5, 6), Span("A", 0, 100))  # one inside the other
    assert not overlaps(Span("A", 0, 10), Span("A", 10, 20))  # touching is not sharing
    assert not overlaps(Span("A", 0, 10), Span("B", 0, 10))


def test_spans_overlapped_counts_each_gold_span_once():
    gold = [Span("A", 0, 10), Span("A", 20, 30), Span("B", 0, 5)]
    # A[5:25] touches the first two gold spans; a second quote inside the first adds nothing.
    assert spans_overlapped(gold, [Span("A", 5, 25)]) == 2
    assert spans_overlapped(gold, [Span("A", 5, 25), Span("A", 8, 9)]) == 2
    assert spans_overlapped(gold, [Span("B", 4, 50)]) == 1
    assert spans_overlapped(gold, []) == 0


def test_chars_inside_counts_overlapping_gold_spans_once():
    # Gold A[10:20] and A[15:30] cover A[10:30]. The quote A[0:25] has 15 characters in it.
    gold = [Span("A", 15, 30), Span("A", 10, 20)]
    quote = [Span("A", 0, 25)]
    assert chars_inside(quote, gold) == 15
    assert span_chars(quote) == 25
    assert chars_inside([Span("B", 0, 25)], gold) == 0
    assert chars_inside(quote, []) == 0


def test_chars_inside_counts_a_character_quoted_twice_twice():
    gold = [Span("A", 0, 10)]
    quotes = [Span("A", 0, 4), Span("A", 2, 6)]
    assert chars_inside(quotes, gold) == 8 == span_chars(quotes)


# --- one reply's verdicts ------------------------------------------------------------------


def test_an_answer_is_judged_against_the_gold_spans_by_hand():
    # Gold A[10:30] and A[50:60]. First quote A[20:40]: 10 of its 20 characters are gold.
    # Second quote A[55:70]: 5 of 15. Both gold spans are touched; 15 of 35 quoted characters.
    question = _question((Span("A", 10, 30), Span("A", 50, 60)))
    record = _judge(question, ANSWERED, _quote("A", 20, 40), _quote("A", 55, 70, 2))
    assert record.answered_right
    assert record.gold_spans_hit == 2
    assert (record.quoted_chars_in_gold, record.quoted_chars) == (15, 35)
    assert not record.wrong_topic
    assert record.article_hit and record.quote_hit  # no section ids: the article decides
    assert record.faithful_quotes == 2


def test_a_first_quote_beside_the_gold_is_not_answered_right():
    question = _question((Span("A", 10, 30), Span("A", 50, 60)))
    record = _judge(question, ANSWERED, _quote("A", 30, 50), _quote("A", 50, 52, 2))
    assert not record.answered_right  # A[30:50] touches neither gold span
    assert record.gold_spans_hit == 1  # the second quote touches A[50:60]
    assert (record.quoted_chars_in_gold, record.quoted_chars) == (2, 22)
    assert not record.wrong_topic  # the right article, the wrong place


def test_an_answer_from_an_article_without_gold_is_the_wrong_topic():
    question = _question((Span("A", 10, 30),))
    record = _judge(question, ANSWERED, _quote("B", 10, 30), _quote("A", 10, 30, 2))
    assert record.wrong_topic
    assert not record.answered_right
    assert record.gold_spans_hit == 1
    assert (record.quoted_chars_in_gold, record.quoted_chars) == (20, 40)


def test_an_article_holding_a_gold_span_is_a_gold_article_even_if_not_listed():
    question = _question((Span("B", 0, 10),), articles=("A",))
    record = _judge(question, ANSWERED, _quote("B", 0, 5))
    assert record.answered_right and not record.wrong_topic
    assert not record.article_hit  # article_hit reads article_ids alone, as it always did


@pytest.mark.parametrize("kind", [NOT_COVERED, EMERGENCY])
def test_a_reply_without_an_answer_gets_no_gold_verdict(kind):
    question = _question((Span("A", 10, 30),))
    record = _judge(question, kind, _quote("A", 10, 30))
    assert not record.answered_right and not record.wrong_topic
    assert record.gold_spans_hit == record.quoted_chars == record.quoted_chars_in_gold == 0
    assert record.faithful_quotes == 1  # fidelity checks every quote, whatever the kind


def test_quotes_folded_under_an_emergency_reply_count_only_in_their_own_row():
    question = _question((Span("A", 10, 30),))
    urgent = _judge(question, EMERGENCY, _quote("A", 10, 30))
    assert urgent.right_under_urgent and not urgent.answered_right
    assert _judge(question, ANSWERED, _quote("A", 10, 30)).right_under_urgent
    assert not _judge(question, EMERGENCY, _quote("A", 40, 50)).right_under_urgent
    assert not _judge(question, NOT_COVERED, _quote("A", 10, 30)).right_under_urgent


def test_a_question_without_gold_spans_gets_no_gold_verdict():
    record = _judge(_question(), ANSWERED, _quote("B", 0, 10))
    assert not record.answered_right and not record.wrong_topic
    assert record.quoted_chars == 0


# --- the table -----------------------------------------------------------------------------


def test_tally_divides_by_questions_or_by_the_metrics_own_divisor():
    with_gold = _question((Span("A", 10, 30), Span("A", 50, 60)))
    records = [
        _judge(with_gold, ANSWERED, _quote("A", 20, 40)),  # right; 1 of 2 spans; 10 of 20
        _judge(with_gold, ANSWERED, _quote("B", 0, 10)),  # wrong topic; 0 spans; 0 of 10
        _judge(with_gold, NOT_COVERED),
        _judge(_question(), ANSWERED, _quote("A", 0, 5)),  # no gold spans: not in the group
    ]
    assert tally(answer_metric("gold.answered_right"), records) == Tally(1, 3)
    assert tally(answer_metric("gold.gold_spans_hit"), records) == Tally(1, 6)
    assert tally(answer_metric("gold.quoted_chars_in_gold"), records) == Tally(10, 30)
    assert tally(answer_metric("gold.wrong_topic"), records) == Tally(1, 3)
    assert tally(answer_metric("answerable.not_covered"), records) == Tally(1, 4)
    assert tally(answer_metric("faithful_quotes"), records) == Tally(3, 3)
    assert Tally(1, 3).rate == pytest.approx(1 / 3)
    assert Tally(0, 0).rate is None


def test_every_metric_has_one_id_and_its_own_keys_in_its_group():
    ids = [metric.id for metric in ANSWER_METRICS]
    assert len(ids) == len(set(ids))
    for group in ANSWER_GROUPS:
        keys = ["n"] if group.key else []
        for metric in ANSWER_METRICS:
            if metric.group is group:
                keys += [metric.count_key, metric.rate_key]
        assert len(keys) == len(set(keys)), group.key
    assert {metric.group for metric in ANSWER_METRICS} == set(ANSWER_GROUPS)


def test_an_unknown_metric_id_names_the_known_ones():
    with pytest.raises(KeyError, match="answerable.answered"):
        answer_metric("answered_rightly")
