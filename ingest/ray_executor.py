"""Ingest on Ray: files read and documents chunked as Ray Data datasets, passages embedded by
an actor pool (one model load per actor), results streamed back in batches to the ingest,
which writes them to the store (``pipeline.Executor``).

    medcite ingest --executor ray [--ray-address ADDR] PATH...

Without an address a local Ray starts in this process (one actor per CPU); with one, the
cluster's workers need medcite installed and the files at the same paths. Documents and
passages travel between processes pickled, inside our own pipeline only.

Checksums, the store and the all-or-nothing switch stay in the calling process, so a Ray
ingest gives the same index as an in-process one: the int8 encoder embeds each text alone,
so a vector never depends on the batch or the actor it was computed in.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medcite.index.embedder import Embedder
from medcite.index.errors import MedciteError
from medcite.index.types import Document, Passage
from medcite.ingest.chunk import chunk_document
from medcite.ingest.readers import ReadReport, files_to_read, merge_reads, read_file

# Texts per actor call, at most: Ray's per-batch overhead (~40 ms) is small next to ~10 s
# of encoding. A small ingest gets smaller batches, at least BATCHES_PER_ACTOR per actor, so
# that no actor idles while another finishes a long one (sample corpus, 2 actors: batches of
# 64 gave 20.4 passages/s, of 256 16.8/s; bench/results/ingest-ray-b*.json).
EMBED_BATCH = 256
BATCHES_PER_ACTOR = 4
# Files and documents per task when reading and chunking.
READ_BATCH = 64


class RayError(MedciteError):
    """Ray is not installed, or the cluster could not be reached or failed the job."""


class _Encoder:
    """A Ray actor's model, loaded once when the actor starts."""

    def __init__(self, factory: Callable[[], Embedder]) -> None:
        self.embedder = factory()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed([str(text) for text in batch["text"]])
        return {"position": batch["position"], "vector": vectors.astype(np.float32)}


def _read_batch(batch: dict[str, np.ndarray], max_bytes: int) -> dict[str, np.ndarray]:
    reports = [pickle.dumps(read_file(Path(str(path)), max_bytes)) for path in batch["path"]]
    return {"position": batch["position"], "report": np.array(reports, dtype=object)}


def _chunk_batch(batch: dict[str, np.ndarray], max_words: int) -> dict[str, np.ndarray]:
    chunks = [
        pickle.dumps(chunk_document(pickle.loads(document), max_words))
        for document in batch["document"]
    ]
    return {"position": batch["position"], "passages": np.array(chunks, dtype=object)}


class RayExecutor:
    """``pipeline.Executor`` on Ray. ``factory`` makes the embedder in each actor (it must
    pickle: ``functools.partial(make_embedder, kind, ...)``); ``actors`` defaults to the
    cluster's CPUs."""

    def __init__(
        self,
        factory: Callable[[], Embedder],
        *,
        address: str | None = None,
        actors: int | None = None,
        num_cpus: int | None = None,
    ) -> None:
        # gRPC (under Ray) logs connection chatter and Ray Data every stage at INFO, to
        # stderr; both read these when they load. The ingest prints its own report.
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
        os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")
        try:
            import ray
        except ImportError as exc:
            raise RayError('--executor ray needs the ray extra: pip install -e ".[ray]"') from exc
        self.ray = ray
        self.factory = factory
        logging.getLogger("ray").setLevel(logging.WARNING)
        try:
            if not ray.is_initialized():
                ray.init(
                    address=address,
                    num_cpus=None if address else (num_cpus or os.cpu_count()),
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
        except Exception as exc:  # ray raises ConnectionError, RuntimeError, ...
            where = f"at {address}" if address else "locally"
            raise RayError(f"cannot start or reach Ray {where}: {exc}") from exc
        self.actors = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        ray.data.DataContext.get_current().enable_progress_bars = False

    def _dataset(self, rows: list[dict[str, Any]]) -> Any:
        return self.ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), 64)))

    def read(self, paths: Sequence[Path], max_bytes: int) -> ReadReport:
        files, skipped = files_to_read(paths)
        if not files:
            return merge_reads([], [], skipped)
        rows = [{"position": i, "path": str(path)} for i, path in enumerate(files)]
        dataset = self._dataset(rows).map_batches(
            _read_batch, fn_kwargs={"max_bytes": max_bytes}, batch_size=READ_BATCH
        )
        reports: list[ReadReport | None] = [None] * len(files)
        for batch in self._batches(dataset, "reading files"):
            for position, report in zip(batch["position"], batch["report"], strict=True):
                reports[int(position)] = pickle.loads(report)
        return merge_reads(files, [r for r in reports if r is not None], skipped)

    def chunk(self, documents: Sequence[Document], max_words: int) -> list[list[Passage]]:
        if not documents:
            return []
        rows = [{"position": i, "document": pickle.dumps(d)} for i, d in enumerate(documents)]
        dataset = self._dataset(rows).map_batches(
            _chunk_batch, fn_kwargs={"max_words": max_words}, batch_size=READ_BATCH
        )
        chunks: list[list[Passage]] = [[] for _ in documents]
        for batch in self._batches(dataset, "chunking documents"):
            for position, passages in zip(batch["position"], batch["passages"], strict=True):
                chunks[int(position)] = pickle.loads(passages)
        return chunks

    def embed(self, texts: Sequence[str]) -> Iterator[tuple[list[int], np.ndarray]]:
        if not texts:
            return
        rows = [{"position": i, "text": text} for i, text in enumerate(texts)]
        size = max(1, min(EMBED_BATCH, math.ceil(len(texts) / (self.actors * BATCHES_PER_ACTOR))))
        dataset = self._dataset(rows).map_batches(
            _Encoder,
            fn_constructor_kwargs={"factory": self.factory},
            batch_size=size,
            compute=self.ray.data.ActorPoolStrategy(size=self.actors),
            num_cpus=1,
        )
        for batch in self._batches(dataset, "embedding passages"):
            yield [int(p) for p in batch["position"]], np.asarray(batch["vector"], np.float32)

    def _batches(self, dataset: Any, what: str) -> Iterator[dict[str, np.ndarray]]:
        try:
            yield from dataset.iter_batches(batch_size=EMBED_BATCH, batch_format="numpy")
        except Exception as exc:
            raise RayError(f"Ray failed {what}: {str(exc).splitlines()[0][:300]}") from exc
