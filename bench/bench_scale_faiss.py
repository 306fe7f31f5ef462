"""FAISS index kinds at 1M and 5M synthetic passage vectors, for the README's "Scaling out".

    python bench/bench_scale_faiss.py [--sizes 1000000,5000000] [--queries 500]
        [--kinds flat,hnsw,ivfpq] [--out bench/results/scale-faiss.json] [--threads 1]

For each kind and size: build time (train + add), memory (the serialized index size, counted
as faiss.serialize_index would without making the copy, and the growth of this process's
VmRSS), single-query latency p50/p95 with one thread, and recall@10 against exact search.

- flat: IndexFlatIP, exact.
- hnsw: IndexHNSWFlat, inner product, M=32, efConstruction=40; searched with efSearch 64, 128.
- ivfpq: IndexIVFPQ, inner product, nlist = 4*sqrt(N) rounded to a power of two, PQ 48 x 8
  bits, trained on the first 200k vectors; searched with nprobe 16, 64. Also "ivfpq+refine":
  the same index wrapped in IndexRefine over an IndexFlatIP of the float vectors, which
  re-ranks the k_factor*10 PQ candidates exactly (stores the floats again, so no memory win).

The vectors are synthetic but clustered like real ones: a random real passage vector of the
local index (full-int8 in the ignored scratch folder bench/results/tmp, ~30k vectors) plus
gaussian noise sized for a cosine of about 0.875 to its source, re-normalised. They are
generated in 100k chunks from a fixed seed per chunk, so each build regenerates them rather
than keeping a second copy. Queries are made the same way with another seed. Ground truth is
an exact IndexFlatIP search over the same chunks. If the local index is missing, random
gaussian
centres stand in for the real vectors (the JSON says which).

If an HNSW build at a size would take over 40 minutes on one thread (estimated from the
previous HNSW build of this run), it uses two threads; if even that would exceed
--hnsw-cap-minutes, it is built at a smaller size and scaled up, marked "measured": false.
Writes the JSON after each (kind, size) and a Markdown table next to it (same name, .md)."""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, machine, peak_rss_mb  # noqa: E402

DIM = 384
K = 10
CHUNK = 100_000
SEED = 20_251_127
TARGET_COS = 0.875
TRAIN_SAMPLE = 200_000
REAL_INDEX = RESULTS / "tmp" / "full-int8"
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 40, (64, 128)
PQ_M, PQ_BITS, NPROBES = 48, 8, (16, 64)
ONE_THREAD_LIMIT_S = 40 * 60
TWO_THREAD_SPEEDUP = 1.8  # assumed when estimating a two-thread HNSW build from a one-thread one

STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:8.1f}s] {message}", flush=True)


def rss_mb() -> float:
    """Current resident memory of this process (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def serialized_bytes(index: faiss.Index) -> int:
    """len(faiss.serialize_index(index)), counted through a callback instead of a copy."""
    total = 0

    def count(buffer: bytes) -> None:
        nonlocal total
        total += len(buffer)

    writer = faiss.PyCallbackIOWriter(count)  # type: ignore[attr-defined]  # not in the stubs
    faiss.write_index(index, writer)
    return total


# --- data ----------------------------------------------------------------------------------


@dataclass
class Dataset:
    sources: np.ndarray  # real (or stand-in) unit vectors the synthetic ones are made from
    sigma: float
    origin: str


def real_vectors(directory: Path) -> np.ndarray | None:
    """The passage vectors of the current generation of a local medcite index, if any."""
    current = directory / "CURRENT"
    if not current.is_file():
        return None
    path = directory / current.read_text().strip() / "vectors.faiss"
    if not path.is_file():
        return None
    stored = faiss.read_index(str(path))
    inner = stored  # an IndexIDMap(2) keeps the vectors in the index it wraps (and owns)
    if isinstance(stored, faiss.IndexIDMap | faiss.IndexIDMap2):
        inner = faiss.downcast_index(stored.index)
    vectors: np.ndarray = inner.reconstruct_n(0, inner.ntotal)
    return vectors


def load_dataset(directory: Path) -> Dataset:
    sources = real_vectors(directory)
    origin = f"real passage vectors of {directory.name}"
    if sources is None:
        rng = np.random.default_rng(SEED - 1)
        sources = normalised(rng.standard_normal((30_000, DIM), dtype=np.float32))
        origin = "fallback: 30k random gaussian centres (local index missing)"
    # |noise|^2 = sigma^2 * DIM, so cos(source, source + noise) ~ 1 / sqrt(1 + sigma^2 * DIM).
    sigma = math.sqrt((1 / TARGET_COS**2 - 1) / DIM)
    return Dataset(np.ascontiguousarray(sources, dtype=np.float32), sigma, origin)


def normalised(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def noisy(data: Dataset, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` unit vectors, each a random source vector plus gaussian noise."""
    picks = rng.integers(0, len(data.sources), count)
    x = rng.standard_normal((count, DIM), dtype=np.float32)
    x *= data.sigma
    x += data.sources[picks]
    return normalised(x)


def chunks(data: Dataset, n: int) -> Iterator[np.ndarray]:
    """The first ``n`` base vectors, 100k at a time; chunk i is the same at every size."""
    for i, start in enumerate(range(0, n, CHUNK)):
        yield noisy(data, min(CHUNK, n - start), np.random.default_rng([SEED, i]))


def make_queries(data: Dataset, count: int) -> np.ndarray:
    return noisy(data, count, np.random.default_rng(SEED + 1))


def source_cosine(data: Dataset) -> float:
    """Mean cosine between a synthetic vector and the real vector it was made from."""
    rng = np.random.default_rng(SEED + 2)
    picks = rng.integers(0, len(data.sources), 10_000)
    x = data.sources[picks] + data.sigma * rng.standard_normal((10_000, DIM), dtype=np.float32)
    return float(np.mean(np.sum(normalised(x) * data.sources[picks], axis=1)))


def ground_truth(data: Dataset, n: int, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-K scores and ids over the n base vectors, one chunk at a time."""
    heap = faiss.ResultHeap(len(queries), K, keep_max=True)
    for i, chunk in enumerate(chunks(data, n)):
        flat = faiss.IndexFlatIP(DIM)
        flat.add(chunk)
        scores, ids = flat.search(queries, K)
        heap.add_result(scores, ids + i * CHUNK)
    heap.finalize()
    return heap.D, heap.I


# --- building ------------------------------------------------------------------------------


def add_all(index: faiss.Index, data: Dataset, n: int, label: str) -> float:
    """Add the n base vectors to ``index``; seconds spent in index.add (not generating the
    vectors), with a progress line every 10 chunks."""
    spent = 0.0
    for i, chunk in enumerate(chunks(data, n)):
        started = time.perf_counter()
        index.add(chunk)
        spent += time.perf_counter() - started
        done = min(n, (i + 1) * CHUNK)
        if (i + 1) % 10 == 0 and done < n:
            left = spent * (n / done - 1)
            log(f"  {label}: added {done:,}/{n:,} in {spent:.0f}s, ~{left:.0f}s left")
    return spent


def build_flat(data: Dataset, n: int) -> tuple[faiss.Index, float]:
    index = faiss.IndexFlatIP(DIM)
    return index, 0.0


def build_hnsw(data: Dataset, n: int) -> tuple[faiss.Index, float]:
    index = faiss.IndexHNSWFlat(DIM, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    return index, 0.0


def nlist_for(n: int) -> int:
    return 2 ** round(math.log2(4 * math.sqrt(n)))


def build_ivfpq(data: Dataset, n: int) -> tuple[faiss.Index, float]:
    """An empty trained IVF-PQ index and the seconds its training took."""
    quantizer = faiss.IndexFlatIP(DIM)
    index = faiss.IndexIVFPQ(
        quantizer, DIM, nlist_for(n), PQ_M, PQ_BITS, faiss.METRIC_INNER_PRODUCT
    )
    sample = np.concatenate(list(chunks(data, min(TRAIN_SAMPLE, n))))
    started = time.perf_counter()
    index.train(sample)
    return index, time.perf_counter() - started


BUILDERS: dict[str, Callable[[Dataset, int], tuple[faiss.Index, float]]] = {
    "flat": build_flat,
    "hnsw": build_hnsw,
    "ivfpq": build_ivfpq,
}


@dataclass
class Built:
    index: faiss.Index
    train_s: float
    add_s: float
    rss_growth_mb: float
    serialized_mb: float


def build(kind: str, data: Dataset, n: int) -> Built:
    gc.collect()
    before = rss_mb()
    log(f"{kind} @ {n:,}: building")
    index, train_s = BUILDERS[kind](data, n)
    if train_s:
        log(f"  {kind}: trained in {train_s:.1f}s")
    add_s = add_all(index, data, n, kind)
    gc.collect()
    growth = rss_mb() - before
    size = serialized_bytes(index) / 2**20
    log(f"  {kind}: built in {train_s + add_s:.1f}s, {size:,.0f} MiB, RSS +{growth:,.0f} MiB")
    return Built(index, train_s, add_s, growth, size)


def add_refine(built: Built, data: Dataset, n: int, k_factor: int) -> tuple[faiss.Index, Built]:
    """Wrap a built IVF-PQ index in an exact re-rank over a flat copy of the vectors."""
    before = rss_mb()
    flat = faiss.IndexFlatIP(DIM)
    add_s = add_all(flat, data, n, "refine flat")
    refine = faiss.IndexRefine(built.index, flat)
    refine.k_factor = k_factor
    gc.collect()
    growth = built.rss_growth_mb + rss_mb() - before
    size = serialized_bytes(refine) / 2**20
    log(f"  refine: flat added in {add_s:.1f}s, {size:,.0f} MiB serialized")
    return flat, Built(refine, built.train_s, built.add_s + add_s, growth, size)


# --- searching -----------------------------------------------------------------------------


def measure(index: faiss.Index, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Single-query latency p50/p95 (ms) and recall@10 against ``truth``."""
    for q in queries[:10]:  # warm-up
        index.search(q.reshape(1, -1), K)
    found = np.empty((len(queries), K), dtype=np.int64)
    times = np.empty(len(queries))
    for i in range(len(queries)):
        started = time.perf_counter()
        _, ids = index.search(queries[i : i + 1], K)
        times[i] = time.perf_counter() - started
        found[i] = ids[0]
    recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)])
    return {
        "p50_ms": round(float(np.percentile(times, 50)) * 1000, 3),
        "p95_ms": round(float(np.percentile(times, 95)) * 1000, 3),
        "recall_at_10": round(float(recall), 4),
    }


def row(kind: str, n: int, params: str, built: Built, found: dict[str, float]) -> dict[str, object]:
    return {
        "kind": kind,
        "size": n,
        "params": params,
        "measured": True,
        "train_s": round(built.train_s, 1),
        "build_s": round(built.train_s + built.add_s, 1),
        "serialized_mb": round(built.serialized_mb, 1),
        "rss_growth_mb": round(built.rss_growth_mb, 1),
        **found,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def searches(
    kind: str, n: int, built: Built, queries: np.ndarray, truth: np.ndarray
) -> list[dict[str, object]]:
    """One row per search setting of the built index."""
    index = built.index
    if isinstance(index, faiss.IndexFlat):
        return [row(kind, n, "exact", built, measure(index, queries, truth))]
    rows = []
    if isinstance(index, faiss.IndexHNSWFlat):
        for ef in HNSW_EF_SEARCH:
            index.hnsw.efSearch = ef
            rows.append(row(kind, n, f"efSearch={ef}", built, measure(index, queries, truth)))
        return rows
    ivf = index
    params = f"m={PQ_M}"
    if isinstance(index, faiss.IndexRefine):
        ivf = faiss.downcast_index(index.base_index)
        params += f" k_factor={index.k_factor:g}"
    assert isinstance(ivf, faiss.IndexIVFPQ)
    params = f"nlist={ivf.nlist} {params}"
    for nprobe in NPROBES:
        ivf.nprobe = nprobe
        rows.append(
            row(kind, n, f"{params} nprobe={nprobe}", built, measure(index, queries, truth))
        )
    return rows


# --- HNSW time budget ----------------------------------------------------------------------


@dataclass
class HnswPlan:
    build_n: int
    threads: int
    estimate_s: float


def hnsw_estimate(n: int, previous: tuple[int, float] | None) -> float:
    """One-thread build seconds at n, scaled as n log n from an earlier (size, seconds)."""
    if previous is None:
        return 0.0
    n0, s0 = previous
    return s0 * (n / n0) * (math.log(n) / math.log(n0))


def hnsw_plan(n: int, previous: tuple[int, float] | None, cap_s: float, threads: int) -> HnswPlan:
    estimate = hnsw_estimate(n, previous)
    if estimate <= ONE_THREAD_LIMIT_S:
        return HnswPlan(n, threads, estimate)
    if estimate / TWO_THREAD_SPEEDUP <= cap_s:
        return HnswPlan(n, 2, estimate / TWO_THREAD_SPEEDUP)
    build_n = n
    while build_n > CHUNK * 5 and hnsw_estimate(build_n, previous) / TWO_THREAD_SPEEDUP > cap_s:
        build_n -= CHUNK * 5
    return HnswPlan(build_n, 2, hnsw_estimate(build_n, previous) / TWO_THREAD_SPEEDUP)


def extrapolate(rows: list[dict[str, object]], n: int) -> list[dict[str, object]]:
    """Scale rows measured at a smaller size to n: time as n log n, memory linearly, latency as
    log n; recall is copied from the smaller size (so likely optimistic)."""
    scaled = []
    for measured in rows:
        m = int(str(measured["size"]))
        linear, nlogn, logn = n / m, n * math.log(n) / (m * math.log(m)), math.log(n) / math.log(m)
        out = dict(measured, size=n, measured=False, measured_at=m)
        for key, factor in (
            ("build_s", nlogn),
            ("serialized_mb", linear),
            ("rss_growth_mb", linear),
        ):
            out[key] = round(float(str(measured[key])) * factor, 1)
        for key in ("p50_ms", "p95_ms"):
            out[key] = round(float(str(measured[key])) * logn, 3)
        scaled.append(out)
    return scaled


# --- output --------------------------------------------------------------------------------


def markdown(rows: list[dict[str, object]]) -> str:
    lines = [
        "| kind | vectors | params | build s | serialized MiB | RSS growth MiB "
        "| p50 ms | p95 ms | recall@10 |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mark = "" if r["measured"] else f" (extrapolated from {int(str(r['measured_at'])):,})"
        lines.append(
            f"| {r['kind']}{mark} | {int(str(r['size'])):,} | {r['params']} | {r['build_s']} "
            f"| {r['serialized_mb']} | {r['rss_growth_mb']} | {r['p50_ms']} | {r['p95_ms']} "
            f"| {r['recall_at_10']} |"
        )
    return "\n".join(lines) + "\n"


def write(out: Path, result: dict[str, object], rows: list[dict[str, object]]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    result["rows"] = rows
    result["elapsed_s"] = round(time.perf_counter() - STARTED, 1)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(rows), encoding="utf-8")


def log_row(r: dict[str, object]) -> None:
    log(
        f"  {r['kind']} {r['params']}: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, "
        f"recall@10 {r['recall_at_10']}"
    )


def run_kind(
    kind: str, n: int, data: Dataset, queries: np.ndarray, truth: np.ndarray, refine_k: int
) -> list[dict[str, object]]:
    built = build(kind, data, n)
    rows = searches(kind, n, built, queries, truth)
    if kind == "ivfpq" and refine_k:
        flat, refined = add_refine(built, data, n, refine_k)
        rows += searches("ivfpq+refine", n, refined, queries, truth)
        del flat, refined
    del built
    gc.collect()
    for r in rows:
        log_row(r)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--kinds", default="flat,hnsw,ivfpq")
    parser.add_argument("--out", type=Path, default=RESULTS / "scale-faiss.json")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--refine-k-factor", type=int, default=4, help="0: no ivfpq+refine rows")
    parser.add_argument("--hnsw-cap-minutes", type=float, default=45)
    parser.add_argument("--index", type=Path, default=REAL_INDEX, help="real vectors to start from")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = [k.strip() for k in args.kinds.split(",")]
    unknown = set(kinds) - set(BUILDERS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}; use {', '.join(BUILDERS)}")
    faiss.omp_set_num_threads(args.threads)

    data = load_dataset(args.index)
    queries = make_queries(data, args.queries)
    truth_info: dict[str, object] = {}
    hnsw_builds: dict[str, object] = {}
    result: dict[str, object] = {
        "machine": {**machine(), "faiss": faiss.__version__, "search_threads": args.threads},
        "data": {
            "origin": data.origin,
            "source_vectors": len(data.sources),
            "noise_sigma": round(data.sigma, 5),
            "cosine_to_source": round(source_cosine(data), 4),
            "seed": SEED,
            "queries": len(queries),
        },
        "config": {
            "k": K,
            "hnsw": {
                "M": HNSW_M,
                "efConstruction": HNSW_EF_CONSTRUCTION,
                "efSearch": HNSW_EF_SEARCH,
            },
            "ivfpq": {
                "nlist": {n: nlist_for(n) for n in sizes},
                "pq_m": PQ_M,
                "pq_bits": PQ_BITS,
                "nprobe": NPROBES,
                "train_sample": TRAIN_SAMPLE,
                "metric": "inner product",
                "refine_k_factor": args.refine_k_factor,
            },
        },
        "truth": truth_info,
        "hnsw_builds": hnsw_builds,
    }
    log(f"data: {data.origin}, sigma {data.sigma:.4f}")
    rows: list[dict[str, object]] = []
    previous_hnsw: tuple[int, float] | None = None
    for n in sizes:
        log(f"ground truth @ {n:,}")
        scores, truth = ground_truth(data, n, queries)
        truth_info[str(n)] = {
            "mean_top1_cosine": round(float(scores[:, 0].mean()), 4),
            "mean_top10_cosine": round(float(scores[:, -1].mean()), 4),
        }
        log(f"  top-1 cosine {scores[:, 0].mean():.4f}, 10th {scores[:, -1].mean():.4f}")
        for kind in kinds:
            if kind != "hnsw":
                rows += run_kind(kind, n, data, queries, truth, args.refine_k_factor)
                write(args.out, result, rows)
                continue
            plan = hnsw_plan(n, previous_hnsw, args.hnsw_cap_minutes * 60, args.threads)
            log(
                f"hnsw plan @ {n:,}: build {plan.build_n:,} on {plan.threads} thread(s), "
                f"estimate {plan.estimate_s:.0f}s"
            )
            faiss.omp_set_num_threads(plan.threads)
            built_truth = (
                truth if plan.build_n == n else ground_truth(data, plan.build_n, queries)[1]
            )
            built = build("hnsw", data, plan.build_n)
            faiss.omp_set_num_threads(args.threads)
            hnsw_builds[str(n)] = {
                "built_at": plan.build_n,
                "threads": plan.threads,
                "build_s": round(built.add_s, 1),
                "estimate_s": round(plan.estimate_s),
            }
            if plan.threads == 1:
                previous_hnsw = (plan.build_n, built.add_s)
            hnsw_rows = searches("hnsw", plan.build_n, built, queries, built_truth)
            for r in hnsw_rows:
                r["build_threads"] = plan.threads
                if plan.threads > 1:
                    r["params"] = f"{r['params']} (built on {plan.threads} threads)"
            del built
            gc.collect()
            rows += hnsw_rows if plan.build_n == n else extrapolate(hnsw_rows, n)
            for r in hnsw_rows:
                log_row(r)
            write(args.out, result, rows)
    log(f"done; wrote {args.out} and {args.out.with_suffix('.md')}")
    print(markdown(rows))


if __name__ == "__main__":
    main()
