"""Fit the triage model on the tuning split and score it once on the check split.

    python bench/train_triage.py [--recall 0.98] [--out chat/data/triage-model.npz]

Tuning split: ``bench/data/triage/*-tune*.jsonl``, ``long/*-tune.jsonl`` and
``suicide/*-tune-*.jsonl`` (emergencies and look-alikes), plus the tuning halves of the
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
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

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
from common import REAL_QUESTIONS, SPENT_CHECKS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
CACHE = ROOT / "bench" / "results" / "tmp" / "triage-layers.npz"
# Short messages (2-120 words), long ones (125-300 words, read in windows), and suicide and
# self-harm wording, the situation the short check caught least often (bench/data/triage/README.md).
TRIAGE_FILES = ("*-{split}*.jsonl", "long/*-{split}.jsonl", "suicide/*-{split}-*.jsonl")
CHECKS = ("check", "check_long", "check_suicide")


def tuning_cases() -> list[TriageCase]:
    cases = []
    for pattern in TRIAGE_FILES:
        for path in sorted((DATA / "triage").glob(pattern.format(split="tune"))):
            cases += load_triage_file(path)
    return cases + real_questions(tuning=True)


def real_questions(tuning: bool) -> list[TriageCase]:
    """The real-style questions (none an emergency): the tuning halves and ``SPENT_CHECKS``,
    or the check sets."""
    cases = []
    for path in sorted(REAL_QUESTIONS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if (row.get("split") == "tune" or path.name in SPENT_CHECKS) == tuning:
                cases.append(TriageCase(row["id"], row["question"], False, "question"))
    return cases


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
        },
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
    args.results.write_text(json.dumps({"tuning": triage_model.about, **results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
