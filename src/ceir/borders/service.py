"""Loading border crossings (file or push API) and finding the trip that brought a device in."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from ceir import identifiers, importing
from ceir.borders.models import BorderCrossing
from ceir.bulk import insert_columns
from ceir.db import utcnow
from ceir.errors import FileRejected, InvalidInput
from ceir.importing import (
    STEP_DATABASE,
    STEP_FILE,
    CsvReader,
    Importer,
    ImportReport,
    ImportRun,
    RowError,
    Stage,
    file_sha256,
    normalise_header,
    run_import,
    stage_batches,
    stage_errors,
    stage_tables,
    text_lines,
)

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


_STAGE_SCHEMA = """
CREATE TABLE rows (line INTEGER, record_id VARCHAR, iin VARCHAR, direction VARCHAR,
    crossed_at BIGINT, checkpoint VARCHAR, country VARCHAR);
CREATE TABLE known (record_id VARCHAR, iin VARCHAR, direction VARCHAR, crossed_at BIGINT,
    checkpoint VARCHAR, country VARCHAR);
"""
_PAYLOAD = ("iin", "direction", "crossed_at", "checkpoint", "country")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

Records = Iterable[tuple[int, Mapping[str, object]]]  # (line, fields)


def _micros(moment: dt.datetime) -> int:
    """Exact microseconds since 1970 (UTC), so staged times compare exactly with stored ones."""
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def _chunks(records: Records) -> Iterator[list[tuple[int, Mapping[str, object]]]]:
    size = importing.CHUNK_ROWS  # read when called, so a test may make chunks small
    batch: list[tuple[int, Mapping[str, object]]] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class CrossingsImporter(Importer):
    """Crossings' rules: each record's fields, a record id given once, a known id not changed."""

    kind = "crossings"
    action = "borders.import_crossings"
    unit = "records"

    def __init__(
        self, path: Path | None, records: list[dict[str, object]] | None, now: dt.datetime
    ) -> None:
        super().__init__(path)
        self.records = records
        self.now = now

    def _read(self, stage: Stage, report: ImportReport) -> Records:
        if self.path is None:
            return enumerate(self.records or [], 1)
        if self.path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            return _json_lines(stage, self.path)
        return _csv_records(stage, self.path, report)

    def stage(self, stage: Stage, report: ImportReport) -> None:
        stage.execute(_STAGE_SCHEMA)
        for chunk in _chunks(self._read(stage, report)):
            errors: list[RowError] = []
            crossings = [
                (line, crossing)
                for line, raw in chunk
                if (crossing := _check(line, raw, self.now, errors)) is not None
            ]
            stage_errors(stage, errors)
            rows = {
                "line": pa.array([line for line, _ in crossings], pa.int32()),
                "record_id": [c.record_id for _, c in crossings],
                "iin": [c.iin for _, c in crossings],
                "direction": [c.direction for _, c in crossings],
                "crossed_at": pa.array([_micros(c.crossed_at) for _, c in crossings], pa.int64()),
                "checkpoint": [c.checkpoint for _, c in crossings],
                "country": pa.array([c.country for _, c in crossings], pa.string()),
            }
            stage_tables(stage, {"rows": pa.table(rows)})

    def check(self, conn: Connection, stage: Stage, report: ImportReport) -> None:
        same = " AND ".join(f"r.{f} IS NOT DISTINCT FROM f.{f}" for f in _PAYLOAD)
        stage.execute(
            f"""
            CREATE TABLE firsts AS
            SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY record_id ORDER BY line) AS nth
                           FROM rows) WHERE nth = 1;
            INSERT INTO errors (line, step, field, value, reason)
            SELECT r.line, {STEP_FILE}, 'record_id', r.record_id,
                   'the same record id on line ' || f.line || ' has other data'
            FROM rows r JOIN firsts f USING (record_id) WHERE r.line > f.line AND NOT ({same});
            INSERT INTO skip
            SELECT r.line FROM rows r JOIN firsts f USING (record_id)
            WHERE r.line > f.line AND {same};
            """  # noqa: S608
        )
        if conn.dialect.name == "postgresql":
            # Two pushes of the same new record must not both pass the "unknown id" check.
            conn.exec_driver_sql("LOCK TABLE border_crossings IN SHARE ROW EXCLUSIVE MODE")
        for batch in stage_batches(stage, "SELECT record_id FROM firsts"):
            ids = batch.column(0).to_pylist()
            for start in range(0, len(ids), 1000):
                found = conn.execute(
                    select(
                        BorderCrossing.record_id,
                        BorderCrossing.iin,
                        BorderCrossing.direction,
                        BorderCrossing.crossed_at,
                        BorderCrossing.checkpoint,
                        BorderCrossing.country,
                    ).where(BorderCrossing.record_id.in_(ids[start : start + 1000]))
                ).all()
                if found:
                    record_id, iin, direction, crossed_at, checkpoint, country = zip(
                        *found, strict=True
                    )
                    known = {
                        "record_id": record_id,
                        "iin": iin,
                        "direction": direction,
                        "crossed_at": pa.array([_micros(t) for t in crossed_at], pa.int64()),
                        "checkpoint": checkpoint,
                        "country": pa.array(country, pa.string()),
                    }
                    stage_tables(stage, {"known": pa.table(known)})
        stage.execute(
            f"""
            INSERT INTO errors (line, step, field, value, reason)
            SELECT r.line, {STEP_DATABASE}, 'record_id', r.record_id,
                   'already recorded with other data; not overwritten'
            FROM firsts r JOIN known f USING (record_id) WHERE NOT ({same});
            INSERT INTO skip
            SELECT r.line FROM firsts r JOIN known f USING (record_id) WHERE {same};
            """  # noqa: S608
        )

    def load(self, conn: Connection, stage: Stage, report: ImportReport, run: ImportRun) -> None:
        for batch in stage_batches(stage, "SELECT * FROM accepted ORDER BY line"):
            columns = batch.to_pydict()
            insert_columns(
                conn,
                "border_crossings",
                {
                    "record_id": columns["record_id"],
                    "iin": columns["iin"],
                    "direction": columns["direction"],
                    "crossed_at": [
                        _EPOCH + dt.timedelta(microseconds=m) for m in columns["crossed_at"]
                    ],
                    "checkpoint": columns["checkpoint"],
                    "country": columns["country"],
                    "imported_at": self.now,
                },
            )


def _json_lines(stage: Stage, path: Path) -> Records:
    """The file's JSON objects with their line numbers; other lines are row errors."""
    errors: list[RowError] = []
    for number, line in enumerate(text_lines(path), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(RowError(number, "row", line.rstrip()[:80], f"not JSON: {exc.msg}"))
            continue
        if not isinstance(value, dict):
            errors.append(RowError(number, "row", line.rstrip()[:80], "not a JSON object"))
            continue
        yield number, value
        if len(errors) >= importing.CHUNK_ROWS:
            stage_errors(stage, errors)
            errors = []
    stage_errors(stage, errors)


def _csv_records(stage: Stage, path: Path, report: ImportReport) -> Records:
    reader = CsvReader(path, delimiters=",;")
    header = [normalise_header(h) for h in reader.header]
    wanted = {normalise_header(f): f for f in FIELDS}
    missing = [f for f in REQUIRED if normalise_header(f) not in header]
    if missing:
        report.add_error(
            RowError(1, "header", ",".join(reader.header)[:200], f"missing columns: {missing}")
        )
        report.rows_rejected = 1
        raise FileRejected("1 bad records; nothing was loaded", report)
    columns = {wanted[h]: i for i, h in enumerate(header) if h in wanted}
    for chunk in reader.chunks():
        stage_errors(stage, chunk.malformed)
        for row, line in zip(chunk.rows, chunk.lines, strict=True):
            yield line, {name: row[i] for name, i in columns.items()}


def import_crossings_file(
    db: Session, path: Path, *, actor: str, now: dt.datetime | None = None
) -> ImportReport:
    """Load a file of crossings: CSV with a header, or JSON lines (`.jsonl`, `.ndjson`).

    All or nothing, idempotent by record id: a record already stored with the same fields is
    skipped; a known id with other fields is a conflict that refuses the whole file, as does any
    bad record.
    """
    report = ImportReport(filename=path.name, sha256=file_sha256(path))
    return run_import(db, CrossingsImporter(path, None, now or utcnow()), report, actor=actor)


def push_crossings(
    db: Session, records: list[dict[str, object]], *, actor: str, now: dt.datetime | None = None
) -> ImportReport:
    """Load crossings pushed through the API; a record's 'line' is its position, from 1."""
    if len(records) > MAX_RECORDS_PER_PUSH:
        raise InvalidInput(f"At most {MAX_RECORDS_PER_PUSH} records a request.")
    body = json.dumps(records, sort_keys=True, default=str).encode("utf-8")
    report = ImportReport(filename="api-push", sha256=hashlib.sha256(body).hexdigest())
    return run_import(db, CrossingsImporter(None, records, now or utcnow()), report, actor=actor)


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


def trip_around(db: Session, iin: str, day: dt.date, *, seen_on: dt.date) -> TripCheck:
    """The trip abroad during which `day` fell, ended before a device was first seen at home.

    The first entry on or after `day` (Almaty days) must come no later than `seen_on`, and the
    last exit before that entry must be on or before `day`: the person was abroad that day and
    came back before the device was used here.
    """
    since = dt.datetime.combine(day, dt.time(), LOCAL_TIME)
    entry = db.scalars(
        select(BorderCrossing)
        .where(
            BorderCrossing.iin == iin,
            BorderCrossing.direction == "entry",
            BorderCrossing.crossed_at >= since,
        )
        .order_by(BorderCrossing.crossed_at)
        .limit(1)
    ).first()
    if entry is None:
        return TripCheck(False, "no_entry_in_period")
    if entry.crossed_at.astimezone(LOCAL_TIME).date() > seen_on:
        return TripCheck(False, "seen_before_entry")
    exit_ = db.scalars(
        select(BorderCrossing)
        .where(
            BorderCrossing.iin == iin,
            BorderCrossing.direction == "exit",
            BorderCrossing.crossed_at < entry.crossed_at,
        )
        .order_by(BorderCrossing.crossed_at.desc())
        .limit(1)
    ).first()
    if exit_ is None or exit_.crossed_at >= since + dt.timedelta(days=1):
        return TripCheck(False, "no_exit_before_entry")
    return TripCheck(True, "trip_confirmed", exit_.record_id, entry.record_id, entry.crossed_at)
