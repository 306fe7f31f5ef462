"""Calibrate when `ask` answers and when it says the articles do not cover the question:
the shipped default policy (chat/data/abstain-policy.json).

    python bench/calibrate.py [--index DIR] [--write-default]

Collects the answer evidence (chat.answer.Evidence) of every dev question, answerable
(questions-dev.jsonl) and unanswerable (unanswerable-dev.jsonl, drug and herb questions), as
`ask` itself computes it (chat.calibration.collect_evidence: spelling, follow-up, hybrid
search, evidence), fits a logistic regression on them (chat.calibration.fit_logistic, the fit
`medcite calibrate` makes for an index's own questions), and picks the cut-off: the highest one
that still answers at least 99.9% of the answerable dev questions. Dev questions are templated
and easy; a cut-off that drops even a few of them drops many real ones, so the spare margin
goes to answering. The fit is checked on two halves (fit on one, score the other) and on the
hand-written patient-style questions in bench/data/patient-questions.jsonl. Prints the policy;
writes bench/results/calibration.json, and with --write-default the shipped policy file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED_CORPUS, print_table, write_result  # noqa: E402

from medcite.chat.answer import DEFAULT_POLICY_FILE, AbstainPolicy  # noqa: E402
from medcite.chat.calibration import (  # noqa: E402
    collect_evidence,
    cut_off,
    feature_rows,
    fit_logistic,
    write_policy,
)
from medcite.chat.evaluation.questions import load_questions  # noqa: E402
from medcite.index.embedder import SentenceTransformerEmbedder  # noqa: E402
from medcite.index.reader import open_index  # noqa: E402
from medcite.index.threads import limit_threads  # noqa: E402

ANSWER_FLOOR = 0.999
PATIENTS = Path(__file__).parent / "data" / "patient-questions.jsonl"


def features(index, embedder, path: Path) -> np.ndarray:
    """One row [1, dense, coverage, unknown] per question, from `ask`'s own evidence."""
    questions = load_questions(path)
    evidence = collect_evidence(index, embedder, [q.text for q in questions])
    judged = [e for e in evidence if e is not None]
    if len(judged) != len(questions):
        raise RuntimeError(f"ask judged {len(judged)} of {len(questions)} questions")
    return feature_rows(judged)


def rates(w: np.ndarray, threshold: float, sets: dict[str, np.ndarray]) -> dict[str, float]:
    return {
        "answered_dev": float(((sets["answerable"] @ w) >= threshold).mean()),
        "abstained_unanswerable": float(((sets["unanswerable"] @ w) < threshold).mean()),
        "answered_patients": float(((sets["patients"] @ w) >= threshold).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--index",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "tmp" / "full-index",
    )
    parser.add_argument(
        "--write-default",
        action="store_true",
        help=f"write the fitted policy to {DEFAULT_POLICY_FILE.name}, the shipped default",
    )
    args = parser.parse_args()
    limit_threads(1)
    index = open_index(args.index)
    embedder = SentenceTransformerEmbedder()
    sets = {
        "answerable": features(index, embedder, SHARED_CORPUS / "questions-dev.jsonl"),
        "unanswerable": features(index, embedder, SHARED_CORPUS / "unanswerable-dev.jsonl"),
        "patients": features(index, embedder, PATIENTS),
    }

    def fit(a: np.ndarray, u: np.ndarray) -> np.ndarray:
        x = np.vstack([a, u])
        y = np.concatenate([np.ones(len(a)), np.zeros(len(u))])
        # 1e-4 keeps the patient-style answer rate highest among the settings that abstain
        # on 90% of the unanswerable questions.
        return fit_logistic(x, y, l2=1e-4)

    rows = []
    halves = {name: (data[0::2], data[1::2]) for name, data in sets.items()}
    for label, (fit_on, score_on) in (
        ("fit on even, score odd", (0, 1)),
        ("fit on odd, score even", (1, 0)),
    ):
        w = fit(halves["answerable"][fit_on], halves["unanswerable"][fit_on])
        threshold = cut_off(halves["answerable"][fit_on] @ w, ANSWER_FLOOR)
        scored = {name: halves[name][score_on] for name in sets}
        rows.append({"split": label, **rates(w, threshold, scored)})
    w = fit(sets["answerable"], sets["unanswerable"])
    threshold = cut_off(sets["answerable"] @ w, ANSWER_FLOOR)
    rows.append({"split": "all dev (chosen)", **rates(w, threshold, sets)})
    print_table(rows)
    counts = {name: len(data) for name, data in sets.items()}
    policy = AbstainPolicy(
        bias=round(float(w[0] - threshold), 2),  # shifted so that confidence 0.5 is the cut-off
        w_dense=round(float(w[1]), 2),
        w_cover=round(float(w[2]), 2),
        w_unknown=round(float(w[3]), 2),
        threshold=0.5,
        source=(
            f"shipped default: bench/calibrate.py, a logistic regression of"
            f" {counts['answerable']:,} answerable against {counts['unanswerable']:,}"
            " unanswerable MedQuAD dev questions (questions-dev.jsonl, unanswerable-dev.jsonl:"
            f" drugs and herbs) over {args.index.name}, cut-off answering {ANSWER_FLOOR:.1%} of"
            " the answerable ones"
        ),
    )
    print(policy)
    if args.write_default:
        write_policy(DEFAULT_POLICY_FILE, policy, fitted={"answer_rate": ANSWER_FLOOR, **counts})
        print(f"wrote {DEFAULT_POLICY_FILE}")
    path = write_result(
        "calibration",
        {
            "answer_floor": ANSWER_FLOOR,
            "policy": policy.to_json(),
            "rows": rows,
            "counts": counts,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
