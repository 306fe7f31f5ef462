"""Calibrate when `ask` answers and when it says the articles do not cover the question.

    python bench/calibrate.py [--index DIR]

Collects the answer evidence (chat.answer.Evidence) of every dev question, answerable
(questions-dev.jsonl) and unanswerable (unanswerable-dev.jsonl, drug and herb questions), as
`ask` itself computes it (spelling, follow-up, hybrid search, evidence), and fits
a logistic regression on them, and picks the cut-off: the highest one that still answers at
least 99.9% of the answerable dev questions. Dev questions are templated and easy; a cut-off
that drops even a few of them drops many real ones, so the spare margin goes to answering.
The fit is checked on two halves (fit on one, score the other) and on the hand-written
patient-style questions in bench/data/patient-questions.jsonl. Prints the AbstainPolicy to
use; writes bench/results/calibration.json."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED_CORPUS, print_table, write_result  # noqa: E402

from medcite.chat.answer import AbstainPolicy, Evidence, ask  # noqa: E402
from medcite.chat.evaluation.questions import load_questions  # noqa: E402
from medcite.chat.triage import Emergency, Triage, load_locale  # noqa: E402
from medcite.index.embedder import Embedder, SentenceTransformerEmbedder  # noqa: E402
from medcite.index.reader import open_index  # noqa: E402
from medcite.index.threads import limit_threads  # noqa: E402

ANSWER_FLOOR = 0.999
PATIENTS = Path(__file__).parent / "data" / "patient-questions.jsonl"


class NoTriage(Triage):
    """Lets every question through to retrieval: the abstention policy is fitted on the
    evidence of every question, whatever triage would say of it."""

    def __init__(self) -> None:
        super().__init__(load_locale("en-US"), None)

    def check(self, text: str, embedder: Embedder) -> tuple[Emergency | None, np.ndarray | None]:
        return None, None


@dataclass(frozen=True)
class RecordingPolicy(AbstainPolicy):
    """The shipped policy, keeping the Evidence that `ask` hands it for each question."""

    seen: list[Evidence] = field(default_factory=list)

    def confidence(self, evidence: Evidence) -> float:
        self.seen.append(evidence)
        return super().confidence(evidence)


def features(index, embedder, path: Path) -> np.ndarray:
    """One row [1, dense, coverage, unknown] per question, from `ask`'s own evidence."""
    questions = load_questions(path)
    policy, triage = RecordingPolicy(), NoTriage()
    for question in questions:
        ask(index, embedder, question.text, triage=triage, policy=policy)
    if len(policy.seen) != len(questions):
        raise RuntimeError(f"ask judged {len(policy.seen)} of {len(questions)} questions")
    return np.array([[1.0, e.dense, e.coverage, float(e.unknown)] for e in policy.seen])


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-4, steps: int = 100) -> np.ndarray:
    """Newton's method on the L2-regularised log loss. The two sets are nearly separable, so
    the small L2 term is what keeps the weights finite (1e-4 keeps the patient-style answer
    rate highest among the settings that abstain on 90% of the unanswerable questions)."""
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w)))
        gradient = x.T @ (p - y) / len(y) + l2 * w
        hessian = (x.T * (p * (1 - p))) @ x / len(y) + l2 * np.eye(len(w))
        w -= np.linalg.solve(hessian, gradient)
    return w


def cut_off(z_answerable: np.ndarray) -> float:
    """The highest cut-off that answers at least ANSWER_FLOOR of the answerable questions."""
    return float(np.quantile(z_answerable, 1 - ANSWER_FLOOR))


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
        return fit_logistic(x, y)

    rows = []
    halves = {name: (data[0::2], data[1::2]) for name, data in sets.items()}
    for label, (fit_on, score_on) in (
        ("fit on even, score odd", (0, 1)),
        ("fit on odd, score even", (1, 0)),
    ):
        w = fit(halves["answerable"][fit_on], halves["unanswerable"][fit_on])
        threshold = cut_off(halves["answerable"][fit_on] @ w)
        scored = {name: halves[name][score_on] for name in sets}
        rows.append({"split": label, **rates(w, threshold, scored)})
    w = fit(sets["answerable"], sets["unanswerable"])
    threshold = cut_off(sets["answerable"] @ w)
    rows.append({"split": "all dev (chosen)", **rates(w, threshold, sets)})
    print_table(rows)
    bias = w[0] - threshold  # shifted so that confidence 0.5 is the cut-off
    policy = {
        "bias": round(bias, 2),
        "w_dense": round(w[1], 2),
        "w_cover": round(w[2], 2),
        "w_unknown": round(w[3], 2),
        "threshold": 0.5,
    }
    print("AbstainPolicy(" + ", ".join(f"{k}={v}" for k, v in policy.items()) + ")")
    path = write_result(
        "calibration",
        {
            "answer_floor": ANSWER_FLOOR,
            "policy": policy,
            "rows": rows,
            "counts": {name: len(data) for name, data in sets.items()},
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
