"""How much a question reads like the questions the articles answer, from its meaning alone.

Whether the articles cover a question is mostly judged from what retrieval found (the abstention
policy, ``answer.AbstainPolicy``). Some questions give themselves away whatever is found: a dose
of a named medicine, a jumper cable, a diagnosis the articles never name. A linear head over the
question's sentence vector (the one retrieval embeds anyway, so it costs a dot product) scores
that: positive for the kind of question the articles answer, negative for the kind they do not.
Its score is the ``kind`` feature of the answer evidence, weighted by the policy like the others,
so `medcite calibrate` re-weights it for an index's own questions without refitting the head.

The head is fitted by ``bench/calibrate.py`` together with the shipped policy, on real-style
questions (answerable and not) over the bundled and the full corpus, and ships as
``chat/data/question-head.json``. It reads only the vectors of the model it was fitted on (or
its int8 quantisation); with any other embedder (the tests' fake one) the score is 0.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medcite.index.embedder import Embedder, weights_of
from medcite.index.errors import MedciteError

HEAD_FORMAT = "medcite-question-head"
DEFAULT_HEAD_FILE = Path(__file__).parent / "data" / "question-head.json"


@dataclass(frozen=True)
class QuestionHead:
    """``score(vector) = vector @ weights`` for vectors of the ``embedder`` model."""

    embedder: str  # the embedding model whose sentence vectors the weights read
    weights: np.ndarray = field(compare=False)  # (vector width,)
    source: str = field(default="", compare=False)  # how it was fitted

    def reads_vectors_of(self, model: str) -> bool:
        """Whether the weights were fitted on ``model``'s vectors (or its quantisation's)."""
        return weights_of(self.embedder) == weights_of(model)

    def score(self, vector: np.ndarray, embedder: Embedder) -> float:
        """The head's score of a question's sentence ``vector``; 0 when the head cannot read
        ``embedder``'s vectors."""
        if not self.reads_vectors_of(embedder.name):
            return 0.0
        if vector.shape != self.weights.shape:
            return 0.0
        return float(np.asarray(vector, dtype=np.float64) @ self.weights)

    def to_json(self) -> dict[str, object]:
        return {
            "format": HEAD_FORMAT,
            "embedder": self.embedder,
            "source": self.source,
            "weights": [round(float(w), 5) for w in self.weights],
        }


def save_head(head: QuestionHead, path: Path) -> None:
    path.write_text(json.dumps(head.to_json()) + "\n", encoding="utf-8")


def load_head(path: Path = DEFAULT_HEAD_FILE) -> QuestionHead:
    """Read a head file; ``MedciteError`` names the file and what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MedciteError(f"the question head {path} cannot be read: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != HEAD_FORMAT:
        raise MedciteError(f"{path} is not a medcite question head file")
    weights = data.get("weights")
    embedder = data.get("embedder")
    if not isinstance(embedder, str) or not isinstance(weights, list) or not weights:
        raise MedciteError(f"{path} lacks its embedder or weights")
    if not all(
        isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) for w in weights
    ):
        raise MedciteError(f"{path}: the weights must be finite numbers")
    source = data.get("source", "")
    return QuestionHead(
        embedder, np.array(weights, dtype=np.float64), source if isinstance(source, str) else ""
    )
