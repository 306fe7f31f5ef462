"""Which store serves the index: the embedded one (SQLite + FAISS in the index directory, the
default) or Milvus (``medcite.index.milvus``), and opening it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medcite.index import layout
from medcite.index.errors import InputError, MedciteError

if TYPE_CHECKING:
    from medcite.index.reader import Index

STORES = ("embedded", "milvus")
# The Milvus Lite file used when no URI is given, in the index directory.
LITE_FILE = "milvus.db"


@dataclass(frozen=True)
class StoreConfig:
    """``kind`` is one of ``STORES``. For Milvus: ``uri`` (empty: a Milvus Lite file in the
    index directory), ``token`` ("user:password" or an API key) and ``name`` (the alias the
    served generation goes by; several indexes can share one Milvus)."""

    kind: str = "embedded"
    uri: str = ""
    token: str = ""
    name: str = "medcite"

    def __post_init__(self) -> None:
        if self.kind not in STORES:
            raise InputError(f"unknown store {self.kind!r}; use one of {', '.join(STORES)}")

    def milvus_uri(self, root: Path) -> str:
        return self.uri or str(root / LITE_FILE)

    def is_lite(self, root: Path) -> bool:
        """Milvus Lite: a local file, which only one process can have open."""
        return self.kind == "milvus" and "://" not in self.milvus_uri(root)

    def describe(self, root: Path) -> str:
        if self.kind == "embedded":
            return f"embedded ({root})"
        return f"milvus ({self.milvus_uri(root)}, collection {self.name!r})"


EMBEDDED = StoreConfig()


@functools.lru_cache(maxsize=8)
def milvus_client(uri: str, token: str) -> Any:
    """One client per URI for the whole process: a Milvus Lite file can only be opened by one
    process, and a server connection is worth keeping."""
    from medcite.index import milvus

    return milvus.connect(uri, token)


def open_store(root: Path, config: StoreConfig = EMBEDDED, model: str | None = None) -> Index:
    """The current generation of the index, from the store ``config`` names."""
    if config.kind == "embedded":
        from medcite.index.reader import open_index

        return open_index(root, model=model)
    from medcite.index import milvus

    uri = config.milvus_uri(root)
    return milvus.open_milvus_index(milvus_client(uri, config.token), config.name, uri, model)


def opener(config: StoreConfig) -> Callable[[Path, str | None], Index]:
    """``open_store`` for ``config``, in the shape ``IndexHolder`` takes."""
    return functools.partial(_open_for_holder, config)


def _open_for_holder(config: StoreConfig, root: Path, model: str | None) -> Index:
    return open_store(root, config, model)


def index_model(root: Path, config: StoreConfig) -> str | None:
    """The embedding model the index was built with (None when there is no index yet), so
    that a server embeds questions as the index was embedded."""
    if config.kind == "embedded":
        return layout.current_model(root)
    from medcite.index import milvus

    uri = config.milvus_uri(root)
    try:
        return milvus.stored_model(milvus_client(uri, config.token), config.name)
    except MedciteError:
        return None  # the server reports why once it tries to open the index


def publish(root: Path, config: StoreConfig) -> int | None:
    """Bring the store up to the index directory's current generation: for Milvus, copy it
    in when Milvus serves another one; returns the generation published, or None when there
    was nothing to do (or the store is the directory itself)."""
    if config.kind == "embedded":
        return None
    from medcite.index import milvus

    directory = layout.current_generation(root)
    if directory is None:
        return None
    client = milvus_client(config.milvus_uri(root), config.token)
    with layout.writer_lock(root):
        served = milvus.served_generation(client, config.name)
        manifest = layout.read_manifest(directory)
        if served == manifest.generation:
            return None
        carried = milvus.stored_policy(client, config.name, served) if served else None
        return milvus.publish(client, config.name, directory, carried_policy=carried)
