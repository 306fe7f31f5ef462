"""Triage: recognise an emergency happening now, before any retrieval.

A message is an emergency when a learned model says so: a logistic regression over

- the mean-pooled state of every layer of the embedding model, from the same forward pass that
  gives the query vector (the sentence vector alone averages away tense, negation and person:
  "i had crushing chest pain two years ago" and "crushing chest pain right now" are close);
- hashed word 1-3-grams and character 3-5-grams of the normalised text (``chat/safety.py``
  fixes typos of the key words first), so "ago", "what should i do if" and "right now" count;
- whether the readable phrase rules of ``chat/safety.py`` fire.

``bench/train_triage.py`` fits it on the tuning split of ``bench/data/triage/`` and writes
``chat/data/triage-model.npz``; the same script reports the check split, which no weight or
cut-off was chosen on. A second, multinomial regression over the layer states names the
situation, which picks the reply from the locale file (``chat/data/locales/en-US.json``).

The model only works with the embedder it was trained on; with another one (the tests' fake
embedder) triage falls back to the rules alone, and says so in ``Triage.describe``.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medcite.chat.safety import match_rules
from medcite.chat.safety import normalise as normalise_words
from medcite.index.embedder import Embedder, weights_of
from medcite.index.errors import MedciteError

DATA = Path(__file__).parent / "data"
DEFAULT_MODEL = DATA / "triage-model.npz"
LEXICAL_BUCKETS = 1 << 18
# Messages longer than this are also read in overlapping windows, so a danger sign in the
# middle of a long story is not averaged away (or cut off at the model's 256 word pieces).
WINDOW_WORDS = 60
LONG_MESSAGE_WORDS = 120
MODEL_FORMAT = 1
NO_HELP = "none"  # the help-line topic of a message that needs none


@dataclass(frozen=True)
class Situation:
    """One kind of emergency: how the reply names it, and what it tells the reader to do."""

    key: str
    name: str
    message: str


@dataclass(frozen=True)
class Locale:
    """The texts that depend on where the reader is: emergency numbers, replies, disclaimer,
    and the help lines an ordinary answer on a sensitive topic starts with."""

    code: str
    disclaimer: str
    fallback: Situation
    situations: Mapping[str, Situation] = field(default_factory=dict)
    help_lines: Mapping[str, str] = field(default_factory=dict)  # topic: "call or text 988..."

    def situation(self, key: str) -> Situation:
        return self.situations.get(key, self.fallback)


def load_locale(name_or_path: str | Path, publisher: str = "NIH") -> Locale:
    """A locale by name (``en-US``, from ``chat/data/locales``) or from a JSON file's path;
    ``publisher`` names who wrote the indexed articles in the disclaimer."""
    path = Path(name_or_path)
    if not path.suffix:
        path = DATA / "locales" / f"{name_or_path}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        situations = {
            key: Situation(key, value["name"], value["message"])
            for key, value in raw["situations"].items()
        }
        fallback = Situation("emergency", raw["fallback"]["name"], raw["fallback"]["message"])
        disclaimer = raw["disclaimer"].format(publisher=publisher)
        help_lines = {str(topic): str(text) for topic, text in raw.get("help_lines", {}).items()}
        return Locale(raw["locale"], disclaimer, fallback, situations, help_lines)
    except FileNotFoundError:
        raise MedciteError(f"no locale file {path}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MedciteError(f"the locale file {path} is not valid: {exc}") from None


@dataclass(frozen=True)
class Emergency:
    """What kind of emergency a message describes, and what to tell the reader."""

    situation: str
    name: str
    message: str
    probability: float  # the model's, or 1.0 when only the rules could judge


@dataclass(frozen=True)
class HelpLine:
    """A calm pointer to a help line for a message that is not an emergency but touches on
    suicide or self-harm ("crisis") or a possible poisoning ("poison"), in any tense or person:
    "my son said last week he wishes he wasn't alive", "my toddler licked a pod, he seems fine"."""

    topic: str
    message: str
    probability: float


@dataclass(frozen=True)
class Reading:
    """What triage made of a message: an emergency, else perhaps a help line; and, when the
    model read it, the message's sentence vector, so retrieval need not embed it again."""

    emergency: Emergency | None
    help_line: HelpLine | None
    vector: np.ndarray | None


# --- features -----------------------------------------------------------------------------


def lexical_features(text: str) -> dict[int, float]:
    """Hashed word 1-3-grams and in-word character 3-5-grams of the normalised text, with
    sublinear counts, L2-normalised: ``{bucket: value}``."""
    words = normalise_words(text).split()
    counts: dict[int, int] = {}
    grams = [" ".join(words[i : i + n]) for n in (1, 2, 3) for i in range(len(words) - n + 1)]
    for word in words:
        padded = f" {word} "
        grams += ["#" + padded[i : i + n] for n in (3, 4, 5) for i in range(len(padded) - n + 1)]
    for gram in grams:
        bucket = zlib.crc32(gram.encode()) % LEXICAL_BUCKETS
        counts[bucket] = counts.get(bucket, 0) + 1
    values = {bucket: 1.0 + math.log(count) for bucket, count in counts.items()}
    norm = math.sqrt(sum(v * v for v in values.values())) or 1.0
    return {bucket: v / norm for bucket, v in values.items()}


def rule_features(text: str) -> np.ndarray:
    """[an urgent phrase fired, a symptom phrase fired] (see ``chat/safety.py``)."""
    found = match_rules(text)
    return np.array([found.urgent, found.symptom], dtype=np.float32)


def segments(text: str) -> list[str]:
    """What triage reads: the whole message, and for a long one, overlapping windows."""
    words = text.split()
    if len(words) <= LONG_MESSAGE_WORDS:
        return [text]
    step = WINDOW_WORDS // 2
    windows = [" ".join(words[i : i + WINDOW_WORDS]) for i in range(0, len(words) - step, step)]
    return [text, *windows]


# --- the model ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TriageModel:
    """Weights fitted by ``bench/train_triage.py``; see the module docstring."""

    embedder: str  # the embedding model whose layer states the weights read
    threshold: float  # an emergency when the probability is at least this
    bias: float
    dense: np.ndarray  # (layer width,)
    lexical: np.ndarray  # (LEXICAL_BUCKETS,)
    rules: np.ndarray  # (2,)
    situations: tuple[str, ...]
    situation_weights: np.ndarray  # (layer width, situations)
    situation_bias: np.ndarray  # (situations,)
    about: Mapping[str, object] = field(default_factory=dict)
    # A third regression over the layer states: which help line, if any, a message that is not
    # an emergency calls for ("none" is a topic too). Empty in a model fitted without one.
    help_topics: tuple[str, ...] = ()
    help_weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    help_bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    help_threshold: float = 1.0

    def probability(self, text: str, layers: np.ndarray) -> float:
        z = self.bias + float(layers @ self.dense) + float(self.rules @ rule_features(text))
        z += sum(self.lexical[bucket] * value for bucket, value in lexical_features(text).items())
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def situation(self, layers: np.ndarray) -> str:
        return self.situations[
            int(np.argmax(layers @ self.situation_weights + self.situation_bias))
        ]

    def help_topic(self, layers: np.ndarray) -> tuple[str, float]:
        """The likeliest help-line topic over the rows of ``layers`` (a message's segments),
        other than "none", and its probability; ("none", 0.0) without a help-line head."""
        if not self.help_topics:
            return NO_HELP, 0.0
        z = layers @ self.help_weights + self.help_bias
        z = np.exp(z - z.max(axis=1, keepdims=True))
        probabilities = z / z.sum(axis=1, keepdims=True)
        probabilities[:, [t == NO_HELP for t in self.help_topics]] = 0.0
        row, column = np.unravel_index(int(np.argmax(probabilities)), probabilities.shape)
        return self.help_topics[column], float(probabilities[row, column])

    def reads_vectors_of(self, embedder: Embedder) -> bool:
        """Whether these weights were fitted on ``embedder``'s model (or its quantisation)."""
        return weights_of(self.embedder) == weights_of(embedder.name)

    def reads(self, width: int) -> bool:
        return width == self.dense.shape[0]


def save_model(model: TriageModel, path: Path) -> None:
    nonzero = np.flatnonzero(model.lexical)
    meta = {
        "format": MODEL_FORMAT,
        "embedder": model.embedder,
        "threshold": model.threshold,
        "bias": model.bias,
        "situations": list(model.situations),
        "help_topics": list(model.help_topics),
        "help_threshold": model.help_threshold,
        "about": dict(model.about),
    }
    np.savez_compressed(
        path,
        meta=np.array(json.dumps(meta)),
        dense=model.dense.astype(np.float32),
        lexical_buckets=nonzero.astype(np.int32),
        lexical_weights=model.lexical[nonzero].astype(np.float32),
        rules=model.rules.astype(np.float32),
        situation_weights=model.situation_weights.astype(np.float32),
        situation_bias=model.situation_bias.astype(np.float32),
        help_weights=model.help_weights.astype(np.float32),
        help_bias=model.help_bias.astype(np.float32),
    )


def load_model(path: Path = DEFAULT_MODEL) -> TriageModel:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != MODEL_FORMAT:
                raise MedciteError(f"the triage model {path} has an unknown format")
            lexical = np.zeros(LEXICAL_BUCKETS, dtype=np.float32)
            lexical[data["lexical_buckets"]] = data["lexical_weights"]
            return TriageModel(
                embedder=meta["embedder"],
                threshold=float(meta["threshold"]),
                bias=float(meta["bias"]),
                dense=data["dense"],
                lexical=lexical,
                rules=data["rules"],
                situations=tuple(meta["situations"]),
                situation_weights=data["situation_weights"],
                situation_bias=data["situation_bias"],
                about=meta.get("about", {}),
                **_help_head(meta, data),
            )
    except FileNotFoundError:
        raise MedciteError(f"no triage model at {path}") from None
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise MedciteError(f"the triage model {path} is not valid: {exc}") from None


def _help_head(meta: Mapping[str, Any], data: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The help-line head's fields, when the model file has one (older files do not)."""
    topics = meta.get("help_topics")
    if not topics or "help_weights" not in data:
        return {}
    return {
        "help_topics": tuple(str(t) for t in topics),
        "help_weights": data["help_weights"],
        "help_bias": data["help_bias"],
        "help_threshold": float(meta["help_threshold"]),
    }


def make_triage(
    locale: str | Path = "en-US", model: Path | None = DEFAULT_MODEL, publisher: str = "NIH"
) -> Triage:
    """Triage with a locale's replies and the model at ``model`` (None: the rules alone)."""
    return Triage(load_locale(locale, publisher), load_model(model) if model else None)


# --- triage -------------------------------------------------------------------------------


class Triage:
    """Decides whether a message is an emergency; built once per process."""

    def __init__(self, locale: Locale, model: TriageModel | None) -> None:
        self.locale = locale
        self.model = model

    def read(self, text: str, embedder: Embedder) -> Reading:
        """Whether ``text`` describes an emergency, else whether it calls for a help line."""
        if self.model is None or not self.model.reads_vectors_of(embedder):
            return Reading(self.assess(text), None, None)
        texts = segments(text)
        vectors, layers = embedder.embed_with_layers(texts)
        emergency = self.assess(text, texts, layers)
        help_line = None if emergency is not None else self.help_line(layers)
        return Reading(emergency, help_line, vectors[0])

    def check(self, text: str, embedder: Embedder) -> tuple[Emergency | None, np.ndarray | None]:
        """The emergency ``text`` describes, or None; and, when the model read it, the
        message's sentence vector."""
        reading = self.read(text, embedder)
        return reading.emergency, reading.vector

    def help_line(self, layers: np.ndarray) -> HelpLine | None:
        """The help line for a message whose segments have these layer states, if any."""
        if self.model is None or not self.model.reads(layers.shape[1]):
            return None
        topic, probability = self.model.help_topic(layers)
        message = self.locale.help_lines.get(topic)
        if message is None or probability < self.model.help_threshold:
            return None
        return HelpLine(topic, message, probability)

    def assess(
        self, text: str, texts: Sequence[str] = (), layers: np.ndarray | None = None
    ) -> Emergency | None:
        """The emergency ``text`` describes, or None. ``texts`` are its ``segments`` and
        ``layers`` their layer states, when the model can read them; else the rules decide."""
        if self.model is None or layers is None or not self.model.reads(layers.shape[1]):
            return self._by_rules(text)
        scores = [self.model.probability(t, row) for t, row in zip(texts, layers, strict=True)]
        best = int(np.argmax(scores))
        if scores[best] < self.model.threshold:
            return None
        situation = self.locale.situation(self.model.situation(layers[best]))
        return Emergency(situation.key, situation.name, situation.message, scores[best])

    def _by_rules(self, text: str) -> Emergency | None:
        found = match_rules(text).situation
        if found is None:
            return None
        situation = self.locale.situation(found)
        return Emergency(situation.key, situation.name, situation.message, 1.0)

    def describe(self, embedder: Embedder | None = None) -> str:
        if self.model is None:
            return "rules only (no model)"
        if embedder is not None and not self.model.reads_vectors_of(embedder):
            return f"rules only (the model reads {self.model.embedder}, not {embedder.name})"
        return f"model for {self.model.embedder}, threshold {self.model.threshold:.3f}"
