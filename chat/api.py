"""The Python API for evaluation scripts and notebooks: the same search and answers as the CLI
and the web, returning the same frozen dataclasses (``Hit``, ``Answer``).

    import medcite
    with medcite.open_index("path/to/index") as index:
        hits = index.search("glaucoma treatment", k=10, mode="hybrid")
        answer = index.ask("how is glaucoma treated?")
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from medcite.chat.answer import AbstainPolicy, ask
from medcite.chat.calibration import policy_for
from medcite.chat.retrieve import Filters, search
from medcite.chat.triage import Triage, make_triage
from medcite.chat.types import Answer
from medcite.index.embedder import AUTO, CachingEmbedder, Embedder, make_embedder
from medcite.index.reader import Index
from medcite.index.stores import EMBEDDED, StoreConfig, open_store
from medcite.index.types import Hit


class MedciteIndex:
    """An opened index with its embedding model and triage: one per process is plenty."""

    def __init__(
        self,
        index: Index,
        embedder: Embedder,
        triage: Triage,
        policy: AbstainPolicy | None = None,
    ) -> None:
        index.require_model(embedder.name)
        self.index = index
        self.embedder = embedder
        self.triage = triage
        # The index's own calibration (`medcite calibrate`), else the shipped default.
        self.policy = policy if policy is not None else policy_for(index)

    def search(
        self, query: str, k: int = 10, mode: str = "hybrid", sources: tuple[str, ...] = ()
    ) -> list[Hit]:
        """The top ``k`` passages (``mode``: hybrid, dense or lexical), at most two an article."""
        return search(
            self.index, self.embedder, query, k=k, mode=mode, filters=Filters(sources=sources)
        )

    def ask(self, question: str, sources: tuple[str, ...] = ()) -> Answer:
        """An answer of verbatim quotes, a 'not covered', or an emergency reply."""
        return ask(
            self.index,
            self.embedder,
            question,
            triage=self.triage,
            policy=self.policy,
            filters=Filters(sources=sources),
        )

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> MedciteIndex:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_index(
    path: str | Path,
    *,
    embedder: Embedder | str = AUTO,
    triage: Triage | None = None,
    policy: AbstainPolicy | None = None,
    store: StoreConfig = EMBEDDED,
) -> MedciteIndex:
    """Open the index at ``path`` (as ``medcite ingest`` built it), served from ``store`` (the
    embedded one by default; ``StoreConfig("milvus", uri=...)`` for Milvus). ``embedder`` is an
    Embedder or its kind ("auto": the encoder that built the index; "minilm-int8", "minilm",
    "fake"); ``triage`` defaults to the shipped model and
    ``policy`` to the index's own calibration, else the shipped default."""
    index = open_store(Path(path), store)
    if isinstance(embedder, str):
        embedder = CachingEmbedder(make_embedder(embedder, index_model=index.manifest.model))
    return MedciteIndex(index, embedder, triage or make_triage(), policy)
