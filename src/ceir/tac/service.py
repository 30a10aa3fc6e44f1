"""Importing the GSMA TAC database and looking up the model behind a TAC."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, bindparam, select, text
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.db import utcnow
from ceir.errors import FileRejected
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
from ceir.tac.models import TacModel

# The GSMA export has been published under several header spellings; each field takes any of these.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "tac": ("tac",),
    "marketing_name": ("marketingname",),
    "brand": ("brandname", "brand", "manufacturer", "manufacturerorapplicant", "manufacturername"),
    "model": ("modelname", "model"),
    "device_type": ("devicetype", "equipmenttype"),
    "operating_system": ("operatingsystem", "os"),
    "allocation_date": ("allocationdate", "dateofallocation"),
}
FIELDS = tuple(COLUMN_ALIASES)
DATE_FORMATS = ("%Y-%m-%d", "%d-%b-%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y%m%d")
MAX_LENGTH = {
    "marketing_name": 256,
    "brand": 128,
    "model": 256,
    "device_type": 64,
    "operating_system": 128,
}


@dataclass(frozen=True, slots=True)
class DeviceModel:
    tac: str
    brand: str | None
    model: str | None
    marketing_name: str | None
    device_type: str | None


_MODEL_COLUMNS = (
    TacModel.tac,
    TacModel.brand,
    TacModel.model,
    TacModel.marketing_name,
    TacModel.device_type,
)


# Built once, like every per-request statement: building a select costs more than running it.
_MODEL_BY_TAC = select(*_MODEL_COLUMNS).where(TacModel.tac == bindparam("tac"))


def lookup(db: Session | Connection, tac: str) -> DeviceModel | None:
    row = db.execute(_MODEL_BY_TAC, {"tac": tac}).first()
    return DeviceModel(*row) if row else None


def lookup_many(db: Session | Connection, tacs: Iterable[str]) -> dict[str, DeviceModel]:
    wanted = sorted(set(tacs))
    models: dict[str, DeviceModel] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for row in db.execute(select(*_MODEL_COLUMNS).where(TacModel.tac.in_(chunk))):
            models[row[0]] = DeviceModel(*row)
    return models


def _parse_date(value: str) -> dt.date | None:
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def _map_columns(header: list[str]) -> dict[str, int]:
    positions = {normalise_header(name): i for i, name in enumerate(header)}
    mapping: dict[str, int] = {}
    for field_name, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in positions:
                mapping[field_name] = positions[alias]
                break
    return mapping


def import_tac_file(
    db: Session,
    path: Path,
    *,
    actor: str,
    accept_good: bool = False,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Load a GSMA TAC export (comma or pipe separated); known TACs are updated in place.

    The whole file is refused when any row is bad, unless `accept_good` is set: then the good rows
    load and the bad ones go to `rejects_path`.
    """
    started, clock = utcnow(), time.perf_counter()
    report = ImportReport(filename=path.name, sha256=file_sha256(path))
    table = read_csv(path, delimiters=",|;\t", progress=progress)
    columns = _map_columns(table.header)
    if "tac" not in columns:
        report.add_error(RowError(1, "header", ",".join(table.header)[:200], "no TAC column"))
        report.rows_rejected = len(table.rows)
        raise FileRejected("the TAC file has no TAC column", report)

    records, bad_lines = _validate(table, columns, report)
    report.rows_total = len(table.rows) + len(table.malformed)
    report.rows_rejected = len(bad_lines) + len(table.malformed)
    report.errors.sort(key=lambda e: e.line)
    if report.rows_rejected and not accept_good:
        report.seconds = time.perf_counter() - clock
        raise FileRejected(f"{report.rows_rejected} bad rows; nothing was loaded", report)

    existing = {
        row.tac: tuple(getattr(row, f) for f in FIELDS[1:])
        for row in db.execute(select(TacModel)).scalars()
    }
    now = utcnow()
    changed = [
        {**record, "updated_at": now}
        for record in records
        if existing.get(str(record["tac"])) != tuple(record[f] for f in FIELDS[1:])
    ]
    if changed:
        assignments = ", ".join(f"{f} = excluded.{f}" for f in (*FIELDS[1:], "updated_at"))
        db.execute(
            text(
                f"INSERT INTO tac_models ({', '.join((*FIELDS, 'updated_at'))}) "  # noqa: S608
                f"VALUES ({', '.join(':' + f for f in (*FIELDS, 'updated_at'))}) "
                f"ON CONFLICT (tac) DO UPDATE SET {assignments}"
            ),
            changed,
        )
    report.rows_accepted = len(changed)
    report.rows_skipped = len(records) - len(changed)
    report.loaded = True
    if rejects_path and report.rows_rejected:
        write_rejects(rejects_path, table.header, table, bad_lines, report.errors)
    batch = record_batch(db, "tac", report, actor, started)
    audit.record(
        db,
        actor=actor,
        action="tac.import",
        object_type="import_batch",
        object_id=str(batch.id),
        details={
            "file": path.name,
            "sha256": report.sha256,
            "accepted": report.rows_accepted,
            "rejected": report.rows_rejected,
        },
    )
    report.seconds = time.perf_counter() - clock
    return report


def _validate(
    table: CsvTable, columns: dict[str, int], report: ImportReport
) -> tuple[list[dict[str, object]], set[int]]:
    for error in table.malformed:
        report.add_error(error)
    records: list[dict[str, object]] = []
    bad_lines: set[int] = set()
    first_line_of: dict[str, int] = {}
    dates: dict[str, dt.date | None] = {}

    for row, line in zip(table.rows, table.lines, strict=True):
        values = {f: row[i].strip() for f, i in columns.items()}
        errors: list[RowError] = []
        tac = values["tac"]
        if not (len(tac) == 8 and tac.isdigit()):
            hint = " (a leading zero lost by a spreadsheet?)" if len(tac) == 7 else ""
            errors.append(RowError(line, "tac", tac, f"a TAC is 8 digits{hint}"))
        elif tac in first_line_of:
            errors.append(RowError(line, "tac", tac, f"also on line {first_line_of[tac]}"))
        else:
            first_line_of[tac] = line
        allocated = values.get("allocation_date", "")
        if allocated:
            if allocated not in dates:
                dates[allocated] = _parse_date(allocated)
            if dates[allocated] is None:
                errors.append(
                    RowError(
                        line,
                        "allocation_date",
                        allocated,
                        "not a date (expected e.g. 2019-01-31 or 31-Jan-2019)",
                    )
                )
        for field_name, limit in MAX_LENGTH.items():
            if len(values.get(field_name, "")) > limit:
                errors.append(
                    RowError(
                        line,
                        field_name,
                        values[field_name][:40] + "…",
                        f"longer than {limit} characters",
                    )
                )
        if errors:
            bad_lines.add(line)
            for error in errors:
                report.add_error(error)
            continue
        record: dict[str, object] = {f: (values.get(f) or None) for f in FIELDS}
        record["allocation_date"] = dates.get(allocated) if allocated else None
        records.append(record)
    return records, bad_lines
