"""Settings from environment variables (CEIR_...), gathered in one object."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CEIR_", env_file=".env", extra="ignore")

    # Where the embedded SQLite database and generated files live when nothing else is configured.
    data_dir: Path = Path("var")
    # SQLAlchemy URL; PostgreSQL in production: postgresql+psycopg://user@host/db
    database_url: str | None = None

    # Public IMEI check: requests per minute per client (IP address) on the page and the JSON API.
    public_rate_limit_per_minute: int = Field(default=30, ge=0)
    # Proxies whose X-Forwarded-For we believe; empty means use the socket's peer address only.
    trusted_proxies: list[str] = Field(default_factory=list)

    default_language: str = "ru"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ceir.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
