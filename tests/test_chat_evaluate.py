"""Evaluation over a tiny hand-written corpus whose lexical rankings can be worked out by hand.

Lexical search is an OR-query of the question's topic words, so an article that contains none
of them is never retrieved: each question below uses a word found in exactly one article.
"""

from __future__ import annotations

import json
from functools import partial

import pytest

from medcite.chat.answer import MAX_QUESTION_CHARS, AbstainPolicy, ask
from medcite.chat.evaluation.metrics import ANSWER_METRICS, Tally
from medcite.chat.evaluation.questions import Question, Span
from medcite.chat.evaluation.report import (
    format_report,
    question_rows,
    report_json,
    write_question_rows,
    write_trec,
)
from medcite.chat.evaluation.run import (
    ARTICLE,
    ARTICLE_LENIENT,
    LEVELS,
    SECTION,
    EvalReport,
    evaluate,
)
from medcite.chat.triage import make_triage
from medcite.chat.types import ANSWERED, EMERGENCY, NOT_COVERED, Answer, Quote
from medcite.index.errors import InputError
from medcite.index.reader import Index
from medcite.index.testing import FakeEmbedder
from medcite.ingest.pipeline import ingest
from tests.support import STORES, served


def _article(doc_id: str, title: str, sections: list[tuple[str, str]]) -> dict[str, object]:
    parts, spans, position = [], [], 0
    for number, (heading, text) in enumerate(sections, 1):
        if parts:
            position += 2  # the "\n\n" between sections
        spans.append(
            {
                "id": f"{doc_id}#{number}",
                "heading": heading,
                "start": position,
                "end": position + len(text),
            }
        )
        parts.append(text)
        position += len(text)
    return {
        "id": doc_id,
        "title": title,
        "url": f"https://example.org/{doc_id}",
        "source": "TEST",
        "text": "\n\n".join(parts),
        "sections": spans,
    }


ARTICLES = [
    _article(
        "ASTH_1",
        "Asthma",
        [
            (
                "Overview",
                "Asthma is a chronic disease of the airways that makes breathing hard. "
                "The airways swell and narrow.",
            ),
            (
                "Symptoms",
                "Wheezing, coughing and chest tightness are common. Attacks often happen at night.",
            ),
            (
                "Treatment",
                "Inhalers with quick-relief medicines open the airways. "
                "Long-term control medicines reduce swelling.",
            ),
        ],
    ),
    _article(
        "DIAB_1",
        "Diabetes",
        [
            (
                "Overview",
                "Diabetes is a disease in which blood glucose levels are too high. "
                "Insulin helps glucose enter cells.",
            ),
            (
                "Symptoms",
                "Diabetes symptoms include thirst, frequent urination, hunger and fatigue. "
                "Wounds heal slowly.",
            ),
        ],
    ),
    _article(
        "GLAU_1",
        "Glaucoma",
        [
            (
                "Overview",
                "Glaucoma is a group of eye diseases that damage the optic nerve. "
                "An ophthalmologist checks eye pressure.",
            ),
            (
                "Treatment",
                "Trabeculectomy surgery creates a new drainage channel. "
                "Eye drops lower the pressure.",
            ),
        ],
    ),
    _article(
        "GLAU_2",
        "Glaucoma (eye institute)",
        [
            (
                "Overview",
                "Glaucoma damages the optic nerve and can cause blindness. "
                "Early detection protects vision.",
            )
        ],
    ),
]


def _q(
    qid: str,
    text: str,
    articles: tuple[str, ...] = (),
    sections: tuple[str, ...] = (),
    equivalent: tuple[str, ...] = (),
) -> Question:
    return Question(qid, text, articles, sections, equivalent, answerable=bool(articles))


# Lexical article rankings, worked out from which article holds the question's words:
#   q1 "asthma"          -> [ASTH_1]            gold ASTH_1: rank 1
#   q2 "symptoms" "diabetes" -> [DIAB_1, ASTH_1] gold DIAB_1: rank 1 (both words, title)
#   q3 "see" "ophthalmologist" -> [GLAU_1]      gold DIAB_1: not retrieved
#   q4 "trabeculectomy"  -> [GLAU_1]            gold GLAU_2: missed; lenient (+GLAU_1): rank 1
ANSWERABLE = [
    _q("q1", "What is asthma?", ("ASTH_1",), ("ASTH_1#1",)),
    _q("q2", "What are the symptoms of diabetes?", ("DIAB_1",), ("DIAB_1#2",)),
    _q("q3", "Who should see an ophthalmologist?", ("DIAB_1",)),  # no section ids
    _q("q4", "What is trabeculectomy?", ("GLAU_2",), ("GLAU_2#1",), ("GLAU_1",)),
]
UNANSWERABLE = [
    _q("u1", "How should I store warfarin tablets?"),
    _q("u2", "I took a whole bottle of warfarin"),
]
QUESTIONS = ANSWERABLE + UNANSWERABLE


@pytest.fixture(scope="module", params=STORES)
def index(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Index:
    root = tmp_path_factory.mktemp("eval")
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    ingest([corpus], root / "index", FakeEmbedder())
    opened = served(root / "index", request.param)
    yield opened
    opened.close()


def _run(index: Index, questions=QUESTIONS, **options) -> EvalReport:
    options.setdefault("questions_file", "hand-written.jsonl")
    options.setdefault("answer", partial(ask, triage=make_triage()))
    return evaluate(index, FakeEmbedder(), questions, **options)


class ScriptedClock:
    """Every timed call reads the clock twice; timed call n takes ``durations[n]`` seconds."""

    def __init__(self, durations: list[float]) -> None:
        self.durations = durations
        self.reads = 0
        self.now = 100.0

    def __call__(self) -> float:
        if self.reads % 2 == 1:
            self.now += self.durations[self.reads // 2]
        self.reads += 1
        return self.now


def _reply(question: str, kind: str, quotes: tuple[Quote, ...] = ()) -> Answer:
    return Answer(question=question, kind=kind, quotes=quotes)


def _quote(index: Index, section_id: str, *, tamper: bool = False) -> Quote:
    doc_id = section_id.split("#")[0]
    section = next(s for s in index.document(doc_id).sections if s.id == section_id)
    text = index.document(doc_id).text[section.start : section.end]
    if tamper:
        text = text.replace("a", "e", 1)
    return Quote(text, doc_id, section.start, section.end, section_id, section.heading, 1, 1.0)


# --- retrieval -----------------------------------------------------------------------------


def test_lexical_article_scores_equal_the_hand_computed_values(index):
    report = _run(index, modes=("lexical",), answers=False)
    (lexical,) = report.modes
    article = lexical.scores[ARTICLE]
    # Hits at rank 1 for q1 and q2; q3 and q4 never retrieve their gold article.
    assert article.n == 4
    assert article.recall == {1: 0.5, 3: 0.5, 5: 0.5, 10: 0.5}
    assert article.mrr10 == 0.5
    assert article.ndcg10 == 0.5
    # Lenient: q4's equivalent article GLAU_1 is at rank 1.
    lenient = lexical.scores[ARTICLE_LENIENT]
    assert lenient.n == 4
    assert lenient.recall[1] == 0.75
    assert lenient.mrr10 == 0.75


def test_rankings_are_deduplicated_per_level_in_hit_order(index):
    report = _run(index, modes=("lexical",), answers=False)
    rankings = {r.question_id: r for r in report.modes[0].rankings[ARTICLE]}
    assert rankings["q2"].ids == ("DIAB_1", "ASTH_1")
    assert rankings["q3"].ids == ("GLAU_1",)
    sections = {r.question_id: r for r in report.modes[0].rankings[SECTION]}
    # All three Asthma passages match "asthma" (no per-article cap), each section once.
    assert sorted(sections["q1"].ids) == ["ASTH_1#1", "ASTH_1#2", "ASTH_1#3"]
    assert sections["q2"].ids[0] == "DIAB_1#2"


def test_section_level_counts_only_questions_with_section_ids(index):
    report = _run(index, answers=False)
    assert set(report.qrels[SECTION]) == {"q1", "q2", "q4"}
    for result in report.modes:
        assert result.scores[SECTION].n == 3
        assert result.scores[ARTICLE].n == 4
    assert "n" in format_report(report)


def test_unanswerable_questions_are_counted_only_in_the_answer_metrics(index):
    kinds = {
        "What is asthma?": ANSWERED,
        "What are the symptoms of diabetes?": NOT_COVERED,
        "Who should see an ophthalmologist?": EMERGENCY,
        "What is trabeculectomy?": ANSWERED,
        "How should I store warfarin tablets?": NOT_COVERED,
        "I took a whole bottle of warfarin": EMERGENCY,
    }
    asked: list[str] = []

    def fake_ask(index_, embedder, question):
        asked.append(question)
        quotes = (_quote(index, "ASTH_1#1"),) if kinds[question] == ANSWERED else ()
        return _reply(question, kinds[question], quotes)

    report = _run(index, modes=("lexical",), answer=fake_ask)
    alone = _run(index, ANSWERABLE, modes=("lexical",), answers=False)
    assert report.answerable == 4 and report.unanswerable == 2
    # Retrieval never sees the unanswerable questions.
    assert report.modes[0].scores == alone.modes[0].scores
    assert len(report.modes[0].rankings[ARTICLE]) == 4
    # Every question is asked once.
    assert asked == [q.text for q in QUESTIONS]
    answers = report.answers
    assert answers.tally("answerable.answered") == Tally(2, 4)
    assert answers.tally("answerable.answered").rate == 0.5
    assert answers.tally("answerable.emergency") == Tally(1, 4)
    assert answers.tally("answerable.not_covered") == Tally(1, 4)
    # q1's first quote is its gold section; q4 was answered from the wrong article.
    assert answers.tally("answerable.quote_hit") == Tally(1, 4)
    assert answers.tally("answerable.article_hit") == Tally(1, 4)
    assert answers.tally("unanswerable.abstained") == Tally(1, 2)
    assert answers.tally("unanswerable.abstained").rate == 0.5
    assert answers.tally("unanswerable.emergency") == Tally(1, 2)
    assert answers.tally("unanswerable.answered") == Tally(0, 2)
    assert answers.tally("unanswerable.answered").rate == 0.0
    # None of these questions has gold spans.
    assert answers.tally("gold.answered_right") == Tally(0, 0)


def test_quote_hit_falls_back_to_the_article_when_a_question_has_no_section_ids(index):
    def fake_ask(index_, embedder, question):
        return _reply(question, ANSWERED, (_quote(index, "DIAB_1#1"),))

    report = _run(index, [ANSWERABLE[2]], modes=("lexical",), answer=fake_ask)
    (record,) = report.answers.records
    assert record.quote_hit and record.article_hit


def test_citation_fidelity_of_real_answers_is_one(index):
    # Threshold 0 so that ask answers every question and there are quotes to check.
    always_answer = partial(ask, triage=make_triage(), policy=AbstainPolicy(threshold=0.0))
    report = _run(index, ANSWERABLE + UNANSWERABLE[:1], modes=("hybrid",), answer=always_answer)
    answers = report.answers
    assert answers.tally("answerable.answered").count == 4
    fidelity = answers.tally("faithful_quotes")
    assert fidelity.total >= 5
    assert fidelity.rate == 1.0
    records = {r.question_id: r for r in answers.records}
    assert records["q2"].quote_hit  # hybrid ranks DIAB_1#2 first


def test_a_quote_that_is_not_the_article_text_lowers_citation_fidelity(index):
    def fake_ask(index_, embedder, question):
        quotes = (_quote(index, "ASTH_1#1"), _quote(index, "ASTH_1#2", tamper=True))
        return _reply(question, ANSWERED, quotes)

    report = _run(index, ANSWERABLE[:1], modes=("lexical",), answer=fake_ask)
    assert report.answers.tally("faithful_quotes") == Tally(1, 2)
    assert report.answers.tally("faithful_quotes").rate == 0.5


# --- TREC files ------------------------------------------------------------------------------


def test_trec_files_parse_and_rescore_to_the_report_in_ir_measures(index, tmp_path):
    ir_measures = pytest.importorskip("ir_measures")
    from ir_measures import RR, Success, nDCG

    report = _run(index, answers=False)
    files = write_trec(report, tmp_path / "out" / "dev")
    assert {p.name for p in files.qrels} == {f"dev.{level.key}.qrels" for level in LEVELS}
    assert {p.name for p in files.runs} == {
        f"dev.{mode}.{level}.run"
        for mode in ("lexical", "dense", "hybrid")
        for level in (ARTICLE, SECTION)
    }
    for path in files.runs:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines and all(len(line.split()) == 6 for line in lines)
        assert all(
            line.split()[5] == f"medcite-{path.name.split('.')[1]}-{path.name.split('.')[2]}"
            for line in lines
        )
    for path in files.qrels:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines and all(len(line.split()) == 4 for line in lines)

    measures = [Success @ 1, Success @ 3, Success @ 5, Success @ 10, RR @ 10, nDCG @ 10]
    by_mode = {m.mode: m for m in report.modes}
    assert len(files.pairs) == 9
    for mode, level, run, qrels in files.pairs:
        totals = dict.fromkeys(measures, 0.0)
        for metric in ir_measures.iter_calc(
            measures,
            ir_measures.read_trec_qrels(str(qrels)),
            ir_measures.read_trec_run(str(run)),
        ):
            totals[metric.measure] += metric.value
        scores = by_mode[mode].scores[level]
        n = scores.n  # trec_eval skips questions without a hit; they count 0 in our mean
        for k in (1, 3, 5, 10):
            assert totals[Success @ k] / n == pytest.approx(scores.recall[k]), (mode, level, k)
        assert totals[RR @ 10] / n == pytest.approx(scores.mrr10), (mode, level)
        assert totals[nDCG @ 10] / n == pytest.approx(scores.ndcg10), (mode, level)


def test_trec_run_keeps_the_ranking_when_retrieval_scores_tie(index, tmp_path):
    report = _run(index, ANSWERABLE[:1], modes=("lexical",), answers=False)
    (ranking,) = report.modes[0].rankings[SECTION]
    files = write_trec(report, tmp_path / "tie")
    lines = (tmp_path / "tie.lexical.section.run").read_text(encoding="utf-8").splitlines()
    assert [line.split()[2] for line in lines] == list(ranking.ids)
    scores = [float(line.split()[4]) for line in lines]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)
    assert files.pairs[0][2] == tmp_path / "tie.lexical.article.run"


def test_trec_files_go_inside_an_existing_directory(index, tmp_path):
    report = _run(index, ANSWERABLE, modes=("dense",), answers=False)
    files = write_trec(report, tmp_path)
    assert sorted(p.name for p in (*files.runs, *files.qrels)) == [
        "article-lenient.qrels",
        "article.qrels",
        "dense.article.run",
        "dense.section.run",
        "section.qrels",
    ]


# --- latency ------------------------------------------------------------------------------


def test_latency_percentiles_leave_out_the_warm_up_calls(index):
    # Search: 4 answerable questions, the first 2 (warm-up) slow; counted 10 ms and 30 ms.
    # Ask: 6 questions, the first 2 slow; counted 100, 200, 300, 400 ms.
    clock = ScriptedClock([5.0, 5.0, 0.010, 0.030] + [9.0, 9.0, 0.1, 0.2, 0.3, 0.4])
    report = _run(index, modes=("lexical",), warmup=2, clock=clock)
    assert clock.reads == 2 * (4 + 6)
    search = report.modes[0].latency
    assert (search.calls, search.counted) == (4, 2)
    assert search.p50_ms == pytest.approx(20.0)
    assert search.p95_ms == pytest.approx(29.0)  # 10 + 0.95 * (30 - 10)
    asked = report.answers.latency
    assert (asked.calls, asked.counted) == (6, 4)
    assert asked.p50_ms == pytest.approx(250.0)
    assert asked.p95_ms == pytest.approx(385.0)  # position 2.85: 300 + 0.85 * 100


def test_warm_up_is_counted_per_mode(index):
    clock = ScriptedClock([1.0, 0.002, 0.002, 0.002] * 2)
    report = _run(index, modes=("lexical", "dense"), warmup=1, answers=False, clock=clock)
    for result in report.modes:
        assert result.latency.counted == 3
        assert result.latency.p95_ms == pytest.approx(2.0)


def test_latency_is_not_available_when_every_call_is_warm_up(index):
    report = _run(index, ANSWERABLE[:2], modes=("lexical",), warmup=5, answers=False)
    assert report.modes[0].latency.p50_ms is None
    assert "—" in format_report(report)


# --- edge cases --------------------------------------------------------------------------


def test_only_unanswerable_questions_reports_no_retrieval(index):
    report = _run(index, UNANSWERABLE)
    assert report.modes == ()
    assert report.answerable == 0 and report.unanswerable == 2
    assert report.answers.tally("unanswerable.abstained").total == 2
    assert report.answers.tally("answerable.answered").rate is None
    text = format_report(report)
    assert "no answerable questions" in text
    assert json.loads(json.dumps(report_json(report)))["retrieval"] == {}


def test_an_empty_question_set_is_refused(index):
    with pytest.raises(InputError, match="empty"):
        _run(index, [])


@pytest.mark.parametrize("modes", [("lexical", "bm25"), ()])
def test_an_unknown_or_missing_mode_is_refused(index, modes):
    with pytest.raises(InputError, match="mode"):
        _run(index, modes=modes)


@pytest.mark.parametrize("depth", [0, 101])
def test_a_depth_outside_the_search_limit_is_refused(index, depth):
    with pytest.raises(InputError, match="depth"):
        _run(index, depth=depth)


def test_a_question_that_ask_refuses_is_named(index):
    long = Question("long-one", "word " * (MAX_QUESTION_CHARS // 5 + 1), ("ASTH_1",), (), (), True)
    with pytest.raises(InputError, match="long-one"):
        _run(index, [long], modes=("lexical",))


# --- output ------------------------------------------------------------------------------


def test_format_report_puts_modes_side_by_side_and_says_what_was_counted(index):
    report = _run(index)
    text = format_report(report)
    header = " ".join(text.split("\n\n")[0].split())  # undo the line wrapping
    assert "hand-written.jsonl" in header
    assert "4 answerable, 2 unanswerable" in header
    assert "top 30 passages" in header
    assert "deduplicated per level" in header
    assert "plain BM25 baseline (SQLite FTS5 bm25 over title, heading and passage text)" in header
    table = text.splitlines()
    columns = next(line for line in table if line.startswith("level"))
    assert columns.split()[-3:] == ["lexical", "dense", "hybrid"]
    r1 = next(line for line in table if line.startswith("article ") and "R@1" in line)
    assert r1.split()[2] == "0.500"  # the lexical column
    assert any(line.startswith("article (lenient)") for line in table)
    assert any(line.startswith("section") for line in table)
    assert "citation fidelity" in text and "abstained" in text and "ask latency" in text


def test_report_json_holds_the_numbers_of_the_report(index):
    report = _run(index, modes=("lexical",))
    data = json.loads(json.dumps(report_json(report, rankings=True)))
    lexical = data["retrieval"]["lexical"]
    assert lexical["article"]["R@1"] == 0.5
    assert lexical["article-lenient"]["R@1"] == 0.75
    assert lexical["section"]["n"] == 3
    assert data["answers"]["unanswerable"]["n"] == 2
    assert data["rankings"]["lexical"]["article"]["q2"] == ["DIAB_1", "ASTH_1"]
    assert data["questions_file"] == "hand-written.jsonl"
    assert "rankings" not in report_json(report)


def test_the_evaluated_index_is_named_in_the_report(index):
    report = _run(index, modes=("lexical",), answers=False)
    assert report.documents == 4
    assert report.model == FakeEmbedder().name
    assert report.index == str(index.root)


# --- gold answer spans ---------------------------------------------------------------------


def _text(doc_id: str) -> str:
    return str(next(a for a in ARTICLES if a["id"] == doc_id)["text"])


def _sentence(doc_id: str, sentence: str) -> Span:
    start = _text(doc_id).index(sentence)
    return Span(doc_id, start, start + len(sentence))


ASTHMA_IS = _sentence(
    "ASTH_1", "Asthma is a chronic disease of the airways that makes breathing hard."
)
WHEEZING = _sentence("ASTH_1", "Wheezing, coughing and chest tightness are common.")
THIRST = _sentence(
    "DIAB_1", "Diabetes symptoms include thirst, frequent urination, hunger and fatigue."
)
DRAINAGE = _sentence("GLAU_1", "Trabeculectomy surgery creates a new drainage channel.")
GOLD_QUESTIONS = [
    Question("g1", "What is asthma?", ("ASTH_1",), (), (), True, gold=(ASTHMA_IS, WHEEZING)),
    Question("g2", "What are the symptoms of diabetes?", ("DIAB_1",), (), (), True, gold=(THIRST,)),
    Question("g3", "What is trabeculectomy?", ("GLAU_1",), (), (), True, gold=(DRAINAGE,)),
    Question("u1", "How should I store warfarin tablets?", (), (), (), False, category="medicine"),
]


def _gold_ask(index: Index):
    """g1 is answered with Asthma's whole overview section (which holds ASTHMA_IS), g2 with
    Asthma's symptoms (the wrong article), g3 and u1 are not covered."""
    replies = {
        "What is asthma?": (ANSWERED, (_quote(index, "ASTH_1#1"),)),
        "What are the symptoms of diabetes?": (ANSWERED, (_quote(index, "ASTH_1#2"),)),
    }

    def fake_ask(index_, embedder, question):
        kind, quotes = replies.get(question, (NOT_COVERED, ()))
        return _reply(question, kind, quotes)

    return fake_ask


def test_gold_span_metrics_of_a_run_equal_the_hand_counts(index):
    report = _run(index, GOLD_QUESTIONS, modes=("lexical",), answer=_gold_ask(index))
    answers = report.answers
    overview = len(_text("ASTH_1").split("\n\n")[0])
    symptoms = len(_text("ASTH_1").split("\n\n")[1])
    assert answers.tally("gold.answered_right") == Tally(1, 3)  # g1 only
    assert answers.tally("gold.gold_spans_hit") == Tally(1, 4)  # ASTHMA_IS of 2 + 1 + 1 spans
    # g1 quotes the overview, of which ASTHMA_IS is gold; g2's quote holds no gold at all.
    in_gold = ASTHMA_IS.end - ASTHMA_IS.start
    assert answers.tally("gold.quoted_chars_in_gold") == Tally(in_gold, overview + symptoms)
    assert answers.tally("gold.wrong_topic") == Tally(1, 3)  # g2
    assert answers.tally("answerable.not_covered") == Tally(1, 3)  # g3
    assert answers.tally("unanswerable.abstained") == Tally(1, 1)  # u1

    data = json.loads(json.dumps(report_json(report)))["answers"]
    assert data["gold"]["n"] == 3
    assert data["gold"]["answered_right"] == 1
    assert data["gold"]["gold_span_recall"] == 0.25
    assert data["gold"]["quote_precision"] == pytest.approx(in_gold / (overview + symptoms))
    assert data["gold"]["wrong_topic_rate"] == pytest.approx(1 / 3)
    assert data["answerable"]["not_covered"] == 1
    assert "first quote" in data["definitions"]["gold.answered_right"]


def test_every_answer_metric_of_the_table_is_in_the_text_and_the_json(index):
    report = _run(index, GOLD_QUESTIONS, modes=("lexical",), answer=_gold_ask(index))
    text = format_report(report)
    data = report_json(report)["answers"]
    for metric in ANSWER_METRICS:
        assert metric.label in text, metric.id
        target = data[metric.group.key] if metric.group.key else data
        assert {metric.count_key, metric.rate_key, metric.total_key} <= set(target), metric.id
    assert "answerable questions with gold spans: 3" in text
    assert "1/4 spans" in text


def test_the_gold_rows_are_left_out_of_the_text_when_no_question_has_gold_spans(index):
    text = format_report(_run(index, modes=("lexical",)))
    assert "gold spans" not in text
    assert "refused (not covered)" in text


def test_question_rows_show_the_reply_the_gold_and_the_verdicts(index, tmp_path):
    report = _run(index, GOLD_QUESTIONS, modes=("lexical",), answer=_gold_ask(index))
    path = tmp_path / "rows" / "per-question.jsonl"
    assert write_question_rows(report, path) == 4
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == ["g1", "g2", "g3", "u1"]
    g1 = rows[0]
    assert g1["question"] == "What is asthma?" and g1["expected"] == "answerable"
    assert g1["kind"] == ANSWERED
    (quote,) = g1["quotes"]
    assert (quote["doc_id"], quote["start"]) == ("ASTH_1", 0)
    assert quote["text"] == _text("ASTH_1")[quote["start"] : quote["end"]]
    assert g1["gold"][0] == {"doc_id": "ASTH_1", "start": ASTHMA_IS.start, "end": ASTHMA_IS.end}
    verdicts = g1["verdicts"]
    assert verdicts["answered_right"] is True and verdicts["wrong_topic"] is False
    assert (verdicts["gold_spans_hit"], verdicts["gold_spans"]) == (1, 2)
    assert (verdicts["faithful_quotes"], verdicts["quotes"]) == (1, 1)
    assert rows[1]["verdicts"]["wrong_topic"] is True
    assert rows[2]["kind"] == NOT_COVERED and rows[2]["verdicts"]["not_covered"] is True
    u1 = rows[3]
    assert u1["expected"] == "unanswerable" and u1["category"] == "medicine"
    assert u1["verdicts"] == {
        "abstained": True,
        "answered": False,
        "emergency": False,
        "faithful_quotes": 0,
        "quotes": 0,
    }


def test_question_rows_need_the_answers(index):
    report = _run(index, GOLD_QUESTIONS, modes=("lexical",), answers=False)
    with pytest.raises(InputError, match="skipped"):
        list(question_rows(report))


def test_the_split_labels_the_report(index):
    report = _run(index, GOLD_QUESTIONS, modes=("lexical",), answers=False, split="check")
    assert "hand-written.jsonl (split check): 3 answerable" in format_report(report)
    assert report_json(report)["split"] == "check"
