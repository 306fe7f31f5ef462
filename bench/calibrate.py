"""Calibrate when `ask` answers and when it says the articles do not cover the question:
the shipped default policy (chat/data/abstain-policy.json) and question head
(chat/data/question-head.json).

    python bench/calibrate.py [--full-index DIR] [--quickstart-index DIR] [--write-default]

Collects the answer evidence (chat.answer.Evidence) and the question vector of these sets of
questions, as `ask` itself computes them (chat.calibration.collect_evidence), each over the
index it is written for:

- `dev`: every fourth MedQuAD dev question (questions-dev.jsonl; answerable, templated), full;
- `drugs`: the drug and herb questions (unanswerable-dev.jsonl), full;
- `real-full`: the tuning half of bench/data/real/questions-full.jsonl, full;
- `real-quickstart`: the tuning half of bench/data/real/questions-quickstart.jsonl, quickstart;
- `check2` ... `check13`: the check sets bench/data/real/questions-quickstart-checkN.jsonl,
  each written blind by its own helper and spent as a test once scored against earlier code:
  data to fit on now. The newest check set is never listed here.

It fits one logistic regression of answerable against unanswerable on the real-style sets
(chat.calibration.fit_logistic) over the evidence features and the 384 numbers of the question
vector. The vector part becomes the question head (chat/question_kind.py; its score is the
`kind` feature, weighted 1 in the shipped policy and re-weighted by `medcite calibrate` like
any other). The cut-off has the fewest errors on the fitted sets (an answerable question
refused and an unanswerable one answered count alike), but refuses at least 95% of the drug
questions. The dev and drug questions are scored, not fitted: templated dev questions are easy
to answer and drug names easy to refuse, and fitted on, they pulled the weights away from what
tells real questions apart.

The fit is checked by leaving each independently written set out in turn (fit on the others,
score it). Without the question vector and the spent check sets (the session-9 policy), the
held-out check sets were answered 0.844 and refused 0.836 on average (sum 1.680); with both
and the strange-word feature, 0.840 and 0.933 (sum 1.773); real-full held out, 0.874 / 0.938
(0.851 / 0.906 fitted on the same sets without the vector; bench/results/calibration.json).
In the fourteenth session the top article's lead joined the features (chat/answer.py
``_lead``) and check9 to check13 the fitted sets: left out in turn, the sets were answered 0.826
and refused 0.943 on average; counting answers from a gold article against answers from another
article or to an unanswerable question, the net went from 861 (the same sets, no lead) to 896.
Prints the rates; writes bench/results/calibration.json, and with --write-default the shipped
policy and head files."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
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
from medcite.chat.question_kind import DEFAULT_HEAD_FILE, QuestionHead, save_head  # noqa: E402
from medcite.index.embedder import Embedder, make_embedder  # noqa: E402
from medcite.index.reader import Index, open_index  # noqa: E402
from medcite.index.threads import limit_threads  # noqa: E402

REAL = Path(__file__).parent / "data" / "real"
TMP = Path(__file__).parent / "results" / "tmp"
# Check sets already scored against earlier code: spent as tests, kept as data to fit on.
FITTED_CHECKS = tuple(f"check{n}" for n in range(2, 14))
FITTED = ("real-full", "real-quickstart", *FITTED_CHECKS)
ABSTAIN_DRUGS = 0.95
L2 = 1e-3
KIND = FEATURES.index("kind")


@dataclass(frozen=True)
class _RecordingHead(QuestionHead):
    """A head scoring 0 that keeps the question vectors ``ask`` hands it."""

    seen: list[np.ndarray] = field(default_factory=list, compare=False)

    def score(self, vector: np.ndarray, embedder: Embedder) -> float:
        self.seen.append(np.asarray(vector, dtype=np.float64))
        return 0.0


def opened(index_dir: Path) -> tuple[Index, Embedder]:
    """The index at ``index_dir`` and its own encoder, one thread, as a server runs them."""
    index = open_index(index_dir)
    return index, make_embedder(index_model=index.manifest.model, threads=1)


@dataclass(frozen=True)
class Rows:
    """A question set's features (``feature_rows``, its kind column 0), question vectors and
    labels (True: answerable)."""

    x: np.ndarray
    vectors: np.ndarray
    y: np.ndarray

    def design(self, head: np.ndarray | None = None) -> np.ndarray:
        """The rows to fit on (the vector after the features, no head), or to score with a
        fitted ``head`` (its score in the kind column)."""
        if head is None:
            return np.hstack([np.delete(self.x, 1 + KIND, axis=1), self.vectors])
        x = self.x.copy()
        x[:, 1 + KIND] = self.vectors @ head
        return x


def evidence_rows(
    searched: tuple[Index, Embedder], path: Path, *, split: str = "", every: int = 1
) -> Rows:
    """The ``Rows`` of the questions in ``path`` over the ``opened`` index."""
    index, embedder = searched
    questions = load_questions(path)[::every]
    questions = select_split(questions, split) if split else questions
    head = _RecordingHead(embedder.name, np.zeros(0))
    evidence = collect_evidence(index, embedder, [q.text for q in questions], head=head)
    # ``ask`` scores the head exactly when it judges evidence: the vectors are those questions'.
    judged = [(q, e) for q, e in zip(questions, evidence, strict=True) if e is not None]
    return Rows(
        feature_rows([e for _, e in judged]),
        np.array(head.seen),
        np.array([q.answerable for q, _ in judged]),
    )


def lowest_cut_off(z_unanswerable: np.ndarray, abstain: float) -> float:
    """The lowest cut-off (answer when z >= it) that refuses at least ``abstain`` of them."""
    ranked = np.sort(z_unanswerable)
    need = max(1, math.ceil(abstain * len(ranked) - 1e-9))
    z = float(ranked[need - 1])
    return z + 1e-9 * max(1.0, abs(z))


@dataclass(frozen=True)
class Fit:
    """Policy weights (bias first, then ``FEATURES``, kind weighted 1) and the head."""

    w: np.ndarray
    head: np.ndarray

    def z(self, rows: Rows) -> np.ndarray:
        return rows.design(self.head) @ self.w


def held_out(model: Fit, cut: float, sets: dict[str, Rows], held: str) -> dict[str, object]:
    """The table row of a fit that left the ``held`` set out."""
    scored = rates(model, cut, sets)
    return {
        "held out": held,
        "answerable answered": scored[f"{held} answered"],
        "unanswerable refused": scored[f"{held} refused"],
        "dev answered": scored["dev answered"],
        "drugs refused": scored["drugs refused"],
    }


def fit(sets: dict[str, Rows], fitted: Sequence[str]) -> Fit:
    """One logistic regression over the features and the question vector of ``fitted``;
    its vector part is the head, whose score the policy weighs by 1."""
    x = np.vstack([sets[name].design() for name in fitted])
    y = np.concatenate([sets[name].y for name in fitted]).astype(np.float64)
    w = fit_logistic(x, y, l2=L2)
    scalars = len(FEATURES)  # the bias and the features but kind
    head = np.round(w[scalars:], 5)
    policy = np.round(np.insert(w[:scalars], 1 + KIND, 1.0), 3)  # a readable file
    return Fit(policy, head)


def choose(model: Fit, sets: dict[str, Rows], fitted: Sequence[str]) -> float:
    """The cut-off with the fewest errors (answerable refused + unanswerable answered, counted
    alike) on the ``fitted`` real-style questions, no lower than one refusing
    ``ABSTAIN_DRUGS`` of the drug questions; among equal counts, the higher (more cautious)."""
    z = np.concatenate([model.z(sets[name]) for name in fitted])
    y = np.concatenate([sets[name].y for name in fitted])
    floor = lowest_cut_off(model.z(sets["drugs"]), ABSTAIN_DRUGS)
    best: tuple[int, float] | None = None
    for cut in sorted({float(v) + 1e-9 * max(1.0, abs(float(v))) for v in z} | {floor}):
        if cut < floor:
            continue
        errors = int((z[y] < cut).sum() + (z[~y] >= cut).sum())
        if best is None or errors <= best[0]:
            best = (errors, cut)
    assert best is not None
    return best[1]


def rates(model: Fit, cut: float, sets: dict[str, Rows]) -> dict:
    out: dict[str, float] = {}
    for name, rows in sets.items():
        answered = model.z(rows) >= cut
        if rows.y.any():
            out[f"{name} answered"] = round(float(answered[rows.y].mean()), 3)
        if (~rows.y).any():
            out[f"{name} refused"] = round(float((~answered[~rows.y]).mean()), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full-index", type=Path, default=TMP / "full-int8")
    parser.add_argument("--quickstart-index", type=Path, default=TMP / "qs-int8")
    parser.add_argument(
        "--write-default",
        action="store_true",
        help=f"write the fitted policy to {DEFAULT_POLICY_FILE.name} and the question head"
        f" to {DEFAULT_HEAD_FILE.name}, the shipped defaults",
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
    for name in FITTED_CHECKS:
        sets[name] = evidence_rows(quickstart, REAL / f"questions-quickstart-{name}.jsonl")
    rows = []
    # Each set was written apart from the others: fitted without one, scored on it.
    for held in ("real-full", *FITTED_CHECKS):
        fitted = [name for name in FITTED if name != held]
        model = fit(sets, fitted)
        rows.append(held_out(model, choose(model, sets, fitted), sets, held))
    model = fit(sets, FITTED)
    cut = choose(model, sets, FITTED)
    every = rates(model, cut, sets)
    print({"fitted on all": every})
    for row in rows:
        print(row)
    counts = {name: int(len(rows_.y)) for name, rows_ in sets.items()}
    real = sum(counts[name] for name in FITTED)
    policy = policy_from_weights(
        model.w,
        cut,
        source=(
            "shipped default: bench/calibrate.py, a logistic regression over the features and"
            f" the question vector of {real} real-style questions (the tuning halves, over the"
            " full corpus and the quickstart, and the check sets spent on earlier code);"
            " cut-off with the fewest errors on them (refusals and wrong answers alike),"
            f" refusing at least {ABSTAIN_DRUGS:.0%} of {counts['drugs']} MedQuAD drug questions"
        ),
    )
    head = QuestionHead(
        quickstart[1].name,
        model.head,
        source=(
            "bench/calibrate.py: the question-vector part of the shipped policy's regression,"
            f" fitted on {real} real-style questions"
        ),
    )
    print(policy)
    if args.write_default:
        write_policy(
            DEFAULT_POLICY_FILE,
            policy,
            fitted={"features": list(FEATURES), "l2": L2, "questions": counts},
        )
        save_head(head, DEFAULT_HEAD_FILE)
        print(f"wrote {DEFAULT_POLICY_FILE} and {DEFAULT_HEAD_FILE}")
    path = write_result(
        "calibration",
        {
            "policy": policy.to_json(),
            "held_out": rows,
            "fitted_on_all": every,
            "counts": counts,
            "l2": L2,
        },
    )
    print(f"wrote {path}")
    print_table(rows)


if __name__ == "__main__":
    main()
