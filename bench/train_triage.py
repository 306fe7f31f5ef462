"""Fit the triage model on the tuning split and score it once on the check split.

    python bench/train_triage.py [--recall 0.98] [--out chat/data/triage-model.npz]

Tuning split: ``bench/data/triage/*-tune*.jsonl``, ``long/*-tune.jsonl`` and
``suicide/*-tune-*.jsonl`` (emergencies and look-alikes), the calm messages of
``support/*-tune-*.jsonl`` (which also fit the help-line head), plus the tuning halves of the
real-style questions (``bench/data/real``) and the check sets already tuned on
(``common.SPENT_CHECKS``) as more non-emergencies. The regularisation and the cut-off are
chosen by 5-fold cross-validation inside the tuning split: the cut-off is the highest
probability that still flags ``--recall`` of the out-of-fold emergencies. A long message is
scored as triage reads it, by its best segment (the whole message or one of its windows,
``chat/triage.segments``); the windows of long non-emergencies are training rows too (a
window of a story about a past stroke, read alone, looks like a stroke now), while an
emergency's windows are not (which of them holds the danger is not labelled). Folds split by
message. The check split (``*-check.jsonl``, with ``long/`` and ``suicide/``) is scored only
at the end, with the shipped code path (``Triage.check``), and never feeds a choice. Writes
the model and ``bench/results/triage.json``; prints the check tables.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from medcite.chat.evaluation.help_lines import (
    HelpCase,
    evaluate_help_lines,
    format_help_line_report,
    help_line_report_json,
    load_help_file,
)
from medcite.chat.evaluation.triage import (
    TriageCase,
    evaluate_triage,
    format_triage_report,
    load_triage_file,
    report_json,
)
from medcite.chat.triage import (
    DEFAULT_MODEL,
    LEXICAL_BUCKETS,
    NO_HELP,
    Triage,
    TriageModel,
    lexical_features,
    load_locale,
    rule_features,
    save_model,
    segments,
)
from medcite.index.embedder import SentenceTransformerEmbedder

sys.path.insert(0, str(Path(__file__).parent))
from common import REAL_QUESTIONS, SHARED_CORPUS, SPENT_CHECKS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
CACHE = ROOT / "bench" / "results" / "tmp" / "triage-layers.npz"
QUICKSTART = ROOT / "quickstart" / "corpus.jsonl"
# Short messages (2-120 words), long ones (125-300 words, read in windows), and suicide and
# self-harm wording, the situation the short check caught least often (bench/data/triage/README.md).
TRIAGE_FILES = ("*-{split}*.jsonl", "long/*-{split}.jsonl", "suicide/*-{split}-*.jsonl")
CHECKS = ("check", "check_long", "check_suicide")
# Messages that are not emergencies, labelled with the help line they need (crisis, poison,
# none): the help-line head's own data, beside the emergencies' situations.
HELP_FILES = "support/support-{split}-*.jsonl"
CALM = "calm"  # the situation of a help-line file's message read as a non-emergency
HELP_TOPIC_OF_SITUATION = {
    "suicide": "crisis",
    "poisoning_adult": "poison",
    "poisoning_child": "poison",
}
# Real-style questions whose gold article is about these do need a help line, so they are
# not "none" examples (the rest are).
HELP_TOPIC_TITLES = re.compile(r"suicide|self-harm|poisoning|overdose", re.IGNORECASE)
HELP_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
# The most out-of-fold "none" messages a help line may be shown to, when choosing its cut-off.
HELP_FALSE_LINES = 0.03
# The head only ever reads messages that are not emergencies, so the calm messages written for
# it count more than the emergencies whose situation gives their topic (out of fold on the
# calm messages, at the cut-off chosen as above: right lines 0.850 -> 0.890, false lines
# 0.090 -> 0.080).
HELP_FILE_WEIGHT = 5.0


def tuning_cases() -> list[TriageCase]:
    cases = []
    for pattern in TRIAGE_FILES:
        for path in sorted((DATA / "triage").glob(pattern.format(split="tune"))):
            cases += load_triage_file(path)
    return cases + calm_messages("tune") + real_questions(tuning=True)


def calm_messages(split: str) -> list[TriageCase]:
    """The help-line files' messages, none an emergency (they were written as calm: "my son
    said last week he wishes he wasn't alive, he's ok now"), as more non-emergencies."""
    return [TriageCase(c.id, c.text, False, CALM) for c in help_file_cases(split)]


def real_questions(tuning: bool) -> list[TriageCase]:
    """The real-style questions (none an emergency): the tuning halves and ``SPENT_CHECKS``,
    or the check sets."""
    return [
        TriageCase(row["id"], row["question"], False, "question")
        for row in real_question_rows(tuning)
    ]


def real_question_rows(tuning: bool) -> list[dict]:
    rows = []
    for path in sorted(REAL_QUESTIONS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if (row.get("split") == "tune" or path.name in SPENT_CHECKS) == tuning:
                rows.append(row)
    return rows


def help_cases(split: str, triage_cases: Sequence[TriageCase] = ()) -> list[HelpCase]:
    """The help-line files of ``split``, the emergencies (crisis or poison by situation, else
    none), the look-alikes of other situations (none; a look-alike of suicide or poisoning may
    or may not call for a line, so it is left out), and the real-style questions (none,
    unless their article is on suicide, self-harm or poisoning)."""
    cases = help_file_cases(split)
    for case in triage_cases:
        topic = HELP_TOPIC_OF_SITUATION.get(case.situation, NO_HELP)
        if case.situation in ("question", CALM):  # the questions come below, the calm above
            continue
        if case.emergency or topic == NO_HELP:
            cases.append(HelpCase(case.id, case.text, topic))
    titles = article_titles()
    for question in real_question_rows(tuning=split == "tune"):
        if not any(
            HELP_TOPIC_TITLES.search(titles.get(a, "")) for a in question.get("article_ids") or []
        ):
            cases.append(HelpCase(question["id"], question["question"], NO_HELP))
    return cases


def help_file_cases(split: str) -> list[HelpCase]:
    """The calm messages of the help-line files: the only messages the head serves."""
    cases = []
    for path in sorted((DATA / "triage").glob(HELP_FILES.format(split=split))):
        cases += load_help_file(path)
    return cases


@functools.cache
def article_titles() -> dict[str, str]:
    """Every article's title, from the quickstart and (when present) the full corpus: read
    once, though the tuning and the check questions both ask."""
    titles = {}
    for path in (QUICKSTART, SHARED_CORPUS / "corpus.jsonl"):
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                titles[row["id"]] = row["title"]
    return titles


def check_cases(pattern: str) -> list[TriageCase]:
    cases = []
    for path in sorted((DATA / "triage").glob(pattern.format(split="check"))):
        cases += load_triage_file(path)
    return cases


def layer_states(embedder: SentenceTransformerEmbedder, texts: list[str]) -> np.ndarray:
    """Layer states of whole messages, cached by text so re-fitting embeds nothing."""
    cache = dict(np.load(CACHE)) if CACHE.exists() else {}
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cache}.items())
    for start in range(0, len(todo), 32):
        batch = todo[start : start + 32]
        _, layers = embedder.embed_with_layers([t for _, t in batch])
        cache.update({k: row for (k, _), row in zip(batch, layers, strict=True)})
    if todo:
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        np.savez(CACHE, **cache)
    return np.stack([cache[k] for k in keys])


def features(texts: list[str], layers: np.ndarray) -> csr_matrix:
    rows, cols, values = [], [], []
    for row, text in enumerate(texts):
        for bucket, value in lexical_features(text).items():
            rows.append(row)
            cols.append(bucket)
            values.append(value)
    lexical = csr_matrix((values, (rows, cols)), shape=(len(texts), LEXICAL_BUCKETS))
    rules = np.stack([rule_features(t) for t in texts])
    return hstack([csr_matrix(layers), lexical, csr_matrix(rules)]).tocsr()


def fit(x: csr_matrix, y: np.ndarray, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x, y)


@dataclass(frozen=True)
class Rows:
    """Every segment of every message, which message it belongs to, and whether it trains."""

    texts: list[str]
    message: np.ndarray  # (rows,) index of the message
    label: np.ndarray  # (rows,) the message's label
    trains: np.ndarray  # (rows,) a whole message, or a window of a non-emergency


def segment_rows(cases: list[TriageCase]) -> Rows:
    texts, message, label, trains = [], [], [], []
    for i, case in enumerate(cases):
        for j, text in enumerate(segments(case.text)):
            texts.append(text)
            message.append(i)
            label.append(int(case.emergency))
            trains.append(j == 0 or not case.emergency)
    return Rows(texts, np.array(message), np.array(label), np.array(trains))


def message_scores(rows: Rows, probabilities: np.ndarray, count: int) -> np.ndarray:
    """Each message's best segment, as ``Triage.assess`` reads it."""
    scores = np.zeros(count)
    np.maximum.at(scores, rows.message, probabilities)
    return scores


def out_of_fold(x: csr_matrix, rows: Rows, y: np.ndarray, c: float) -> np.ndarray:
    """Out-of-fold message scores; a message's segments stay in one fold."""
    probabilities = np.zeros(len(rows.texts))
    folds = StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y)
    for train, test in folds:
        fit_rows = np.isin(rows.message, train) & rows.trains
        test_rows = np.isin(rows.message, test)
        model = fit(x[fit_rows], rows.label[fit_rows], c)
        probabilities[test_rows] = model.predict_proba(x[test_rows])[:, 1]
    return message_scores(rows, probabilities, len(y))


def fit_help_head(
    cases: list[HelpCase], layers: np.ndarray
) -> tuple[LogisticRegression, float, dict[str, object]]:
    """The help-line regression, and its cut-off: the lowest of ``HELP_THRESHOLDS`` whose
    out-of-fold lines reach at most ``HELP_FALSE_LINES`` of the "none" messages. The calm
    messages of the help-line files weigh ``HELP_FILE_WEIGHT`` each."""
    y = np.array([c.topic for c in cases])
    calm = {c.id for c in help_file_cases("tune")}
    weights = np.array([HELP_FILE_WEIGHT if c.id in calm else 1.0 for c in cases])
    choices = {}
    for c in (1.0, 4.0, 16.0):
        top_topic = np.empty(len(y), dtype=object)
        top_probability = np.zeros(len(y))
        for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(layers, y):
            head = fit_help(layers[train], y[train], weights[train], c)
            probabilities = head.predict_proba(layers[test])
            probabilities[:, list(head.classes_).index(NO_HELP)] = 0.0
            top_topic[test] = head.classes_[probabilities.argmax(axis=1)]
            top_probability[test] = probabilities.max(axis=1)
        for threshold in HELP_THRESHOLDS:
            shown = np.where(top_probability >= threshold, top_topic, NO_HELP)
            false_lines = float(np.mean(shown[y == NO_HELP] != NO_HELP))
            right = float(np.mean(shown[y != NO_HELP] == y[y != NO_HELP]))
            print(
                f"help lines C={c:g} cut-off {threshold}: right {right:.3f}, "
                f"false lines {false_lines:.3f}"
            )
            if false_lines <= HELP_FALSE_LINES:
                choices[c] = (right, false_lines, threshold)
                break
    if not choices:
        raise SystemExit(f"no help-line cut-off keeps false lines under {HELP_FALSE_LINES}")
    best_c = max(choices, key=lambda c: choices[c][0])
    right, false_lines, threshold = choices[best_c]
    about = {
        "fitted_on": f"{len(cases)} messages ({int(np.sum(y != NO_HELP))} needing a line)",
        "C": best_c,
        "calm_message_weight": HELP_FILE_WEIGHT,
        "out_of_fold_right": right,
        "out_of_fold_false_lines": false_lines,
    }
    return fit_help(layers, y, weights, best_c), threshold, about


def fit_help(x: np.ndarray, y: np.ndarray, weights: np.ndarray, c: float) -> LogisticRegression:
    head = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    return head.fit(x, y, sample_weight=weights)


def cut_off(scores: np.ndarray, y: np.ndarray, recall: float) -> float:
    """The highest threshold that flags at least ``recall`` of the emergencies."""
    emergencies = np.sort(scores[y == 1])
    allowed_misses = int(np.floor((1 - recall) * len(emergencies)))
    return float(emergencies[allowed_misses])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recall", type=float, default=0.98)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--results", type=Path, default=ROOT / "bench/results/triage.json")
    args = parser.parse_args()

    embedder = SentenceTransformerEmbedder()
    tune = tuning_cases()
    y = np.array([c.emergency for c in tune], dtype=int)
    rows = segment_rows(tune)
    layers = layer_states(embedder, rows.texts)
    x = features(rows.texts, layers)
    width = layers.shape[1]
    print(f"{len(tune)} tuning messages ({int(y.sum())} emergencies), {len(rows.texts)} segments")

    choices = {}
    for c in (1.0, 4.0, 16.0):
        scores = out_of_fold(x, rows, y, c)
        threshold = cut_off(scores, y, args.recall)
        false_alarms = float(np.mean(scores[y == 0] >= threshold))
        choices[c] = (false_alarms, threshold)
        print(f"C={c:g}: cut-off {threshold:.3f}, out-of-fold false alarms {false_alarms:.3f}")
    best_c = min(choices, key=lambda c: choices[c][0])
    false_alarms, threshold = choices[best_c]

    model = fit(x[rows.trains], rows.label[rows.trains], best_c)
    weights = model.coef_[0]
    whole = np.flatnonzero(rows.trains & (rows.label == 1))  # an emergency trains whole only
    situations = LogisticRegression(C=4.0, max_iter=5000).fit(
        layers[whole], [tune[rows.message[i]].situation for i in whole]
    )
    help_tune = help_cases("tune", tune)
    help_layers = layer_states(embedder, [c.text for c in help_tune])
    help_head, help_threshold, help_about = fit_help_head(help_tune, help_layers)
    triage_model = TriageModel(
        embedder=embedder.name,
        threshold=threshold,
        bias=float(model.intercept_[0]),
        dense=weights[:width].astype(np.float32),
        lexical=weights[width : width + LEXICAL_BUCKETS].astype(np.float32),
        rules=weights[width + LEXICAL_BUCKETS :].astype(np.float32),
        situations=tuple(str(s) for s in situations.classes_),
        situation_weights=situations.coef_.T.astype(np.float32),
        situation_bias=situations.intercept_.astype(np.float32),
        about={
            "fitted_on": f"{len(tune)} tuning messages ({int(y.sum())} emergencies), "
            f"{int(rows.trains.sum())} rows with the windows of long non-emergencies",
            "C": best_c,
            "target_recall": args.recall,
            "out_of_fold_false_alarms": false_alarms,
            "help_lines": help_about,
        },
        help_topics=tuple(str(t) for t in help_head.classes_),
        help_weights=help_head.coef_.T.astype(np.float32),
        help_bias=help_head.intercept_.astype(np.float32),
        help_threshold=help_threshold,
    )
    save_model(triage_model, args.out)

    triage = Triage(load_locale("en-US"), triage_model)
    reports = {}
    checks = {name: check_cases(p) for name, p in zip(CHECKS, TRIAGE_FILES, strict=True)}
    checks["check_real_questions"] = real_questions(tuning=False)
    for name, cases in checks.items():
        if not cases:
            continue
        reports[name] = evaluate_triage(
            cases, lambda text: triage.check(text, embedder)[0], triage.describe()
        )
        print(format_triage_report(reports[name]))
    results = {name: report_json(report) for name, report in reports.items()}
    help_check = help_cases("check")
    if help_check:
        help_report = evaluate_help_lines(
            help_check, lambda text: triage.read(text, embedder), triage.describe()
        )
        print(format_help_line_report(help_report))
        results["check_help_lines"] = help_line_report_json(help_report)
    args.results.write_text(json.dumps({"tuning": triage_model.about, **results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
