"""Settings, read from the environment (MEDCITE_*) once, at start-up."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_index_dir() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "medcite" / "index"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDCITE_", frozen=True)

    index: Path = Field(default_factory=default_index_dir)
    embedder: str = "minilm"
    host: str = "127.0.0.1"
    port: int = 8000
    # Threads one request's model and vector search may use (see index/threads.py).
    query_threads: int = Field(default=1, ge=1, le=64)
    # Web limits: a request body (form or JSON) above this is refused with 413.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # A query string above this is refused with 414.
    max_query_bytes: int = Field(default=4 * 1024, ge=256)
    # When set, staff pages (/search, /search/feedback) and /api/admin/* need it (HTTP Basic,
    # any user name, or "Authorization: Bearer <password>"). Unset: open, for a local install.
    staff_password: SecretStr | None = None
    # Overload: model-bound requests (/ask, /search and their /api twins) served at once; up to
    # max_queue more wait, each at most queue_timeout seconds; beyond that 503 at once.
    # max_in_flight=0 switches this off.
    max_in_flight: int = Field(default=4, ge=0)
    max_queue: int = Field(default=32, ge=0)
    queue_timeout: float = Field(default=2.0, gt=0, le=60)
    # Per-client (by IP address) rate limit: rate_burst requests at once, refilled at
    # rate_per_minute; beyond that 429. rate_per_minute=0 switches it off. Behind a reverse
    # proxy every client has the proxy's address: raise it or switch it off there.
    rate_per_minute: int = Field(default=120, ge=0)
    rate_burst: int = Field(default=30, ge=1)
