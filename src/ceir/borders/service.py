"""Loading border crossings (file or push API) and finding the trip that brought a device in."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.audit import service as audit
from ceir.borders.models import BorderCrossing
from ceir.bulk import insert_columns
from ceir.db import utcnow
from ceir.errors import FileRejected, InvalidInput
from ceir.importing import ImportReport, RowError, file_sha256, normalise_header, read_csv

FIELDS = ("record_id", "iin", "direction", "crossed_at", "checkpoint", "country")
REQUIRED = ("record_id", "iin", "direction", "crossed_at", "checkpoint")
DIRECTIONS = ("exit", "entry")
RECORD_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._:/-]{0,63}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
# The border service writes local time when it gives no offset; Kazakhstan keeps one zone.
LOCAL_TIME = ZoneInfo("Asia/Almaty")
# A crossing a little in the future is a clock skew at the checkpoint, more is a wrong date.
FUTURE_SKEW = dt.timedelta(hours=1)
MAX_RECORDS_PER_PUSH = 10_000


@dataclass(frozen=True, slots=True)
class Crossing:
    record_id: str
    iin: str
    direction: str
    crossed_at: dt.datetime
    checkpoint: str
    country: str | None

    def payload(self) -> tuple[str, str, dt.datetime, str, str | None]:
        return (self.iin, self.direction, self.crossed_at, self.checkpoint, self.country)


def _parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=LOCAL_TIME)
    return parsed.astimezone(dt.UTC)


def _check(
    line: int, raw: Mapping[str, object], now: dt.datetime, errors: list[RowError]
) -> Crossing | None:
    """One record checked field by field; every problem is added to `errors`."""
    before = len(errors)

    def text(name: str) -> str:
        value = raw.get(name)
        return "" if value is None else str(value).strip()

    record_id, iin, direction = text("record_id"), text("iin"), text("direction").lower()
    when, checkpoint, country = text("crossed_at"), text("checkpoint"), text("country").upper()
    for name in REQUIRED:
        if not text(name):
            errors.append(RowError(line, name, "", "required"))
    if record_id and not RECORD_ID.match(record_id):
        errors.append(
            RowError(line, "record_id", record_id[:80], "up to 64 letters, digits and . _ : / -")
        )
    if iin:
        try:
            identifiers.parse_iin(iin)
        except identifiers.IdentifierError as exc:
            errors.append(RowError(line, "iin", iin, str(exc)))
    if direction and direction not in DIRECTIONS:
        errors.append(RowError(line, "direction", direction, "must be exit or entry"))
    crossed_at: dt.datetime | None = None
    if when:
        try:
            crossed_at = _parse_time(when)
        except ValueError:
            errors.append(
                RowError(line, "crossed_at", when, "not a date and time in ISO 8601 form")
            )
        else:
            if crossed_at > now + FUTURE_SKEW:
                errors.append(RowError(line, "crossed_at", when, "is in the future"))
    if len(checkpoint) > 128:
        errors.append(RowError(line, "checkpoint", checkpoint[:40] + "…", "longer than 128"))
    if country and not COUNTRY.match(country):
        errors.append(RowError(line, "country", country, "not an ISO 3166 two-letter code"))
    if len(errors) > before or crossed_at is None:
        return None
    return Crossing(record_id, iin, direction, crossed_at, checkpoint, country or None)


def load_crossings(
    db: Session,
    records: Iterable[tuple[int, Mapping[str, object]]],
    *,
    report: ImportReport,
    actor: str,
    now: dt.datetime | None = None,
    errors: list[RowError] | None = None,
) -> ImportReport:
    """Check and store crossings given as (line, fields); all or nothing, idempotent by record id.

    A record already stored with the same fields is skipped; a known id with other fields is a
    conflict that refuses the whole batch, as does any bad record.
    """
    clock = time.perf_counter()
    now = now or utcnow()
    errors = list(errors or [])
    checked: dict[str, tuple[int, Crossing]] = {}
    total = 0
    duplicates = 0
    for line, raw in records:
        total += 1
        crossing = _check(line, raw, now, errors)
        if crossing is None:
            continue
        first = checked.get(crossing.record_id)
        if first is None:
            checked[crossing.record_id] = (line, crossing)
        elif first[1].payload() != crossing.payload():
            errors.append(
                RowError(
                    line,
                    "record_id",
                    crossing.record_id,
                    f"the same record id on line {first[0]} has other data",
                )
            )
        else:
            duplicates += 1

    conn = db.connection()
    if conn.dialect.name == "postgresql":
        # Two pushes of the same new record must not both pass the "unknown id" check.
        conn.exec_driver_sql("LOCK TABLE border_crossings IN SHARE ROW EXCLUSIVE MODE")
    known: dict[str, BorderCrossing] = {}
    ids = list(checked)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in db.scalars(select(BorderCrossing).where(BorderCrossing.record_id.in_(chunk))):
            known[row.record_id] = row
    fresh: list[Crossing] = []
    for record_id, (line, crossing) in checked.items():
        stored_row = known.get(record_id)
        if stored_row is None:
            fresh.append(crossing)
            continue
        stored = (
            stored_row.iin,
            stored_row.direction,
            stored_row.crossed_at,
            stored_row.checkpoint,
            stored_row.country,
        )
        if stored != crossing.payload():
            errors.append(
                RowError(
                    line,
                    "record_id",
                    record_id,
                    "already recorded with other data; not overwritten",
                )
            )
    errors.sort(key=lambda e: e.line)
    for error in errors:
        report.add_error(error)
    report.rows_total = total
    report.rows_rejected = len({e.line for e in errors})
    if errors:
        report.seconds = time.perf_counter() - clock
        raise FileRejected(f"{report.rows_rejected} bad records; nothing was loaded", report)
    report.rows_skipped = total - len(fresh)
    report.rows_accepted = len(fresh)
    report.loaded = True
    if fresh:
        insert_columns(
            conn,
            "border_crossings",
            {
                "record_id": [c.record_id for c in fresh],
                "iin": [c.iin for c in fresh],
                "direction": [c.direction for c in fresh],
                "crossed_at": [c.crossed_at for c in fresh],
                "checkpoint": [c.checkpoint for c in fresh],
                "country": [c.country for c in fresh],
                "imported_at": now,
            },
        )
    audit.record(
        db,
        actor=actor,
        action="borders.import_crossings",
        object_type="file",
        object_id=report.filename[:64],
        details={
            "sha256": report.sha256,
            "accepted": report.rows_accepted,
            "skipped": report.rows_skipped,
            "duplicates_in_batch": duplicates,
        },
    )
    report.seconds = time.perf_counter() - clock
    return report


def _read_json_lines(path: Path, errors: list[RowError]) -> list[tuple[int, Mapping[str, object]]]:
    records: list[tuple[int, Mapping[str, object]]] = []
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name} is not UTF-8 text") from exc
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(RowError(number, "row", line[:80], f"not JSON: {exc.msg}"))
            continue
        if not isinstance(value, dict):
            errors.append(RowError(number, "row", line[:80], "not a JSON object"))
            continue
        records.append((number, value))
    return records


def _read_csv_records(path: Path, errors: list[RowError]) -> list[tuple[int, Mapping[str, object]]]:
    table = read_csv(path, delimiters=",;")
    header = [normalise_header(h) for h in table.header]
    wanted = {normalise_header(f): f for f in FIELDS}
    missing = [f for f in REQUIRED if normalise_header(f) not in header]
    if missing:
        errors.append(
            RowError(1, "header", ",".join(table.header)[:200], f"missing columns: {missing}")
        )
        return []
    errors.extend(table.malformed)
    columns = {wanted[h]: i for i, h in enumerate(header) if h in wanted}
    return [
        (line, {name: row[i] for name, i in columns.items()})
        for row, line in zip(table.rows, table.lines, strict=True)
    ]


def import_crossings_file(
    db: Session, path: Path, *, actor: str, now: dt.datetime | None = None
) -> ImportReport:
    """Load a file of crossings: CSV with a header, or JSON lines (`.jsonl`, `.ndjson`)."""
    report = ImportReport(filename=path.name, sha256=file_sha256(path))
    errors: list[RowError] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        records = _read_json_lines(path, errors)
    else:
        records = _read_csv_records(path, errors)
    return load_crossings(db, records, report=report, actor=actor, now=now, errors=errors)


def push_crossings(
    db: Session, records: list[dict[str, object]], *, actor: str, now: dt.datetime | None = None
) -> ImportReport:
    """Load crossings pushed through the API; a record's 'line' is its position, from 1."""
    if len(records) > MAX_RECORDS_PER_PUSH:
        raise InvalidInput(f"At most {MAX_RECORDS_PER_PUSH} records a request.")
    body = json.dumps(records, sort_keys=True, default=str).encode("utf-8")
    report = ImportReport(filename="api-push", sha256=hashlib.sha256(body).hexdigest())
    return load_crossings(db, list(enumerate(records, 1)), report=report, actor=actor, now=now)


@dataclass(frozen=True, slots=True)
class TripCheck:
    """What the border records say of a trip: the matching exit and entry, or why none."""

    confirmed: bool
    reason: str  # trip_confirmed | no_entry_in_period | no_exit_before_entry
    exit_id: str | None = None
    entry_id: str | None = None
    entered_at: dt.datetime | None = None


def check_trip(
    db: Session,
    iin: str,
    entered_on: dt.date,
    *,
    tolerance_days: int,
    travel_from: dt.date | None = None,
) -> TripCheck:
    """An exit from Kazakhstan and a later entry, the entry within entered_on ± tolerance.

    Days are Almaty calendar days. The entry nearest the stated day wins; the exit is the last one
    before it (and, when the person gave the day they left, not long before that day).
    """
    tolerance = dt.timedelta(days=tolerance_days)
    start = dt.datetime.combine(entered_on - tolerance, dt.time(), LOCAL_TIME)
    end = dt.datetime.combine(entered_on + tolerance + dt.timedelta(days=1), dt.time(), LOCAL_TIME)
    entries = db.scalars(
        select(BorderCrossing)
        .where(
            BorderCrossing.iin == iin,
            BorderCrossing.direction == "entry",
            BorderCrossing.crossed_at >= start,
            BorderCrossing.crossed_at < end,
        )
        .order_by(BorderCrossing.crossed_at)
    ).all()
    if not entries:
        return TripCheck(False, "no_entry_in_period")
    stated = dt.datetime.combine(entered_on, dt.time(12), LOCAL_TIME)
    for entry in sorted(entries, key=lambda e: abs(e.crossed_at - stated)):
        query = select(BorderCrossing).where(
            BorderCrossing.iin == iin,
            BorderCrossing.direction == "exit",
            BorderCrossing.crossed_at < entry.crossed_at,
        )
        if travel_from is not None:
            earliest = dt.datetime.combine(travel_from - tolerance, dt.time(), LOCAL_TIME)
            query = query.where(BorderCrossing.crossed_at >= earliest)
        exit_ = db.scalars(query.order_by(BorderCrossing.crossed_at.desc()).limit(1)).first()
        if exit_ is None:
            continue
        return TripCheck(True, "trip_confirmed", exit_.record_id, entry.record_id, entry.crossed_at)
    return TripCheck(False, "no_exit_before_entry")
