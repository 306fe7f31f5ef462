"""Calibrating when `ask` answers: fit the abstention policy (``answer.AbstainPolicy``) to an
index's own questions, store it beside that index's manifest, and find the policy in force.

The features are the ``answer.Evidence`` that ``ask`` itself computes for each question
(spelling, focus, follow-up, hybrid search, ``answer_evidence``): the questions are run
through ``ask`` with a policy that records what it is handed, so calibration can never drift
from answering. The model is a logistic regression of answerable against unanswerable
questions, fitted by Newton's method with numpy (a small L2 term keeps the weights finite
when the two groups separate); the cut-off is the highest one that still answers the
requested share of the answerable questions.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medcite.chat.answer import (
    DEFAULT_HEAD,
    DEFAULT_POLICY,
    FEATURE_WEIGHTS,
    AbstainPolicy,
    Evidence,
    ask,
)
from medcite.chat.evaluation.questions import Question
from medcite.chat.question_kind import QuestionHead
from medcite.chat.triage import Emergency, Triage, load_locale
from medcite.index import layout
from medcite.index.embedder import Embedder
from medcite.index.errors import InputError, MedciteError
from medcite.index.reader import Index

DEFAULT_ANSWER_RATE = 0.9
L2 = 1e-4


class NoTriage(Triage):
    """Lets every question through to retrieval: the policy is fitted on the evidence of
    every question, whatever triage would say of it."""

    def __init__(self) -> None:
        super().__init__(load_locale("en-US"), None)

    def check(self, text: str, embedder: Embedder) -> tuple[Emergency | None, np.ndarray | None]:
        return None, None


@dataclass(frozen=True)
class _RecordingPolicy(AbstainPolicy):
    """A policy that keeps the Evidence ``ask`` hands it."""

    seen: list[Evidence] = field(default_factory=list, compare=False)

    def confidence(self, evidence: Evidence) -> float:
        self.seen.append(evidence)
        return super().confidence(evidence)


def collect_evidence(
    index: Index,
    embedder: Embedder,
    questions: Sequence[str],
    head: QuestionHead = DEFAULT_HEAD,
) -> list[Evidence | None]:
    """``ask``'s evidence for each question, in order; None for a question ``ask`` answers
    without judging any evidence (a follow-up with nothing to follow: "which do you mean?")."""
    triage = NoTriage()
    out: list[Evidence | None] = []
    for text in questions:
        recorder = _RecordingPolicy()
        ask(index, embedder, text, triage=triage, policy=recorder, head=head)
        out.append(recorder.seen[-1] if recorder.seen else None)
    return out


FEATURES = tuple(feature for feature, _ in FEATURE_WEIGHTS)


def feature_rows(evidence: Sequence[Evidence]) -> np.ndarray:
    """One row [1, *FEATURES] per question."""
    rows = [[1.0, *(float(getattr(e, name)) for name in FEATURES)] for e in evidence]
    return np.array(rows, dtype=np.float64).reshape(len(rows), 1 + len(FEATURES))


def policy_from_weights(w: np.ndarray, threshold: float, source: str) -> AbstainPolicy:
    """The policy for logistic weights ``w`` (bias first, then ``FEATURES``) and a cut-off on
    the linear score, shifted so that confidence 0.5 is the cut-off."""
    weights = {name: float(value) for (_, name), value in zip(FEATURE_WEIGHTS, w[1:], strict=True)}
    return AbstainPolicy(bias=float(w[0] - threshold), threshold=0.5, source=source, **weights)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, steps: int = 100) -> np.ndarray:
    """Weights of a logistic regression of ``y`` (1 or 0) on the rows of ``x`` (first column
    all ones: the bias, which is not penalised), by Newton's method on the L2-regularised mean
    log loss."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(steps):
        p = 0.5 * (1.0 + np.tanh(0.5 * (x @ w)))  # the logistic function, without overflow
        gradient = x.T @ (p - y) / len(y) + penalty * w
        hessian = (x.T * (p * (1 - p))) @ x / len(y) + np.diag(penalty) + 1e-12 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.max(np.abs(step))) < 1e-9:
            break
    return w


def cut_off(z_answerable: np.ndarray, answer_rate: float) -> float:
    """The highest cut-off on the scores ``z`` that still answers (z >= cut-off) at least
    ``answer_rate`` of the answerable questions."""
    ranked = np.sort(np.asarray(z_answerable, dtype=np.float64))[::-1]
    need = max(1, math.ceil(answer_rate * len(ranked) - 1e-9))
    z = float(ranked[need - 1])
    # A hair lower, so that rounding in AbstainPolicy.confidence cannot drop the last one.
    return z - 1e-9 * max(1.0, abs(z))


def fit_policy(
    answerable: Sequence[Evidence],
    unanswerable: Sequence[Evidence],
    *,
    answer_rate: float = DEFAULT_ANSWER_RATE,
    source: str = "",
    l2: float = L2,
) -> AbstainPolicy:
    """The policy separating the two groups, shifted so that confidence 0.5 is the cut-off."""
    if not answerable or not unanswerable:
        raise InputError("calibration needs both answerable and unanswerable questions")
    if not 0.0 < answer_rate <= 1.0:
        raise InputError(f"the answer rate must be above 0 and at most 1, not {answer_rate}")
    a, u = feature_rows(answerable), feature_rows(unanswerable)
    w = fit_logistic(np.vstack([a, u]), np.r_[np.ones(len(a)), np.zeros(len(u))], l2=l2)
    return policy_from_weights(w, cut_off(a @ w, answer_rate), source)


def require_both_kinds(questions: Sequence[Question], name: str) -> None:
    """Refuse a question set that has no answerable or no unanswerable question."""
    answerable = sum(q.answerable for q in questions)
    for count, kind in ((answerable, "answerable"), (len(questions) - answerable, "unanswerable")):
        if not count:
            raise InputError(
                f"{name} has no {kind} questions: calibration needs both answerable and"
                " unanswerable ones"
            )


@dataclass(frozen=True)
class Calibration:
    """A fitted policy and how it does on the questions it was fitted on."""

    policy: AbstainPolicy
    answerable: int
    unanswerable: int
    skipped: int  # questions ``ask`` answers with "which do you mean?", judged on no evidence
    answered: float  # share of the answerable questions the policy answers
    abstained: float  # share of the unanswerable questions it refuses
    answer_rate: float

    def to_json(self) -> dict[str, object]:
        return {
            "answer_rate": self.answer_rate,
            "questions": {
                "answerable": self.answerable,
                "unanswerable": self.unanswerable,
                "skipped": self.skipped,
            },
            "answered_answerable": round(self.answered, 4),
            "abstained_unanswerable": round(self.abstained, 4),
            "features": list(FEATURES),
            "l2": L2,
        }


def calibrate(
    index: Index,
    embedder: Embedder,
    questions: Sequence[Question],
    *,
    answer_rate: float = DEFAULT_ANSWER_RATE,
    source: str = "",
    name: str = "the questions",
) -> Calibration:
    """Fit the abstention policy on ``questions`` over ``index``."""
    require_both_kinds(questions, name)
    evidence = collect_evidence(index, embedder, [q.text for q in questions])
    judged = [(q, e) for q, e in zip(questions, evidence, strict=True) if e is not None]
    answerable = [e for q, e in judged if q.answerable]
    unanswerable = [e for q, e in judged if not q.answerable]
    if not answerable or not unanswerable:
        raise InputError(
            f"{name}: too few questions left once those that need a topic first were set aside"
        )
    policy = fit_policy(answerable, unanswerable, answer_rate=answer_rate, source=source)
    return Calibration(
        policy=policy,
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        skipped=len(questions) - len(judged),
        answered=_share(policy, answerable, answered=True),
        abstained=_share(policy, unanswerable, answered=False),
        answer_rate=answer_rate,
    )


def _share(policy: AbstainPolicy, evidence: Sequence[Evidence], *, answered: bool) -> float:
    given = [policy.confidence(e) >= policy.threshold for e in evidence]
    return sum(g == answered for g in given) / len(given)


def write_policy(path: Path, policy: AbstainPolicy, **extra: object) -> None:
    """Write a policy file atomically (a reader sees the old file or the new one)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(policy.to_json(**extra), indent=2) + "\n", encoding="utf-8")
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def save_for_index(root: Path, index: Index, calibration: Calibration) -> str:
    """Store the policy with ``index``, which must still be the current generation of ``root``
    (an ingest that committed meanwhile carried the old policy): beside the manifest, or in the
    Milvus collections of a Milvus index. Returns where it went."""
    policy = calibration.policy.to_json(fitted=calibration.to_json())
    if index.directory is None:
        from medcite.index import milvus

        assert isinstance(index, milvus.MilvusIndex)
        milvus.store_policy(index.client, index.name, index.generation, json.dumps(policy))
        return f"Milvus collection {index.collections['meta']}"
    with layout.writer_lock(root):
        if layout.current_generation(root) != index.directory:
            raise MedciteError(
                f"a new generation of {root} was committed while calibrating; run calibrate again"
            )
        path = layout.policy_path(index.directory)
        write_policy(path, calibration.policy, fitted=calibration.to_json())
    return str(path)


def policy_file(index: Index) -> str | None:
    """Where the index's own policy is, when it has one."""
    if index.own_policy() is not None:
        return f"Milvus collection {getattr(index, 'collections', {}).get('meta', '')}"
    if index.directory is None:
        return None
    path = layout.policy_path(index.directory)
    return str(path) if path.is_file() else None


def policy_for(index: Index) -> AbstainPolicy:
    """The policy in force for ``index``: its own (from `medcite calibrate`: a file in its
    generation, or a record in Milvus) when there is one, else the shipped default. A file is
    re-read only when it changes."""
    own = index.own_policy()
    if own is not None:
        return _parse_policy(own, str(index.root))
    if index.directory is None:
        return DEFAULT_POLICY
    path = layout.policy_path(index.directory)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return DEFAULT_POLICY
    return _load_policy(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _load_policy(path: Path, mtime_ns: int, size: int) -> AbstainPolicy:
    return AbstainPolicy.load(path)


@functools.lru_cache(maxsize=16)
def _parse_policy(text: str, where: str) -> AbstainPolicy:
    return AbstainPolicy.parse(text, where)
