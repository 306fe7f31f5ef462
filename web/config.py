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
    # Web limits: a request body (form or JSON) above this is refused with 413.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # A query string above this is refused with 414.
    max_query_bytes: int = Field(default=4 * 1024, ge=256)
    # When set, staff pages (/search, /search/feedback) and /api/admin/* need it (HTTP Basic,
    # any user name, or "Authorization: Bearer <password>"). Unset: open, for a local install.
    staff_password: SecretStr | None = None
