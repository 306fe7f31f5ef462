"""Retrieval metrics: hand-computed cases, then a cross-check against trec_eval via ir-measures."""

from __future__ import annotations

import math
import random

import pytest

from medcite.chat.evaluation.metrics import (
    RetrievalScores,
    dedupe,
    ndcg_at,
    percentile,
    recall_at,
    reciprocal_rank,
    score_runs,
    true_recall_at,
)
from medcite.chat.evaluation.report import write_trec_qrels, write_trec_run

# 1 / log2(3): the discount at rank 2.
D2 = 1 / math.log2(3)


def test_dedupe_keeps_first_occurrence_in_order():
    assert dedupe(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]
    assert dedupe([]) == []


def test_repeated_article_moves_later_articles_up_not_counted_twice():
    # ["a", "a", "a", "x"] dedupes to ["a", "x"]: x is the 2nd article, not the 4th.
    ranked = ["a", "a", "a", "x"]
    assert recall_at({"x"}, ranked, 2) == 1.0
    assert reciprocal_rank({"x"}, ranked) == 0.5


def test_repeated_relevant_article_is_one_hit_not_two():
    # Gold {x, y}; ["x", "x"] dedupes to ["x"]: one of two found.
    assert true_recall_at({"x", "y"}, ["x", "x"], 2) == 0.5
    # DCG = 1/log2(2) = 1 (counting x twice would add 1/log2(3) and give 1.0 overall).
    # IDCG over min(2, 10) = 2 ids = 1 + 1/log2(3).
    assert ndcg_at({"x", "y"}, ["x", "x"], 10) == pytest.approx(1 / (1 + D2))  # 0.6131


def test_relevant_at_rank_k_counts_and_at_k_plus_one_does_not():
    ranked = ["a", "b", "x"]  # x at rank 3
    assert recall_at({"x"}, ranked, 3) == 1.0
    assert recall_at({"x"}, ranked, 2) == 0.0
    assert true_recall_at({"x"}, ranked, 3) == 1.0
    assert true_recall_at({"x"}, ranked, 2) == 0.0
    assert reciprocal_rank({"x"}, ranked, 3) == pytest.approx(1 / 3)
    assert reciprocal_rank({"x"}, ranked, 2) == 0.0
    # DCG@3 = 1/log2(3+1) = 0.5; IDCG = 1/log2(2) = 1.
    assert ndcg_at({"x"}, ranked, 3) == 0.5
    assert ndcg_at({"x"}, ranked, 2) == 0.0


def test_relevant_at_rank_one():
    assert recall_at({"x"}, ["x", "a"], 1) == 1.0
    assert reciprocal_rank({"x"}, ["x", "a"]) == 1.0
    assert ndcg_at({"x"}, ["x", "a"], 10) == 1.0


def test_reciprocal_rank_defaults_to_cutoff_ten():
    ranked = [f"d{i}" for i in range(1, 11)] + ["x"]  # x at rank 11
    assert reciprocal_rank({"x"}, ranked) == 0.0
    assert reciprocal_rank({"x"}, ranked[:9] + ["x"]) == pytest.approx(0.1)


def test_recall_at_is_a_hit_rate_with_several_relevant_ids():
    # Gold {a, b}, only a retrieved: a hit (1.0) but half the gold (0.5).
    assert recall_at({"a", "b"}, ["a", "c"], 5) == 1.0
    assert true_recall_at({"a", "b"}, ["a", "c"], 5) == 0.5
    # Gold {a, b, c}, a and c in the top 3: 2/3.
    assert true_recall_at(["a", "b", "c"], ["a", "z", "c", "b"], 3) == pytest.approx(2 / 3)


def test_ndcg_with_two_relevant_ids():
    # Gold {a, b}, ranking [a, c, b]: DCG = 1/log2(2) + 1/log2(4) = 1 + 0.5 = 1.5.
    # IDCG = 1/log2(2) + 1/log2(3) = 1 + 0.6309 = 1.6309; nDCG = 1.5 / 1.6309 = 0.9197.
    assert ndcg_at({"a", "b"}, ["a", "c", "b"], 10) == pytest.approx(1.5 / (1 + D2))
    # Ranking [c, a]: DCG = 1/log2(3) = 0.6309; nDCG = 0.6309 / 1.6309 = 0.3869.
    assert ndcg_at({"a", "b"}, ["c", "a"], 10) == pytest.approx(D2 / (1 + D2))
    # Both at the top is ideal.
    assert ndcg_at({"a", "b"}, ["b", "a", "c"], 10) == pytest.approx(1.0)


def test_ndcg_ideal_is_cut_at_k():
    # Gold {a, b, c}, k = 1: IDCG covers min(3, 1) = 1 id, so a at rank 1 is ideal.
    assert ndcg_at({"a", "b", "c"}, ["a"], 1) == 1.0
    # k = 2, ranking [a, z]: DCG = 1; IDCG = 1 + 1/log2(3).
    assert ndcg_at({"a", "b", "c"}, ["a", "z"], 2) == pytest.approx(1 / (1 + D2))


def test_empty_ranking_scores_zero():
    assert recall_at({"x"}, [], 10) == 0.0
    assert true_recall_at({"x"}, [], 10) == 0.0
    assert reciprocal_rank({"x"}, []) == 0.0
    assert ndcg_at({"x"}, [], 10) == 0.0


@pytest.mark.parametrize("metric", [recall_at, true_recall_at, reciprocal_rank, ndcg_at])
def test_empty_relevant_raises(metric):
    with pytest.raises(ValueError, match="unanswerable"):
        metric(set(), ["a"], 5)


@pytest.mark.parametrize("metric", [recall_at, true_recall_at, reciprocal_rank, ndcg_at])
def test_k_below_one_raises(metric):
    with pytest.raises(ValueError, match="k must be"):
        metric({"a"}, ["a"], 0)


def test_a_bare_string_is_refused_as_relevant_or_ranked():
    with pytest.raises(TypeError):
        recall_at("a", ["a"], 1)
    with pytest.raises(TypeError):
        recall_at({"a"}, "a", 1)


def test_score_runs_divides_by_all_questions_not_by_those_with_runs():
    qrels = {"q1": {"a"}, "q2": {"b"}, "q3": {"c"}, "q4": {"d"}}
    runs = {
        "q1": ["a", "z"],  # hit at rank 1
        "q2": ["z", "b"],  # hit at rank 2
        "q3": [],  # empty run
        # q4 has no run at all: scores 0, still counted.
        "q9": ["a"],  # not a question in qrels: ignored
    }
    scores = score_runs(qrels, runs)
    assert scores.n == 4
    # R@1 = (1 + 0 + 0 + 0) / 4; R@3 = (1 + 1 + 0 + 0) / 4 (dividing by 3 runs would give 1/3, 2/3).
    assert scores.recall == {1: 0.25, 3: 0.5, 5: 0.5, 10: 0.5}
    # MRR@10 = (1 + 1/2 + 0 + 0) / 4 = 0.375.
    assert scores.mrr10 == 0.375
    # nDCG@10 = (1 + 1/log2(3) + 0 + 0) / 4.
    assert scores.ndcg10 == pytest.approx((1 + D2) / 4)


def test_score_runs_uses_the_given_ks():
    scores = score_runs({"q1": {"b"}}, {"q1": ["a", "b"]}, ks=(1, 2))
    assert scores == RetrievalScores(n=1, recall={1: 0.0, 2: 1.0}, mrr10=0.5, ndcg10=D2)


def test_score_runs_refuses_no_questions():
    with pytest.raises(ValueError, match="empty"):
        score_runs({}, {"q1": ["a"]})


def test_write_trec_run_ranks_from_one_and_drops_repeats(tmp_path):
    path = tmp_path / "run.trec"
    write_trec_run(path, {"q1": [("a", 3.5), ("b", 2.0), ("a", 1.5), ("c", 1.0)]}, "bm25")
    assert path.read_text(encoding="utf-8") == (
        "q1 Q0 a 1 3.5 bm25\nq1 Q0 b 2 2.0 bm25\nq1 Q0 c 3 1.0 bm25\n"
    )


def test_write_trec_qrels_one_line_per_relevant_id(tmp_path):
    path = tmp_path / "qrels.trec"
    write_trec_qrels(path, {"q1": {"b", "a"}, "q2": ["c"]})
    assert path.read_text(encoding="utf-8") == "q1 0 a 1\nq1 0 b 1\nq2 0 c 1\n"


def test_trec_writers_refuse_ids_with_whitespace(tmp_path):
    with pytest.raises(ValueError, match="whitespace"):
        write_trec_run(tmp_path / "run", {"q 1": [("a", 1.0)]}, "tag")
    with pytest.raises(ValueError, match="whitespace"):
        write_trec_run(tmp_path / "run", {"q1": [("a b", 1.0)]}, "tag")
    with pytest.raises(ValueError, match="whitespace"):
        write_trec_qrels(tmp_path / "qrels", {"q1": ["a\tb"]})


def test_percentile_interpolates_linearly():
    # Sorted [1, 2, 3, 4]: p50 at position 3 * 0.5 = 1.5 -> 2 + 0.5 * (3 - 2) = 2.5;
    # p95 at 3 * 0.95 = 2.85 -> 3 + 0.85 * (4 - 3) = 3.85.
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 95) == pytest.approx(3.85)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile([7.0], 95) == 7.0


def test_percentile_refuses_bad_input():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        percentile([1.0, float("nan")], 50)


def test_percentile_matches_numpy():
    np = pytest.importorskip("numpy")
    rng = random.Random(7)
    for _ in range(100):
        values = [rng.uniform(0, 5) for _ in range(rng.randint(1, 40))]
        p = rng.choice([0, 50, 90, 95, 99, 100, rng.uniform(0, 100)])
        assert percentile(values, p) == pytest.approx(float(np.percentile(values, p)), abs=1e-12)


# --- cross-check against trec_eval (ir-measures runs it through pytrec_eval) ---


def _synthetic(seed: int, n_questions: int = 200):
    """Seeded random qrels and ranked lists with repeated ids, empty and missing runs."""
    rng = random.Random(seed)
    pool = [f"d{i}" for i in range(30)]
    qrels: dict[str, set[str]] = {}
    runs: dict[str, list[str]] = {}
    for i in range(n_questions):
        qid = f"q{i}"
        qrels[qid] = set(rng.sample(pool, rng.randint(1, 4)))
        if rng.random() < 0.05:
            continue  # no run for this question
        ranked = [rng.choice(pool) for _ in range(rng.randint(0, 20))]
        # Boost the chance of relevant ids near the top so every rank position gets exercised.
        if ranked and rng.random() < 0.6:
            ranked.insert(rng.randrange(len(ranked)), rng.choice(sorted(qrels[qid])))
        runs[qid] = ranked
    return qrels, runs


def _ir_measures_per_question(ir_measures, measures, qrels, runs):
    """{measure: {qid: value}} from ir-measures. Rankings are deduped first and scored with
    strictly falling scores, as trec_eval sorts by score and needs distinct docids."""
    qrel_rows = [ir_measures.Qrel(q, d, 1) for q, docs in qrels.items() for d in sorted(docs)]
    run_rows = [
        ir_measures.ScoredDoc(q, d, float(100 - rank))
        for q, ranked in runs.items()
        for rank, d in enumerate(dedupe(ranked))
    ]
    values: dict[object, dict[str, float]] = {m: {} for m in measures}
    for metric in ir_measures.iter_calc(measures, qrel_rows, run_rows):
        values[metric.measure][metric.query_id] = metric.value
    return values


def test_metrics_match_ir_measures_on_synthetic_questions():
    ir_measures = pytest.importorskip("ir_measures")
    from ir_measures import RR, R, Success, nDCG

    qrels, runs = _synthetic(seed=20240611)
    ks = (1, 3, 5, 10)
    # Ours -> theirs: recall_at is Success@k (hit rate); true_recall_at is R@k.
    pairs = [(Success @ k, recall_at, k) for k in ks]
    pairs += [(R @ k, true_recall_at, k) for k in ks]
    pairs += [(RR @ 10, reciprocal_rank, 10), (RR @ 3, reciprocal_rank, 3)]
    # nDCG@3 as well: with at most 4 gold ids, only a small k tests the cut of the ideal DCG.
    pairs += [(nDCG @ 10, ndcg_at, 10), (nDCG @ 3, ndcg_at, 3)]
    theirs = _ir_measures_per_question(ir_measures, [m for m, _, _ in pairs], qrels, runs)

    for measure, ours, k in pairs:
        for qid, relevant in qrels.items():
            # trec_eval leaves out questions without a ranked document; they score 0.
            expected = theirs[measure].get(qid, 0.0)
            got = ours(relevant, runs.get(qid, []), k)
            assert got == pytest.approx(expected, abs=1e-9), (str(measure), qid)

    scores = score_runs(qrels, runs, ks)
    assert scores.n == len(qrels) == 200
    for k in ks:
        expected = sum(theirs[Success @ k].values()) / len(qrels)
        assert scores.recall[k] == pytest.approx(expected, abs=1e-9)
    assert scores.mrr10 == pytest.approx(sum(theirs[RR @ 10].values()) / len(qrels), abs=1e-9)
    assert scores.ndcg10 == pytest.approx(sum(theirs[nDCG @ 10].values()) / len(qrels), abs=1e-9)


def test_synthetic_data_exercises_the_edge_cases():
    qrels, runs = _synthetic(seed=20240611)
    assert any(qid not in runs for qid in qrels)
    assert any(not ranked for ranked in runs.values())
    assert any(len(set(ranked)) < len(ranked) for ranked in runs.values())
    assert any(len(docs) > 1 for docs in qrels.values())


def test_written_trec_files_score_the_same_in_ir_measures(tmp_path):
    ir_measures = pytest.importorskip("ir_measures")
    from ir_measures import RR, Success, nDCG

    qrels, runs = _synthetic(seed=11, n_questions=50)
    scored_runs = {q: [(d, 1.0 / (rank + 1)) for rank, d in enumerate(r)] for q, r in runs.items()}
    write_trec_qrels(tmp_path / "qrels.txt", qrels)
    write_trec_run(tmp_path / "run.txt", scored_runs, "test")
    per_question: dict[object, dict[str, float]] = {}
    for metric in ir_measures.iter_calc(
        [Success @ 5, RR @ 10, nDCG @ 10],
        ir_measures.read_trec_qrels(str(tmp_path / "qrels.txt")),
        ir_measures.read_trec_run(str(tmp_path / "run.txt")),
    ):
        per_question.setdefault(metric.measure, {})[metric.query_id] = metric.value

    scores = score_runs(qrels, runs, ks=(5,))
    n = len(qrels)
    assert scores.recall[5] == pytest.approx(sum(per_question[Success @ 5].values()) / n)
    assert scores.mrr10 == pytest.approx(sum(per_question[RR @ 10].values()) / n)
    assert scores.ndcg10 == pytest.approx(sum(per_question[nDCG @ 10].values()) / n)
