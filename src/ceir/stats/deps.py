"""What the statistics page and the open-data API share: settings, the period asked for, a cache."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Engine

from ceir.config import Settings, StatsSettings
from ceir.db import session_factory, utcnow
from ceir.stats import service


def get_stats_settings(request: Request) -> StatsSettings:
    """A dependency, so that tests can lower the threshold."""
    settings: Settings = request.app.state.settings
    return settings.stats


def get_period(
    settings: Annotated[StatsSettings, Depends(get_stats_settings)],
    start: Annotated[
        dt.date | None, Query(alias="from", description="First day (YYYY-MM-DD, Asia/Almaty)")
    ] = None,
    end: Annotated[
        dt.date | None, Query(alias="to", description="Last day, included (YYYY-MM-DD)")
    ] = None,
) -> service.Period:
    return service.make_period(
        service.local_day(utcnow()),
        start,
        end,
        default_days=settings.default_days,
        max_days=settings.max_days,
    )


MAX_CACHED_PERIODS = 32


class StatsCache:
    """Datasets by (period, threshold), kept for a few minutes: the queries scan whole tables."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._entries: dict[tuple[object, ...], tuple[float, dict[str, service.Dataset]]] = {}

    def datasets(
        self, engine: Engine, period: service.Period, threshold: int
    ) -> dict[str, service.Dataset]:
        key = (period, threshold, engine.url)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and now - hit[0] < self.seconds:
                return hit[1]
        with session_factory(engine)() as db:
            datasets = service.all_datasets(db, period, threshold)
        with self._lock:
            # Old periods are dropped as new ones come: a client cannot grow this without bound.
            self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.seconds}
            if len(self._entries) >= MAX_CACHED_PERIODS:
                self._entries.pop(min(self._entries, key=lambda k: self._entries[k][0]))
            self._entries[key] = (now, datasets)
        return datasets


def get_datasets(
    request: Request,
    period: Annotated[service.Period, Depends(get_period)],
    settings: Annotated[StatsSettings, Depends(get_stats_settings)],
) -> dict[str, service.Dataset]:
    state = request.app.state
    state.check_tally.flush(state.engine)  # this process's latest checks count too
    cache = getattr(state, "stats_cache", None)
    if cache is None or cache.seconds != settings.cache_seconds:
        cache = state.stats_cache = StatsCache(settings.cache_seconds)
    datasets: dict[str, service.Dataset] = cache.datasets(
        state.engine, period, settings.suppression_threshold
    )
    return datasets
