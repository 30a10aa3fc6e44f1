"""Public statistics: daily counts over a period, small counts suppressed, no personal data.

Every dataset is a list of rows with stable column names. Counts are aggregated in SQL by UTC
hour and then put on Asia/Almaty days here (SQLite knows no time zones; an hour is fine enough for
any zone with whole-hour offsets), so no query returns one row per registration or per person.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, distinct, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ceir.citizens.models import Application, ApplicationKind, ApplicationStatus
from ceir.config import get_settings
from ceir.db import utcnow
from ceir.errors import InvalidInput
from ceir.network import reasons as block_reasons
from ceir.network.models import (
    ClassificationRun,
    DeviceNumber,
    DeviceStateChange,
    Subscriber,
)
from ceir.registry.models import Registration, RegistrationSource
from ceir.stats.models import CheckCount

log = logging.getLogger(__name__)

TIMEZONE = ZoneInfo("Asia/Almaty")

DATASETS: tuple[str, ...] = (
    "registrations",
    "enforcement",
    "applications",
    "decision_times",
    "checks",
    "reasons",
)
# The counts of a classification run that are published, in this order.
ENFORCEMENT_MEASURES: tuple[str, ...] = (
    "notified",
    "blocked",
    "newly_notified",
    "newly_blocked",
    "unblocked",
    "resolved",
    "second_imei_pending",  # second IMEIs of registered devices awaiting the owner's tap
)
APPLICATION_EVENTS: tuple[str, ...] = ("filed", "approved", "rejected")
DECIDED = (ApplicationStatus.APPROVED.value, ApplicationStatus.REJECTED.value)
# A check "found an unregistered device" when the IMEI was valid and not in the registry.
UNREGISTERED_VERDICTS = frozenset({"not_registered", "blocked"})
VALID_VERDICTS = frozenset({"registered", "not_registered", "blocked", "stolen"})

DbLike = Session | Connection


class InvalidPeriod(InvalidInput):
    code = "invalid_period"


@dataclass(frozen=True)
class Period:
    """Days in Asia/Almaty, both ends included."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(n) for n in range((self.end - self.start).days + 1)]

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[start of the first day, start of the day after the last) as UTC instants."""
        first = dt.datetime.combine(self.start, dt.time(0), tzinfo=TIMEZONE)
        after = dt.datetime.combine(self.end + dt.timedelta(1), dt.time(0), tzinfo=TIMEZONE)
        return first.astimezone(dt.UTC), after.astimezone(dt.UTC)

    def whole_weeks(self) -> Period:
        """The period widened to whole ISO weeks (Monday to Sunday)."""
        return Period(
            self.start - dt.timedelta(self.start.weekday()),
            self.end + dt.timedelta(6 - self.end.weekday()),
        )


@dataclass
class Dataset:
    """One open dataset: its columns and rows (suppressed values are None)."""

    name: str
    period: Period
    threshold: int
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(TIMEZONE).date()


def make_period(
    today: dt.date,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    default_days: int = 90,
    max_days: int = 731,
) -> Period:
    """The period asked for, or the last `default_days` days up to `today`."""
    # Days far from today have no data and overflow date arithmetic (0001-01-01 minus a day).
    earliest, latest = dt.date(2000, 1, 1), today + dt.timedelta(days=366)
    for day in (start, end):
        if day is not None and not earliest <= day <= latest:
            raise InvalidPeriod(f"Days must lie between {earliest} and {latest}; got {day}.")
    end = end or (today if start is None else min(today, start + dt.timedelta(default_days - 1)))
    start = start or end - dt.timedelta(default_days - 1)
    if start > end:
        raise InvalidPeriod("The period starts after it ends.")
    if (end - start).days + 1 > max_days:
        raise InvalidPeriod(f"A period may be at most {max_days} days long.")
    return Period(start, end)


# -- check counter -------------------------------------------------------------------------------


def record_check(db: DbLike, verdict: str, day: dt.date | None = None, count: int = 1) -> None:
    """Add `count` public checks under their verdict, on `day` (today in Asia/Almaty by default).

    One UPSERT: concurrent writers each add theirs without reading first. The caller commits.
    """
    day = day or local_day(utcnow())
    bind = db.get_bind() if isinstance(db, Session) else db
    insert = pg_insert if bind.dialect.name == "postgresql" else sqlite_insert
    statement = insert(CheckCount).values(day=day, verdict=str(verdict), count=count)
    db.execute(
        statement.on_conflict_do_update(
            index_elements=[CheckCount.day, CheckCount.verdict],
            set_={"count": CheckCount.count + count},
        )
    )


class CheckTally:
    """Public checks counted in memory and added to check_counts in batches.

    A write per check would make every public check a database writer (on SQLite, one at a
    time); a batch every few seconds costs nothing per check. A crash loses at most one batch of
    counts, which statistics can bear.
    """

    def __init__(self, flush_seconds: float = 5.0, max_pending: int = 1000) -> None:
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending
        self._pending: dict[tuple[dt.date, str], int] = {}
        self._count = 0
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    def add(self, verdict: str, now: dt.datetime | None = None) -> bool:
        """Count one check; True when a flush is due."""
        key = (local_day(now or utcnow()), str(verdict))
        with self._lock:
            self._pending[key] = self._pending.get(key, 0) + 1
            self._count += 1
            return (
                self._count >= self.max_pending
                or time.monotonic() - self._last_flush >= self.flush_seconds
            )

    def flush(self, engine: Engine) -> None:
        """Write what is pending; a failure is logged and the counts are kept for next time."""
        with self._lock:
            pending, self._pending, self._count = self._pending, {}, 0
            self._last_flush = time.monotonic()
        if not pending:
            return
        try:
            with engine.begin() as conn:
                for (day, verdict), count in sorted(pending.items()):
                    record_check(conn, verdict, day, count)
        except SQLAlchemyError:
            log.exception("could not write the public check counts")
            with self._lock:
                for key, count in pending.items():
                    self._pending[key] = self._pending.get(key, 0) + count
                    self._count += count


# -- raw aggregates ------------------------------------------------------------------------------


def _utc_hour(db: DbLike, column: Any) -> ColumnElement[str]:
    bind = db.get_bind() if isinstance(db, Session) else db
    if bind.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
    # SQLite keeps UTC as naive "YYYY-MM-DD HH:MM:SS" text (see ceir.db.UTCDateTime).
    return func.strftime("%Y-%m-%d %H", column)


def _hour_to_day(hour: str) -> dt.date:
    return local_day(dt.datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=dt.UTC))


def registrations_per_day(db: DbLike, period: Period) -> dict[tuple[dt.date, str], int]:
    """Registrations made on each day, by source (revoked ones included: they happened)."""
    first, after = period.utc_bounds()
    hour = _utc_hour(db, Registration.registered_at)
    rows = db.execute(
        select(Registration.source, hour, func.count())
        .where(Registration.registered_at >= first, Registration.registered_at < after)
        .group_by(Registration.source, hour)
    ).all()
    counts: dict[tuple[dt.date, str], int] = defaultdict(int)
    for source, at_hour, n in rows:
        counts[(_hour_to_day(at_hour), source)] += n
    return counts


def applications_per_day(db: DbLike, period: Period) -> dict[tuple[dt.date, str, str], int]:
    """Applications filed, approved and rejected on each day, by kind."""
    first, after = period.utc_bounds()
    counts: dict[tuple[dt.date, str, str], int] = defaultdict(int)
    filed_hour = _utc_hour(db, Application.created_at)
    for kind, at_hour, n in db.execute(
        select(Application.kind, filed_hour, func.count())
        .where(Application.created_at >= first, Application.created_at < after)
        .group_by(Application.kind, filed_hour)
    ).all():
        counts[(_hour_to_day(at_hour), kind, "filed")] += n
    decided_hour = _utc_hour(db, Application.decided_at)
    for kind, status, at_hour, n in db.execute(
        select(Application.kind, Application.status, decided_hour, func.count())
        .where(
            Application.status.in_(DECIDED),
            Application.decided_at >= first,
            Application.decided_at < after,
        )
        .group_by(Application.kind, Application.status, decided_hour)
    ).all():
        counts[(_hour_to_day(at_hour), kind, status)] += n
    return counts


def decision_hours(db: DbLike, period: Period) -> dict[tuple[dt.date, str], list[float]]:
    """Hours from filing to decision of each approval or rejection, by week (Monday) and kind.

    The period is widened to whole weeks, so that no week's median depends on where a period
    starts: medians of overlapping partial weeks could be told apart to reveal one decision.
    """
    first, after = period.whole_weeks().utc_bounds()
    rows = db.execute(
        select(Application.kind, Application.created_at, Application.decided_at).where(
            Application.status.in_(DECIDED),
            Application.decided_at >= first,
            Application.decided_at < after,
        )
    ).all()
    hours: dict[tuple[dt.date, str], list[float]] = defaultdict(list)
    for kind, created_at, decided_at in rows:
        assert decided_at is not None  # the query asked for decided applications only
        day = local_day(decided_at)
        week = day - dt.timedelta(day.weekday())
        hours[(week, kind)].append(max(0.0, (decided_at - created_at).total_seconds() / 3600))
    return hours


def enforcement_per_run(db: DbLike, period: Period) -> list[tuple[int, dt.date, dict[str, int]]]:
    """(run id, run date, published counts) of every finished classification run in the period."""
    rows = db.execute(
        select(ClassificationRun.id, ClassificationRun.run_date, ClassificationRun.counts)
        .where(
            ClassificationRun.finished_at.is_not(None),
            ClassificationRun.run_date >= period.start,
            ClassificationRun.run_date <= period.end,
        )
        .order_by(ClassificationRun.run_date, ClassificationRun.id)
    ).all()
    return [
        (run_id, run_date, {m: int(counts.get(m) or 0) for m in ENFORCEMENT_MEASURES})
        for run_id, run_date, counts in rows
    ]


def checks_per_day(db: DbLike, period: Period) -> dict[tuple[dt.date, str], int]:
    rows = db.execute(
        select(CheckCount.day, CheckCount.verdict, CheckCount.count).where(
            CheckCount.day >= period.start, CheckCount.day <= period.end
        )
    ).all()
    return {(day, verdict): n for day, verdict, n in rows}


def _months(period: Period) -> list[dt.date]:
    """The first days of the months the period touches: months are published whole."""
    months, day = [], period.start.replace(day=1)
    while day <= period.end:
        months.append(day)
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return months


def _whole_months(period: Period) -> Period:
    last = _months(period)[-1]
    return Period(
        period.start.replace(day=1), (last + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(1)
    )


UNKNOWN_OPERATOR = "unknown"


def _reason(codes: str | None) -> str:
    reason = block_reasons.primary(codes)
    return reason.value if reason else "other"


def reason_events(db: DbLike, period: Period) -> dict[tuple[dt.date, str, str, str], int]:
    """Devices newly notified or blocked, appeals filed, approved (the block overturned) and
    rejected (upheld), by (month, reason, operator, event); months whole.

    A device's operator is that of each number it was seen with when its state was set (from the
    operators' subscriber data; a device seen on two networks counts on both); an appeal's is the
    applicant's number's. An appeal's reason is the one its device was last notified or blocked
    for; its outcome counts in the month it was filed.
    """
    months = _whole_months(period)
    counts: dict[tuple[dt.date, str, str, str], int] = defaultdict(int)
    operator = func.coalesce(Subscriber.operator, literal(UNKNOWN_OPERATOR))
    change = DeviceStateChange
    for on_date, state, codes, op, n in db.execute(
        select(
            change.on_date,
            change.new_state,
            change.reasons,
            operator,
            func.count(distinct(change.id)),
        )
        .select_from(change)
        .outerjoin(DeviceNumber, DeviceNumber.imei == change.imei)
        .outerjoin(Subscriber, Subscriber.msisdn == DeviceNumber.msisdn)
        .where(
            change.new_state.in_(("notified", "blocked")),
            change.old_state.is_distinct_from(change.new_state),
            change.on_date >= months.start,
            change.on_date <= months.end,
        )
        .group_by(change.on_date, change.new_state, change.reasons, operator)
    ).all():
        counts[(on_date.replace(day=1), _reason(codes), op, str(state))] += n

    last_reasons = (
        select(change.reasons)
        .where(change.imei == Application.imei1, change.new_state.in_(("notified", "blocked")))
        .order_by(change.id.desc())
        .limit(1)
        .correlate(Application)
        .scalar_subquery()
    )
    first, after = months.utc_bounds()
    appeals = (
        select(
            _utc_hour(db, Application.created_at).label("hour"),
            Application.status.label("status"),
            last_reasons.label("codes"),
            operator.label("operator"),
        )
        .select_from(Application)
        .outerjoin(Subscriber, Subscriber.msisdn == Application.msisdn)
        .where(
            Application.kind == ApplicationKind.APPEAL.value,
            Application.created_at >= first,
            Application.created_at < after,
        )
        .subquery()
    )
    outcome = {"approved": "overturned", "rejected": "upheld"}
    for hour, status, codes, op, n in db.execute(
        select(
            appeals.c.hour, appeals.c.status, appeals.c.codes, appeals.c.operator, func.count()
        ).group_by(appeals.c.hour, appeals.c.status, appeals.c.codes, appeals.c.operator)
    ).all():
        month, reason = _hour_to_day(hour).replace(day=1), _reason(codes)
        counts[(month, reason, op, "appeals")] += n
        if status in outcome:
            counts[(month, reason, op, outcome[status])] += n
    return counts


# -- published datasets --------------------------------------------------------------------------


def _shown(value: int, threshold: int) -> int | None:
    return value if value >= threshold else None


def _sources(seen: Iterable[str]) -> list[str]:
    known = [s.value for s in RegistrationSource]
    return known + sorted(set(seen) - set(known))


def registrations_dataset(db: DbLike, period: Period, threshold: int) -> Dataset:
    counts = registrations_per_day(db, period)
    data = Dataset("registrations", period, threshold, ["date", "source", "registrations"])
    for day in period.days:
        for source in _sources(s for _d, s in counts):
            value = _shown(counts.get((day, source), 0), threshold)
            data.rows.append({"date": day, "source": source, "registrations": value})
    return data


def enforcement_dataset(db: DbLike, period: Period, threshold: int) -> Dataset:
    data = Dataset("enforcement", period, threshold, ["run_date", "run_id", "measure", "devices"])
    for run_id, run_date, counts in enforcement_per_run(db, period):
        for measure in ENFORCEMENT_MEASURES:
            data.rows.append(
                {
                    "run_date": run_date,
                    "run_id": run_id,
                    "measure": measure,
                    "devices": _shown(counts[measure], threshold),
                }
            )
    return data


def applications_dataset(db: DbLike, period: Period, threshold: int) -> Dataset:
    counts = applications_per_day(db, period)
    data = Dataset("applications", period, threshold, ["date", "kind", "event", "applications"])
    for day in period.days:
        for kind in (k.value for k in ApplicationKind):
            for event in APPLICATION_EVENTS:
                value = _shown(counts.get((day, kind, event), 0), threshold)
                data.rows.append({"date": day, "kind": kind, "event": event, "applications": value})
    return data


def decision_times_dataset(db: DbLike, period: Period, threshold: int) -> Dataset:
    hours = decision_hours(db, period)
    weeks = period.whole_weeks().days[::7]
    data = Dataset(
        "decision_times", period, threshold, ["week_start", "kind", "decisions", "median_hours"]
    )
    for week in weeks:
        for kind in (k.value for k in ApplicationKind):
            values = hours.get((week, kind), [])
            enough = len(values) >= threshold
            data.rows.append(
                {
                    "week_start": week,
                    "kind": kind,
                    "decisions": len(values) if enough else None,
                    "median_hours": round(statistics.median(values), 1) if enough else None,
                }
            )
    return data


def checks_dataset(db: DbLike, period: Period, threshold: int) -> Dataset:
    counts = checks_per_day(db, period)
    data = Dataset("checks", period, threshold, ["date", "checks", "unregistered", "share"])
    for day in period.days:
        valid = sum(counts.get((day, v), 0) for v in VALID_VERDICTS)
        unregistered = sum(counts.get((day, v), 0) for v in UNREGISTERED_VERDICTS)
        # The share would give away whichever of its parts is withheld, so it needs all of them.
        share_shown = min(valid, unregistered, valid - unregistered) >= threshold
        data.rows.append(
            {
                "date": day,
                "checks": _shown(valid, threshold),
                "unregistered": _shown(unregistered, threshold),
                "share": round(unregistered / valid, 4) if share_shown else None,
            }
        )
    return data


REASON_COUNTS: tuple[str, ...] = ("notified", "blocked", "appeals", "overturned", "upheld")


def reasons_dataset(db: DbLike, period: Period, threshold: int) -> Dataset:
    """Per month, reason and operator: devices notified and blocked, appeals, and how many of the
    decided ones overturned the block. Every combination is a row, zeros too (withheld)."""
    counts = reason_events(db, period)
    data = Dataset(
        "reasons",
        period,
        threshold,
        ["month", "reason", "operator", *REASON_COUNTS, "overturned_share"],
    )
    operators = [*get_settings().network.operators, UNKNOWN_OPERATOR]
    operators += sorted({op for _m, _r, op, _e in counts} - set(operators))
    codes = [r.value for r in block_reasons.REASONS]
    codes += sorted({r for _m, r, _o, _e in counts} - set(codes))
    for month in _months(period):
        for reason in codes:
            for op in operators:
                row: dict[str, Any] = {
                    "month": month.strftime("%Y-%m"),
                    "reason": reason,
                    "operator": op,
                }
                for event in REASON_COUNTS:
                    row[event] = _shown(counts.get((month, reason, op, event), 0), threshold)
                over = counts.get((month, reason, op, "overturned"), 0)
                upheld = counts.get((month, reason, op, "upheld"), 0)
                # As with the checks' share: shown only when neither part is withheld.
                shown = min(over, upheld) >= threshold
                row["overturned_share"] = round(over / (over + upheld), 4) if shown else None
                data.rows.append(row)
    return data


_BUILDERS = {
    "registrations": registrations_dataset,
    "enforcement": enforcement_dataset,
    "applications": applications_dataset,
    "decision_times": decision_times_dataset,
    "checks": checks_dataset,
    "reasons": reasons_dataset,
}


def dataset(db: DbLike, name: str, period: Period, threshold: int) -> Dataset:
    """The published dataset `name`; every row gets `suppressed`: true when a value is withheld."""
    data = _BUILDERS[name](db, period, threshold)
    for row in data.rows:
        row["suppressed"] = any(row[c] is None for c in data.columns)
    data.columns.append("suppressed")
    return data


def all_datasets(db: DbLike, period: Period, threshold: int) -> dict[str, Dataset]:
    return {name: dataset(db, name, period, threshold) for name in DATASETS}
