"""Settings, read from the environment (MEDCITE_*) once, at start-up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from medcite.chat.triage import DEFAULT_MODEL as DEFAULT_TRIAGE_MODEL
from medcite.chat.triage import Triage, make_triage
from medcite.index.errors import MedciteError
from medcite.index.stores import StoreConfig


def default_index_dir() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "medcite" / "index"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDCITE_", frozen=True)

    index: Path = Field(default_factory=default_index_dir)
    # The encoder: "auto" (the one that built the index; minilm-int8 for a new index),
    # "minilm-int8" (ONNX Runtime, no PyTorch at query time), "minilm" (PyTorch fp32), "fake".
    embedder: str = "auto"
    host: str = "127.0.0.1"
    port: int = 8000
    # Emergency replies, phone numbers and the disclaimer: a locale of chat/data/locales
    # (en-US) or the path of a JSON file in that shape.
    locale: str = "en-US"
    # Who wrote the indexed articles, as the disclaimer names them.
    publisher: str = "NIH"
    # The triage model (bench/train_triage.py writes it); the shipped one by default.
    triage_model: Path = DEFAULT_TRIAGE_MODEL
    # Threads one request's model and vector search may use (see index/threads.py).
    query_threads: int = Field(default=1, ge=1, le=64)
    # Web limits: a request body (form or JSON) above this is refused with 413.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # A query string above this is refused with 414.
    max_query_bytes: int = Field(default=4 * 1024, ge=256)
    # When set, staff pages (/search, /search/feedback) and /api/admin/* need it (HTTP Basic,
    # any user name, or "Authorization: Bearer <password>"). Unset: open, for a local install;
    # `medcite serve` then refuses a non-loopback host unless told --insecure-open-staff.
    staff_password: SecretStr | None = None
    # Overload: model-bound requests (/ask, /search and their /api twins, and the CPU-bound
    # /api/admin/reload) served at once; up to max_queue more wait, each at most queue_timeout
    # seconds; beyond that 503 at once. max_in_flight=0 switches this off.
    max_in_flight: int = Field(default=4, ge=0)
    max_queue: int = Field(default=32, ge=0)
    queue_timeout: float = Field(default=2.0, gt=0, le=60)
    # Per-client (by IP address) rate limit: rate_burst requests at once, refilled at
    # rate_per_minute; beyond that 429. rate_per_minute=0 switches it off. Behind a reverse
    # proxy every client has the proxy's address: raise it or switch it off there.
    rate_per_minute: int = Field(default=120, ge=0)
    rate_burst: int = Field(default=30, ge=1)
    # Where feedback is kept, and conversations when they are shared: an SQLAlchemy URL,
    # sqlite:////path/file.sqlite or postgresql+psycopg://user:password@host/database. Empty:
    # feedback.sqlite in the index directory. Set (or with workers above 1), conversations are
    # kept there too, so that every worker and server sharing it can continue them.
    database_url: str = ""
    # Web worker processes `medcite serve` runs on one port (each loads its own model and has
    # its own rate limits and overload queue).
    workers: int = Field(default=1, ge=1)
    # Where the passage vectors are searched: "embedded" (FAISS inside the index directory) or
    # "milvus" (a Milvus server or Milvus Lite file, shared by every worker).
    store: Literal["embedded", "milvus"] = "embedded"
    # The Milvus server's URI; empty: a Milvus Lite file, milvus.db in the index root.
    milvus_uri: str = ""
    milvus_token: SecretStr | None = None
    milvus_collection: str = "medcite"

    @property
    def shares_conversations(self) -> bool:
        """Whether conversations are kept in the database, for other workers to continue."""
        return self.workers > 1 or bool(self.database_url)


def store_config(settings: Settings) -> StoreConfig:
    """The store the settings name (``MEDCITE_STORE`` and ``MEDCITE_MILVUS_*``)."""
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
    return StoreConfig(settings.store, settings.milvus_uri, token, settings.milvus_collection)


def triage_for(settings: Settings) -> Triage:
    """Triage with the locale, model and publisher the settings name."""
    return make_triage(settings.locale, settings.triage_model, settings.publisher)


def settings_environment(settings: Settings) -> dict[str, str | None]:
    """``settings`` as the MEDCITE_* variables ``load_settings`` reads back into equal settings
    (None: a variable to unset), for the worker processes of ``medcite serve --workers``."""
    prefix = Settings.model_config.get("env_prefix", "")
    variables: dict[str, str | None] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        variables[(prefix + name).upper()] = None if value is None else str(value)
    return variables


class SettingsError(MedciteError):
    """A MEDCITE_* environment variable holds a value the settings cannot take."""


def load_settings() -> Settings:
    """The settings from the environment; a bad value is a ``SettingsError`` naming the
    variable (``MEDCITE_PORT: Input should be a valid integer, ...``), on one line."""
    try:
        return Settings()
    except ValidationError as exc:
        prefix = Settings.model_config.get("env_prefix", "")
        problems = []
        for error in exc.errors():
            name = (prefix + "_".join(str(part) for part in error["loc"])).upper()
            # The value itself is left out: it may be the staff password.
            problems.append(f"{name}: {error['msg']}" if error["loc"] else error["msg"])
        raise SettingsError("; ".join(problems)) from None
