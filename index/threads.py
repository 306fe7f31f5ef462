"""How many cores one query may use.

A single short query gains little from two threads, and when two requests (or another process)
compete for the two cores, a thread pool waiting on a descheduled thread turns 15 ms into
500 ms. So serving and searching use one thread per query; batch ingest uses all cores."""

from __future__ import annotations

import faiss


def limit_threads(count: int) -> None:
    """Cap the threads that torch and FAISS use in this process."""
    import torch

    torch.set_num_threads(count)
    faiss.omp_set_num_threads(count)
