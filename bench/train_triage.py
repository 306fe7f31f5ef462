"""Fit the triage model on the tuning split and score it once on the check split.

    python bench/train_triage.py [--recall 0.99] [--out chat/data/triage-model.npz]

Tuning split: ``bench/data/triage/*-tune*.jsonl`` (emergencies and look-alikes), plus the
tuning half of the real-style questions (``bench/data/real``) as more non-emergencies. The
regularisation and the cut-off are chosen by 5-fold cross-validation inside the tuning split:
the cut-off is the highest probability that still flags ``--recall`` of the out-of-fold
emergencies. The check split (``*-check.jsonl``) is scored only at the end, with the shipped
code path (``Triage.check``), and never feeds a choice. Writes the model and
``bench/results/triage.json``; prints the check table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
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
)
from medcite.index.embedder import SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
CACHE = ROOT / "bench" / "results" / "tmp" / "triage-layers.npz"


def tuning_cases() -> list[TriageCase]:
    cases = []
    for path in sorted((DATA / "triage").glob("*-tune*.jsonl")):
        cases += load_triage_file(path)
    for path in sorted((DATA / "real").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("split") == "tune":
                cases.append(TriageCase(row["id"], row["question"], False, "question"))
    return cases


def check_cases() -> list[TriageCase]:
    cases = []
    for path in sorted((DATA / "triage").glob("*-check.jsonl")):
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


def out_of_fold(x: csr_matrix, y: np.ndarray, c: float) -> np.ndarray:
    scores = np.zeros(len(y))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(x, y):
        scores[test] = fit(x[train], y[train], c).predict_proba(x[test])[:, 1]
    return scores


def cut_off(scores: np.ndarray, y: np.ndarray, recall: float) -> float:
    """The highest threshold that flags at least ``recall`` of the emergencies."""
    emergencies = np.sort(scores[y == 1])
    allowed_misses = int(np.floor((1 - recall) * len(emergencies)))
    return float(emergencies[allowed_misses])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recall", type=float, default=0.99)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--results", type=Path, default=ROOT / "bench/results/triage.json")
    args = parser.parse_args()

    embedder = SentenceTransformerEmbedder()
    tune = tuning_cases()
    texts = [c.text for c in tune]
    y = np.array([c.emergency for c in tune], dtype=int)
    layers = layer_states(embedder, texts)
    x = features(texts, layers)
    width = layers.shape[1]

    choices = {}
    for c in (1.0, 4.0, 16.0):
        scores = out_of_fold(x, y, c)
        threshold = cut_off(scores, y, args.recall)
        false_alarms = float(np.mean(scores[y == 0] >= threshold))
        choices[c] = (false_alarms, threshold)
        print(f"C={c:g}: cut-off {threshold:.3f}, out-of-fold false alarms {false_alarms:.3f}")
    best_c = min(choices, key=lambda c: choices[c][0])
    false_alarms, threshold = choices[best_c]

    model = fit(x, y, best_c)
    weights = model.coef_[0]
    emergency_rows = [i for i, c in enumerate(tune) if c.emergency]
    situations = LogisticRegression(C=4.0, max_iter=5000).fit(
        layers[emergency_rows], [tune[i].situation for i in emergency_rows]
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
            "fitted_on": f"{len(tune)} tuning messages ({int(y.sum())} emergencies)",
            "C": best_c,
            "target_recall": args.recall,
            "out_of_fold_false_alarms": false_alarms,
        },
    )
    save_model(triage_model, args.out)

    triage = Triage(load_locale("en-US"), triage_model)
    report = evaluate_triage(
        check_cases(), lambda text: triage.check(text, embedder)[0], triage.describe()
    )
    print(format_triage_report(report))
    args.results.write_text(
        json.dumps({"tuning": triage_model.about, "check": report_json(report)}, indent=1) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
