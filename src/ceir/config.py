"""Settings from environment variables (CEIR_...), gathered in one object."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConditionRule(BaseModel):
    """How one classification condition acts: blocking or only informative, and after how long."""

    blocking: bool = True
    grace_days: int = Field(default=30, ge=0)


class NetworkSettings(BaseModel):
    """Rules of network enforcement; every number here is a policy decision, hence a setting."""

    # Mobile operators by code, each with the MCC+MNC prefixes of its own IMSIs.
    operators: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "beeline": ["40101"],
            "kcell": ["40102"],
            "altel": ["40107"],
            "tele2": ["40177"],
        }
    )
    home_mcc: str = "401"
    # Devices seen on a network before this day are registered automatically ("amnesty").
    amnesty_cutoff: dt.date | None = dt.date(2025, 3, 24)
    conditions: dict[str, ConditionRule] = Field(
        default_factory=lambda: {
            "not_registered": ConditionRule(blocking=True, grace_days=30),
            "invalid_imei": ConditionRule(blocking=True, grace_days=30),
            "unknown_tac": ConditionRule(blocking=True, grace_days=30),
            "stolen": ConditionRule(blocking=True, grace_days=0),
            # A cloned IMEI is shared with its lawful owner: flag it, do not block it by default.
            "duplicate": ConditionRule(blocking=False, grace_days=30),
        }
    )
    # Cloned/duplicate: more than this many distinct home IMSIs ...
    duplicate_imsis: int = Field(default=5, ge=1)
    # ... within this many days.
    duplicate_window_days: int = Field(default=7, ge=1)
    # Import checks, as shares of a file's rows; a file above any of them is refused whole.
    max_share_null_field: float = 0.05
    max_share_invalid_imei: float = 0.05
    max_share_invalid_imsi: float = 0.05
    max_share_foreign: float = 0.10
    max_share_other_operator: float = 0.20
    max_share_short_imei: float = 0.01  # 13-digit IMEIs: a spreadsheet dropped leading zeros
    # A day with fewer distinct IMEIs than this share of the last 30 days' average is truncated.
    min_share_of_usual_volume: float = 0.90
    # Sightings not renewed for this long are forgotten.
    retention_days: int = Field(default=180, ge=30)
    # DuckDB may use this much memory before spilling to disk.
    duckdb_memory_limit: str = "6GB"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CEIR_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    # Where the embedded SQLite database and generated files live when nothing else is configured.
    data_dir: Path = Path("var")
    # SQLAlchemy URL; PostgreSQL in production: postgresql+psycopg://user@host/db
    database_url: str | None = None

    # Public IMEI check: requests per minute per client (IP address) on the page and the JSON API.
    public_rate_limit_per_minute: int = Field(default=30, ge=0)
    # Proxies whose X-Forwarded-For we believe; empty means use the socket's peer address only.
    trusted_proxies: list[str] = Field(default_factory=list)

    default_language: str = "ru"

    network: NetworkSettings = Field(default_factory=NetworkSettings)
    # Ed25519 private key (PEM) that signs the lists operators pull; made on first use if absent.
    list_signing_key: Path | None = None

    @property
    def network_store(self) -> Path:
        return self.data_dir / "network.duckdb"

    @property
    def lists_dir(self) -> Path:
        return self.data_dir / "lists"

    @property
    def signing_key_path(self) -> Path:
        return self.list_signing_key or self.data_dir / "keys" / "lists-ed25519.pem"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ceir.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
