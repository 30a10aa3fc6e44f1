"""Importing the GSMA TAC database and looking up the model behind a TAC."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from sqlalchemy import Connection, bindparam, select, text
from sqlalchemy.orm import Session

from ceir.errors import FileRejected
from ceir.importing import (
    STEP_FILE,
    CsvReader,
    Importer,
    ImportReport,
    ImportRun,
    Progress,
    RowError,
    Stage,
    file_sha256,
    normalise_header,
    run_import,
    stage_batches,
    stage_errors,
    stage_tables,
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


_STAGE_SCHEMA = """
CREATE TABLE rows (line INTEGER, tac VARCHAR, marketing_name VARCHAR, brand VARCHAR,
    model VARCHAR, device_type VARCHAR, operating_system VARCHAR, allocation_date DATE);
CREATE TABLE known (tac VARCHAR, marketing_name VARCHAR, brand VARCHAR, model VARCHAR,
    device_type VARCHAR, operating_system VARCHAR, allocation_date DATE);
"""


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
    report = ImportReport(filename=path.name, sha256=file_sha256(path))
    return run_import(
        db,
        TacImporter(path, progress),
        report,
        actor=actor,
        accept_good=accept_good,
        rejects_path=rejects_path,
    )


class TacImporter(Importer):
    """A TAC file's rules: 8-digit TACs given once, dates, lengths; unchanged models skipped."""

    kind = "tac"
    action = "tac.import"
    delimiters = ",|;\t"

    def stage(self, stage: Stage, report: ImportReport) -> None:
        assert self.path is not None
        reader = CsvReader(self.path, delimiters=self.delimiters, progress=self.progress)
        columns = _map_columns(reader.header)
        if "tac" not in columns:
            report.add_error(RowError(1, "header", ",".join(reader.header)[:200], "no TAC column"))
            report.rows_rejected = sum(len(c.rows) for c in reader.chunks())
            raise FileRejected("the TAC file has no TAC column", report)
        stage.execute(_STAGE_SCHEMA)
        dates: dict[str, dt.date | None] = {}
        for chunk in reader.chunks():
            errors = list(chunk.malformed)
            records = [
                _check_row(line, row, columns, dates, errors)
                for row, line in zip(chunk.rows, chunk.lines, strict=True)
            ]
            stage_errors(stage, errors)
            table = {f: [r[f] for r in records] for f in ("line", *FIELDS)}
            stage_tables(
                stage,
                {
                    "rows": pa.table(
                        {
                            **table,
                            "line": pa.array(table["line"], pa.int32()),
                            "allocation_date": pa.array(table["allocation_date"], pa.date32()),
                        }
                    )
                },
            )

    def check(self, conn: Connection, stage: Stage, report: ImportReport) -> None:
        stage.execute(
            f"""
            INSERT INTO errors (line, step, field, value, reason)
            SELECT line, {STEP_FILE}, 'tac', tac, 'also on line ' || first_line
            FROM (SELECT line, tac, first_value(line) OVER (PARTITION BY tac ORDER BY line)
                         AS first_line
                  FROM rows
                  WHERE line NOT IN (SELECT line FROM errors WHERE field = 'tac'))
            WHERE line > first_line
            """  # noqa: S608
        )
        for batch in stage_batches(stage, "SELECT DISTINCT tac FROM rows"):
            tacs = batch.column(0).to_pylist()
            for start in range(0, len(tacs), 1000):
                found = conn.execute(
                    select(*(getattr(TacModel, f) for f in FIELDS)).where(
                        TacModel.tac.in_(tacs[start : start + 1000])
                    )
                ).all()
                if found:
                    known = dict(zip(FIELDS, zip(*found, strict=True), strict=True))
                    dates = pa.array(known["allocation_date"], pa.date32())
                    table = {f: pa.array(known[f], pa.string()) for f in FIELDS[:-1]}
                    stage_tables(stage, {"known": pa.table({**table, "allocation_date": dates})})
        same = " AND ".join(f"r.{f} IS NOT DISTINCT FROM k.{f}" for f in FIELDS[1:])
        stage.execute(
            f"INSERT INTO skip SELECT r.line FROM rows r JOIN known k USING (tac) WHERE {same}"  # noqa: S608
        )

    def load(self, conn: Connection, stage: Stage, report: ImportReport, run: ImportRun) -> None:
        names = (*FIELDS, "updated_at")
        assignments = ", ".join(f"{f} = excluded.{f}" for f in names[1:])
        upsert = text(
            f"INSERT INTO tac_models ({', '.join(names)}) "  # noqa: S608
            f"VALUES ({', '.join(':' + f for f in names)}) "
            f"ON CONFLICT (tac) DO UPDATE SET {assignments}"
        )
        columns = ", ".join(FIELDS)
        for batch in stage_batches(stage, f"SELECT {columns} FROM accepted ORDER BY tac"):  # noqa: S608
            conn.execute(upsert, [{**r, "updated_at": run.started} for r in batch.to_pylist()])


def _check_row(
    line: int,
    row: list[str],
    columns: dict[str, int],
    dates: dict[str, dt.date | None],
    errors: list[RowError],
) -> dict[str, object]:
    """One row's fields (empty ones None); its problems are added to `errors`."""
    values = {f: row[i].strip() for f, i in columns.items()}
    tac = values["tac"]
    if not (len(tac) == 8 and tac.isdigit()):
        hint = " (a leading zero lost by a spreadsheet?)" if len(tac) == 7 else ""
        errors.append(RowError(line, "tac", tac, f"a TAC is 8 digits{hint}"))
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
    record: dict[str, object] = {f: (values.get(f) or None) for f in FIELDS}
    record["line"] = line
    record["allocation_date"] = dates.get(allocated) if allocated else None
    return record
