"""Settings of the public statistics (CEIR_STATS_...), kept here until they join ceir.config."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StatsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CEIR_STATS_", env_file=".env", extra="ignore")

    # Any published count below this is withheld ("<10" on the page, null in open data), and so is
    # a median of fewer decisions: small numbers could single a person out.
    suppression_threshold: int = Field(default=10, ge=1)
    # The period shown when none is asked for, in days up to today, and the longest one allowed.
    default_days: int = Field(default=90, ge=1)
    max_days: int = Field(default=731, ge=1)
    # Answers are computed at most this often per period (the queries scan whole tables).
    cache_seconds: float = Field(default=300.0, ge=0)


def get_stats_settings() -> StatsSettings:
    """A FastAPI dependency; tests override it to lower the threshold."""
    return StatsSettings()
