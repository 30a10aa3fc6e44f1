"""Registering legal devices: bulk import of importers' customs declarations, and lookups."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, bindparam, select, text
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.audit import service as audit
from ceir.bulk import insert_columns, keys_temp_table
from ceir.db import utcnow
from ceir.errors import CeirError, FileRejected
from ceir.importing import (
    CsvTable,
    ImportReport,
    Progress,
    RowError,
    file_sha256,
    normalise_header,
    read_csv,
    record_batch,
    write_rejects,
)
from ceir.registry.models import Declaration, Device, DeviceImei, Registration, RegistrationSource

REQUIRED_COLUMNS = (
    "declaration_number",
    "declaration_date",
    "importer_bin",
    "brand",
    "model",
    "imei1",
)
MAX_IMEIS_PER_DEVICE = 4
ANALYZE_AFTER_ROWS = 100_000
DECLARATION_NUMBER = re.compile(r"^[0-9A-Za-z][0-9A-Za-z/._-]{0,63}$")
TEXT_LIMITS = {"brand": 128, "model": 256}


@dataclass(frozen=True, slots=True)
class RegistrationInfo:
    device_id: int
    source: RegistrationSource
    registered_at: dt.datetime
    declaration_number: str | None
    brand: str | None
    model: str | None


# Built once: building and hashing this select took ten times longer than running it in SQLite.
_REGISTRATION_IN_FORCE = (
    select(
        Device.id,
        Registration.source,
        Registration.registered_at,
        Declaration.number,
        Device.brand,
        Device.model,
    )
    .join(DeviceImei, DeviceImei.device_id == Device.id)
    .join(Registration, Registration.device_id == Device.id)
    .outerjoin(Declaration, Declaration.id == Registration.declaration_id)
    .where(DeviceImei.imei_key == bindparam("imei_key"), Registration.revoked_at.is_(None))
    .order_by(Registration.registered_at.desc())
    .limit(1)
)


def find_registration(db: Session | Connection, imei_key: str) -> RegistrationInfo | None:
    """The registration in force for the device that owns this 14-digit IMEI key, if any."""
    row = db.execute(_REGISTRATION_IN_FORCE, {"imei_key": int(imei_key)}).first()
    if row is None:
        return None
    return RegistrationInfo(row[0], RegistrationSource(row[1]), row[2], row[3], row[4], row[5])


class _Rows:
    """Per-row errors of a declarations file, keyed by row index."""

    def __init__(self, table: CsvTable) -> None:
        self.table = table
        self.errors: dict[int, list[RowError]] = defaultdict(list)

    def reject(self, index: int, field: str, value: str, reason: str) -> None:
        self.errors[index].append(RowError(self.table.lines[index], field, value, reason))


def import_declarations(
    db: Session,
    path: Path,
    *,
    actor: str,
    accept_good: bool = False,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    today: dt.date | None = None,
) -> ImportReport:
    """Register the devices of a customs declarations file, one device a row.

    Atomic: the caller's transaction holds every change. Idempotent: a row whose IMEIs are already
    registered under the same declaration is skipped. Any bad row (format, duplicate, conflict with
    another registration) refuses the whole file, unless `accept_good` loads the good rows and
    writes the bad ones, with reasons, to `rejects_path`.
    """
    started, clock = utcnow(), time.perf_counter()
    today = today or started.date()
    report = ImportReport(filename=path.name, sha256=file_sha256(path))
    table = read_csv(path, delimiters=",;", progress=progress)
    header = [normalise_header(h) for h in table.header]
    missing = [c for c in REQUIRED_COLUMNS if normalise_header(c) not in header]
    if missing:
        report.add_error(
            RowError(
                1, "header", ",".join(table.header)[:200], f"missing columns: {', '.join(missing)}"
            )
        )
        report.rows_total = report.rows_rejected = len(table.rows) + len(table.malformed)
        raise FileRejected("the declarations file lacks required columns", report)
    col = {name: header.index(normalise_header(name)) for name in REQUIRED_COLUMNS}
    imei_columns = sorted(
        (
            (int(m.group(1)), i)
            for i, h in enumerate(header)
            if (m := re.fullmatch(r"imei(\d+)", h))
        ),
    )
    n = len(table.rows)
    rows = _Rows(table)
    columns: list[tuple[str, ...]] = (
        list(zip(*table.rows, strict=True)) if n else [() for _ in header]
    )

    numbers, dates, bins = _check_declarations(rows, columns, col, today)
    brands = _check_text(rows, columns[col["brand"]], "brand")
    models = _check_text(rows, columns[col["model"]], "model")
    keys, present = _check_imeis(rows, columns, imei_columns)

    conn = db.connection()
    if conn.dialect.name == "postgresql":
        # Taken before the conflict checks, so no other registration slips in between.
        conn.exec_driver_sql("LOCK TABLE devices IN SHARE ROW EXCLUSIVE MODE")
    skip = _check_against_registry(conn, rows, numbers, keys, present)
    declaration_ids = _check_existing_declarations(conn, rows, numbers, dates, bins)

    bad = np.zeros(n, dtype=bool)
    for index in rows.errors:
        bad[index] = True
    report.rows_total = n + len(table.malformed)
    report.rows_rejected = int(bad.sum()) + len(table.malformed)
    for error in table.malformed:
        report.add_error(error)
    for index in sorted(rows.errors):
        for error in rows.errors[index]:
            report.add_error(error)
    report.errors.sort(key=lambda e: e.line)
    if report.rows_rejected and not accept_good:
        report.seconds = time.perf_counter() - clock
        raise FileRejected(f"{report.rows_rejected} bad rows; nothing was loaded", report)

    load = ~bad & ~skip
    report.rows_skipped = int((~bad & skip).sum())
    report.rows_accepted = int(load.sum())
    report.loaded = True
    batch = record_batch(db, "declarations", report, actor, started)

    if report.rows_accepted:
        _insert_devices(
            conn,
            load,
            numbers,
            dates,
            bins,
            declaration_ids,
            brands,
            models,
            keys,
            present,
            table.lines,
            batch.id,
            actor,
            started,
        )
    if rejects_path and report.rows_rejected:
        bad_lines = {table.lines[i] for i in rows.errors}
        write_rejects(rejects_path, table.header, table, bad_lines, report.errors)
    audit.record(
        db,
        actor=actor,
        action="registry.import_declarations",
        object_type="import_batch",
        object_id=str(batch.id),
        details={
            "file": path.name,
            "sha256": report.sha256,
            "accepted": report.rows_accepted,
            "skipped": report.rows_skipped,
            "rejected": report.rows_rejected,
        },
    )
    report.seconds = time.perf_counter() - clock
    return report


def _check_declarations(
    rows: _Rows, columns: list[tuple[str, ...]], col: dict[str, int], today: dt.date
) -> tuple[list[str], list[dt.date | None], list[str]]:
    numbers = [v.strip() for v in columns[col["declaration_number"]]]
    raw_dates = [v.strip() for v in columns[col["declaration_date"]]]
    raw_bins = [v.strip() for v in columns[col["importer_bin"]]]

    date_of: dict[str, dt.date | str] = {}
    for value in set(raw_dates):
        try:
            parsed = dt.date.fromisoformat(value)
            date_of[value] = parsed if parsed <= today else "is in the future"
        except ValueError:
            date_of[value] = "not a date in the form YYYY-MM-DD"
    bin_problem: dict[str, str | None] = {}
    for value in set(raw_bins):
        try:
            identifiers.parse_bin(value)
            bin_problem[value] = None
        except identifiers.IdentifierError as exc:
            bin_problem[value] = str(exc)
    number_ok = {v: bool(DECLARATION_NUMBER.match(v)) for v in set(numbers)}

    first_seen: dict[str, tuple[int, str, str]] = {}
    dates: list[dt.date | None] = []
    for i, (number, raw_date, raw_bin) in enumerate(zip(numbers, raw_dates, raw_bins, strict=True)):
        parsed_date = date_of[raw_date]
        dates.append(parsed_date if isinstance(parsed_date, dt.date) else None)
        if not number_ok[number]:
            rows.reject(
                i, "declaration_number", number, "required: up to 64 letters, digits and / . _ -"
            )
        if isinstance(parsed_date, str):
            rows.reject(i, "declaration_date", raw_date, parsed_date)
        if bin_problem[raw_bin]:
            rows.reject(i, "importer_bin", raw_bin, str(bin_problem[raw_bin]))
        first = first_seen.setdefault(number, (i, raw_date, raw_bin))
        if first[1:] != (raw_date, raw_bin):
            rows.reject(
                i,
                "declaration_number",
                number,
                f"date or importer differs from line {rows.table.lines[first[0]]} "
                "of the same declaration",
            )
    return numbers, dates, raw_bins


def _check_text(rows: _Rows, values: tuple[str, ...], field: str) -> list[str]:
    cleaned = [v.strip() for v in values]
    limit = TEXT_LIMITS[field]
    for i, value in enumerate(cleaned):
        if not value:
            rows.reject(i, field, value, "required")
        elif len(value) > limit:
            rows.reject(i, field, value[:40] + "…", f"longer than {limit} characters")
    return cleaned


def _check_imeis(
    rows: _Rows, columns: list[tuple[str, ...]], imei_columns: list[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Keys (rows x slots, int64) and which cells hold an IMEI; format and duplicates checked."""
    n = len(rows.table.rows)
    keys = np.zeros((n, len(imei_columns)), dtype=np.int64)
    present = np.zeros((n, len(imei_columns)), dtype=bool)
    for slot, (number, index) in enumerate(imei_columns):
        values = columns[index]
        slot_keys, ok = identifiers.bulk_imei_keys(list(values))
        empty = np.fromiter((not v.strip() for v in values), dtype=bool, count=n)
        keys[:, slot] = slot_keys
        present[:, slot] = ok
        for i in np.flatnonzero(~ok & ~empty):
            try:
                identifiers.parse_imei(values[i])
                reason = "not a valid IMEI"
            except identifiers.IdentifierError as exc:
                reason = str(exc)
            rows.reject(int(i), f"imei{number}", values[i], reason)
        if number == 1:
            for i in np.flatnonzero(empty):
                rows.reject(int(i), "imei1", "", "required: every device has at least one IMEI")
    for i in np.flatnonzero(present.sum(axis=1) > MAX_IMEIS_PER_DEVICE):
        rows.reject(int(i), "imei", "", f"a device has at most {MAX_IMEIS_PER_DEVICE} IMEIs")

    # The same IMEI twice in the file (in one row or in two) is an error at every later place.
    flat_rows, flat_slots = np.nonzero(present)
    flat_keys = keys[flat_rows, flat_slots]
    order = np.argsort(flat_keys, kind="stable")
    sorted_keys = flat_keys[order]
    repeats = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1]) + 1
    for position in repeats:
        first = position - 1
        while first > 0 and sorted_keys[first - 1] == sorted_keys[position]:
            first -= 1
        row = int(flat_rows[order[position]])
        first_row = int(flat_rows[order[first]])
        slot = int(flat_slots[order[position]])
        rows.reject(
            row,
            f"imei{imei_columns[slot][0]}",
            rows.table.rows[row][imei_columns[slot][1]],
            f"the same IMEI is also on line {rows.table.lines[first_row]}",
        )
    return keys, present


def _check_against_registry(
    conn: Connection, rows: _Rows, numbers: list[str], keys: np.ndarray, present: np.ndarray
) -> np.ndarray:
    """Rows already registered exactly so (to skip), and conflicts with other registrations."""
    n = len(numbers)
    skip = np.zeros(n, dtype=bool)
    flat_rows, flat_slots = np.nonzero(present)
    if flat_rows.size == 0:
        return skip
    keys_temp_table(conn, "tmp_declaration_keys", keys[flat_rows, flat_slots], flat_rows)
    found = conn.execute(
        text(
            "SELECT t.row_no, t.imei_key, di.device_id, r.source, d.number "
            "FROM tmp_declaration_keys t "
            "JOIN device_imeis di ON di.imei_key = t.imei_key "
            "LEFT JOIN registrations r ON r.device_id = di.device_id AND r.revoked_at IS NULL "
            "LEFT JOIN declarations d ON d.id = r.declaration_id"
        )
    ).all()
    conn.exec_driver_sql("DROP TABLE tmp_declaration_keys")
    if not found:
        return skip
    hits: dict[int, list[tuple[int, int, str | None, str | None]]] = defaultdict(list)
    for row_no, key, device_id, source, number in found:
        hits[row_no].append((key, device_id, source, number))
    imeis_in_row = present.sum(axis=1)
    for row_no, row_hits in hits.items():
        same = [h for h in row_hits if h[3] == numbers[row_no]]
        devices = {h[1] for h in row_hits}
        if len(same) == len(row_hits) == imeis_in_row[row_no] and len(devices) == 1:
            skip[row_no] = True
            continue
        for key, _device, source, number in row_hits:
            if number == numbers[row_no]:
                continue
            where = f"declaration {number}" if number else f"source {source or 'unknown'}"
            rows.reject(
                row_no,
                "imei",
                str(key).zfill(14),
                f"already registered to another device ({where}); not overwritten",
            )
        if len(same) and (len(same) != imeis_in_row[row_no] or len(devices) != 1):
            rows.reject(
                row_no,
                "imei",
                "",
                "differs from the device registered under this declaration with the same IMEIs",
            )
    return skip


def _check_existing_declarations(
    conn: Connection, rows: _Rows, numbers: list[str], dates: list[dt.date | None], bins: list[str]
) -> dict[str, int]:
    """Ids of declarations already known; a row may not change their date or importer."""
    known: dict[str, tuple[int, dt.date, str]] = {}
    unique = sorted(set(numbers))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        for decl in conn.execute(select(Declaration).where(Declaration.number.in_(chunk))):
            known[decl.number] = (decl.id, decl.declared_on, decl.importer_bin)
    if known:
        for i, number in enumerate(numbers):
            if number in known and known[number][1:] != (dates[i], bins[i]):
                rows.reject(
                    i,
                    "declaration_number",
                    number,
                    "already recorded with another date or importer BIN",
                )
    return {number: value[0] for number, value in known.items()}


def _insert_devices(
    conn: Connection,
    load: np.ndarray,
    numbers: list[str],
    dates: list[dt.date | None],
    bins: list[str],
    declaration_ids: dict[str, int],
    brands: list[str],
    models: list[str],
    keys: np.ndarray,
    present: np.ndarray,
    lines: list[int],
    batch_id: int,
    actor: str,
    now: dt.datetime,
) -> None:
    indexes = np.flatnonzero(load)
    new_declarations: dict[str, tuple[dt.date | None, str]] = {}
    for i in indexes:
        if numbers[i] not in declaration_ids:
            new_declarations.setdefault(numbers[i], (dates[i], bins[i]))
    if new_declarations:
        insert_columns(
            conn,
            "declarations",
            {
                "number": list(new_declarations),
                "declared_on": [v[0] for v in new_declarations.values()],
                "importer_bin": [v[1] for v in new_declarations.values()],
                "created_at": now,
            },
        )
        for start in range(0, len(new_declarations), 500):
            chunk = list(new_declarations)[start : start + 500]
            rows = conn.execute(
                select(Declaration.number, Declaration.id).where(Declaration.number.in_(chunk))
            )
            declaration_ids.update({number: id_ for number, id_ in rows})

    register_devices_bulk(
        conn,
        keys=keys[indexes],
        present=present[indexes],
        brands=[brands[i] for i in indexes],
        models=[models[i] for i in indexes],
        source=RegistrationSource.IMPORTER_DECLARATION,
        actor=actor,
        now=now,
        declaration_ids=[declaration_ids[numbers[i]] for i in indexes],
        batch_id=batch_id,
        line_nos=[lines[i] for i in indexes],
    )


def register_devices_bulk(
    conn: Connection,
    *,
    keys: np.ndarray,
    present: np.ndarray,
    source: RegistrationSource,
    actor: str,
    now: dt.datetime,
    brands: list[str | None] | None = None,
    models: list[str | None] | None = None,
    declaration_ids: list[int] | None = None,
    batch_id: int | None = None,
    line_nos: list[int] | None = None,
    evidence: list[dict[str, object]] | None = None,
) -> np.ndarray:
    """Create devices (rows of `keys`, IMEI slots where `present`) and register them at once.

    The caller has checked that no key is registered yet. Returns the new device ids.
    """
    count = keys.shape[0]
    if conn.dialect.name == "postgresql":
        # Ids are handed out from max(id); no other writer may do the same meanwhile.
        conn.exec_driver_sql("LOCK TABLE devices IN SHARE ROW EXCLUSIVE MODE")
    first_id = (
        conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM devices")).scalar_one() or 0
    ) + 1
    device_ids = np.arange(first_id, first_id + count, dtype=np.int64)
    first_keys = keys[np.arange(count), present.argmax(axis=1)]
    insert_columns(
        conn,
        "devices",
        {
            "id": device_ids,
            "tac": [str(k // 1_000_000).zfill(8) for k in first_keys.tolist()],
            "brand": brands if brands is not None else None,
            "model": models if models is not None else None,
            "created_at": now,
        },
    )
    row_pos, slots = np.nonzero(present)
    imei_keys = keys[row_pos, slots]
    # In key order, the primary key's B-tree grows page by page instead of splitting pages all
    # over the tree (a declaration's IMEIs come in no particular order).
    order = np.argsort(imei_keys, kind="stable")
    insert_columns(
        conn,
        "device_imeis",
        {
            "imei_key": imei_keys[order],
            "device_id": device_ids[row_pos[order]],
            "slot": (slots[order] + 1).astype(np.int16),
        },
    )
    registration: dict[str, object] = {
        "device_id": device_ids,
        "source": source.value,
        "registered_at": now,
        "actor": actor,
        "batch_id": batch_id,
    }
    if declaration_ids is not None:
        registration["declaration_id"] = declaration_ids
    if line_nos is not None:
        registration["line_no"] = line_nos
    if evidence is not None:
        registration["evidence"] = [json.dumps(e) for e in evidence]
    insert_columns(conn, "registrations", registration)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('devices', 'id'), "
            "(SELECT COALESCE(MAX(id), 1) FROM devices))"
        )
        if count >= ANALYZE_AFTER_ROWS:
            # Fresh statistics at once: until autovacuum's, the planner would take a registry of
            # millions for an empty one and scan it where an index look-up is right.
            conn.exec_driver_sql("ANALYZE devices, device_imeis, registrations")
    return device_ids


class AlreadyRegistered(CeirError):
    code = "already_registered"
    status = 409
    title = "Already registered"


def register_device(
    db: Session,
    *,
    imei_keys: list[str],
    source: RegistrationSource,
    actor: str,
    evidence: dict[str, object],
    brand: str | None = None,
    model: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Register one device (1-4 IMEI keys) now; its real-time answer turns white at once.

    Refuses, naming the IMEI, when any key is already registered to a device.
    """
    from ceir.eir import journal
    from ceir.eir.index import DeviceCode

    keys = [int(k) for k in imei_keys]
    taken = db.scalars(select(DeviceImei.imei_key).where(DeviceImei.imei_key.in_(keys))).all()
    if taken:
        raise AlreadyRegistered(f"IMEI {str(taken[0]).zfill(14)} is already registered")
    device_ids = register_devices_bulk(
        db.connection(),
        keys=np.array([keys], dtype=np.int64),
        present=np.ones((1, len(keys)), dtype=bool),
        source=source,
        actor=actor,
        now=now or utcnow(),
        brands=[brand],
        models=[model],
        evidence=[evidence],
    )
    journal.record(db, [(key, DeviceCode.ALLOWED) for key in keys])
    audit.record(
        db,
        actor=actor,
        action="registry.register",
        object_type="device",
        object_id=str(int(device_ids[0])),
        details={"source": source.value, "imeis": [str(k).zfill(14) for k in keys]},
    )
    return int(device_ids[0])
