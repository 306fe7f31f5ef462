"""Calibrate when `ask` answers and when it says the articles do not cover the question:
the shipped default policy (chat/data/abstain-policy.json).

    python bench/calibrate.py [--full-index DIR] [--quickstart-index DIR] [--write-default]

Collects the answer evidence (chat.answer.Evidence) of four sets of questions, as `ask` itself
computes it (chat.calibration.collect_evidence), each over the index it is written for:

- `dev`: every fourth MedQuAD dev question (questions-dev.jsonl; answerable, templated), full;
- `drugs`: the drug and herb questions (unanswerable-dev.jsonl), full;
- `real-full`: the tuning half of bench/data/real/questions-full.jsonl, full;
- `real-quickstart`: the tuning half of bench/data/real/questions-quickstart.jsonl, quickstart.

It fits one logistic regression of answerable against unanswerable on the two real-style
tuning sets (chat.calibration.fit_logistic, the fit `medcite calibrate` makes for an index's
own questions) and picks the cut-off with the fewest errors on them (an answerable question
refused and an unanswerable one answered count alike), but refusing at least 95% of the drug
questions. The dev and drug questions are scored, not fitted: templated dev questions are easy
to answer and drug names easy to refuse, and fitted on, they pulled the weights away from what
tells real questions apart (61% of the real answerable questions answered instead of 72% at
the same abstention). A cut-off refusing 93% of the real-style unanswerable questions (the
issue's goal) answered 68% of the answerable ones on the tuning sets and 47% on a fresh check
set: refusals, not wrong answers, were then most of the errors. The first policy (fitted on dev
questions alone, cut-off answering 99.9% of them) refused a third of the real-style questions
the articles answer.

The fit is also checked on halves (fit on even rows, score odd, and back). Prints the rates;
writes bench/results/calibration.json, and with --write-default the shipped policy file."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED_CORPUS, print_table, write_result  # noqa: E402

from medcite.chat.answer import DEFAULT_POLICY_FILE  # noqa: E402
from medcite.chat.calibration import (  # noqa: E402
    FEATURES,
    collect_evidence,
    feature_rows,
    fit_logistic,
    policy_from_weights,
    write_policy,
)
from medcite.chat.evaluation.questions import load_questions, select_split  # noqa: E402
from medcite.index.embedder import Embedder, make_embedder  # noqa: E402
from medcite.index.reader import Index, open_index  # noqa: E402
from medcite.index.threads import limit_threads  # noqa: E402

REAL = Path(__file__).parent / "data" / "real"
TMP = Path(__file__).parent / "results" / "tmp"
FITTED = ("real-full", "real-quickstart")
ABSTAIN_DRUGS = 0.95
L2 = 1e-3


def opened(index_dir: Path) -> tuple[Index, Embedder]:
    """The index at ``index_dir`` and its own encoder, one thread, as a server runs them."""
    index = open_index(index_dir)
    return index, make_embedder(index_model=index.manifest.model, threads=1)


def evidence_rows(searched: tuple[Index, Embedder], path: Path, *, split: str = "", every: int = 1):
    """(features, answerable) of the questions in ``path`` over the ``opened`` index."""
    index, embedder = searched
    questions = load_questions(path)[::every]
    questions = select_split(questions, split) if split else questions
    evidence = collect_evidence(index, embedder, [q.text for q in questions])
    judged = [(q, e) for q, e in zip(questions, evidence, strict=True) if e is not None]
    return feature_rows([e for _, e in judged]), np.array([q.answerable for q, _ in judged])


def lowest_cut_off(z_unanswerable: np.ndarray, abstain: float) -> float:
    """The lowest cut-off (answer when z >= it) that refuses at least ``abstain`` of them."""
    ranked = np.sort(z_unanswerable)
    need = max(1, math.ceil(abstain * len(ranked) - 1e-9))
    z = float(ranked[need - 1])
    return z + 1e-9 * max(1.0, abs(z))


def choose(w: np.ndarray, sets: dict[str, tuple[np.ndarray, np.ndarray]]) -> float:
    """The cut-off with the fewest errors (answerable refused + unanswerable answered, counted
    alike) on the fitted real-style questions, no lower than one refusing ``ABSTAIN_DRUGS`` of
    the drug questions; among equal counts, the higher (more cautious) one."""
    z = np.concatenate([sets[name][0] @ w for name in FITTED])
    y = np.concatenate([sets[name][1] for name in FITTED])
    floor = lowest_cut_off(sets["drugs"][0] @ w, ABSTAIN_DRUGS)
    best: tuple[int, float] | None = None
    for cut in sorted({float(v) + 1e-9 * max(1.0, abs(float(v))) for v in z} | {floor}):
        if cut < floor:
            continue
        errors = int((z[y] < cut).sum() + (z[~y] >= cut).sum())
        if best is None or errors <= best[0]:
            best = (errors, cut)
    assert best is not None
    return best[1]


def rates(w: np.ndarray, cut: float, sets: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    out: dict[str, float] = {}
    for name, (x, y) in sets.items():
        answered = (x @ w) >= cut
        if y.any():
            out[f"{name} answered"] = round(float(answered[y].mean()), 3)
        if (~y).any():
            out[f"{name} refused"] = round(float((~answered[~y]).mean()), 3)
    return out


def fit(sets: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    x = np.vstack([sets[name][0] for name in FITTED])
    y = np.concatenate([sets[name][1] for name in FITTED]).astype(np.float64)
    return fit_logistic(x, y, l2=L2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full-index", type=Path, default=TMP / "full-int8")
    parser.add_argument("--quickstart-index", type=Path, default=TMP / "qs-int8")
    parser.add_argument(
        "--write-default",
        action="store_true",
        help=f"write the fitted policy to {DEFAULT_POLICY_FILE.name}, the shipped default",
    )
    args = parser.parse_args()
    limit_threads(1)
    full, quickstart = opened(args.full_index), opened(args.quickstart_index)
    sets = {
        "dev": evidence_rows(full, SHARED_CORPUS / "questions-dev.jsonl", every=4),
        "drugs": evidence_rows(full, SHARED_CORPUS / "unanswerable-dev.jsonl"),
        "real-full": evidence_rows(full, REAL / "questions-full.jsonl", split="tune"),
        "real-quickstart": evidence_rows(
            quickstart, REAL / "questions-quickstart.jsonl", split="tune"
        ),
    }
    rows = []
    halves = {name: ((x[0::2], y[0::2]), (x[1::2], y[1::2])) for name, (x, y) in sets.items()}
    for label, (fit_on, score_on) in (
        ("fit even, score odd", (0, 1)),
        ("fit odd, score even", (1, 0)),
    ):
        part = {name: h[fit_on] for name, h in halves.items()}
        w = fit(part)
        scored = {name: h[score_on] for name, h in halves.items()}
        rows.append({"split": label, **rates(w, choose(w, part), scored)})
    w = np.round(fit(sets), 3)  # a readable file; the cut-off is chosen for these weights
    cut = choose(w, sets)
    rows.append({"split": "all (chosen)", **rates(w, cut, sets)})
    for row in rows:
        print(row)
    counts = {name: int(len(y)) for name, (_, y) in sets.items()}
    policy = policy_from_weights(
        w,
        cut,
        source=(
            "shipped default: bench/calibrate.py, a logistic regression over the tuning halves"
            f" of the real-style questions ({counts['real-full']} over the full corpus,"
            f" {counts['real-quickstart']} over the quickstart); cut-off with the fewest"
            " errors on them (refusals and wrong answers alike), refusing at least"
            f" {ABSTAIN_DRUGS:.0%} of {counts['drugs']} MedQuAD drug questions"
        ),
    )
    print(policy)
    if args.write_default:
        write_policy(
            DEFAULT_POLICY_FILE,
            policy,
            fitted={"features": list(FEATURES), "l2": L2, "questions": counts},
        )
        print(f"wrote {DEFAULT_POLICY_FILE}")
    path = write_result(
        "calibration",
        {"policy": policy.to_json(), "rows": rows, "counts": counts, "l2": L2},
    )
    print(f"wrote {path}")
    print_table(rows)


if __name__ == "__main__":
    main()
