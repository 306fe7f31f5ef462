"""How many cores one query may use.

A single short query gains little from two threads, and when two requests (or another process)
compete for the two cores, a thread pool waiting on a descheduled thread turns 15 ms into
500 ms. So serving and searching use one thread per query; batch ingest uses all cores.
The int8 encoder takes its thread count when it is made (``make_embedder(threads=...)``)."""

from __future__ import annotations

import sys

import faiss


def limit_threads(count: int) -> None:
    """Cap the threads that FAISS, and PyTorch if it is loaded, use in this process. PyTorch
    is not imported here: the int8 encoder serves without it."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(count)
    faiss.omp_set_num_threads(count)
