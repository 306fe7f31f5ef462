"""Encoding speed and fidelity of the ways we could run all-MiniLM-L6-v2 on this CPU.

    python bench/bench_embedders.py [--n 256]

Compares PyTorch fp32 (the reference), PyTorch bf16 autocast and ONNX Runtime graphs of the
same model (index/onnx_encoder.build_int8): fp32, the first int8 attempt's settings ("naive":
every MatMul and the embedding tables, one scale per tensor), every MatMul per channel, and the
shipped int8 (per channel, feed-forward down-projections kept fp32), on real passages of the
sample corpus: passages/s on both cores and the cosine of each vector to the fp32 one. The
default embedder must keep cosine >= 0.99. Writes bench/results/embedders.json."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED_CORPUS, print_table, write_result  # noqa: E402

from medcite.index.embedder import SentenceTransformerEmbedder  # noqa: E402
from medcite.index.onnx_encoder import OnnxEmbedder, build_int8  # noqa: E402
from medcite.ingest.chunk import chunk_document, embedding_text  # noqa: E402
from medcite.ingest.readers import read_paths  # noqa: E402


def sample_texts(n: int) -> list[str]:
    """The embedded texts of the first ``n`` passages of the sample corpus."""
    documents = read_paths([SHARED_CORPUS / "sample" / "corpus.jsonl"]).documents
    texts = [
        embedding_text(document.title, p.heading, p.text)
        for document in documents
        for p in chunk_document(document)
    ]
    return texts[:n]


def timed(fn, texts: list[str]) -> tuple[np.ndarray, float]:
    fn(texts[:8])  # warm-up
    started = time.perf_counter()
    vectors = fn(texts)
    return vectors, len(texts) / (time.perf_counter() - started)


def onnx_embedders(work: Path) -> dict:
    """The int8 graph as shipped and the variants that explain it, each run by OnnxEmbedder."""
    out = {}
    for variant in ("fp32", "naive", "all-matmul", "shipped"):
        graph = build_int8(work / f"{variant}.onnx", quantise=variant)
        out[f"onnx-{variant}"] = OnnxEmbedder(graph).embed
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=256)
    args = parser.parse_args()
    import torch

    texts = sample_texts(args.n)
    reference = SentenceTransformerEmbedder()
    candidates = {"torch-fp32": reference.embed}

    def bf16(batch: list[str]) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return reference.embed(batch)

    candidates["torch-bf16"] = bf16
    with tempfile.TemporaryDirectory() as work:
        candidates |= onnx_embedders(Path(work))
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
