"""Importing customs declarations in bounded memory: stream, stage in DuckDB, check, load in chunks.

The file is read chunk by chunk (by Arrow when it is plain, one row a line; else by Python's
exact reader); each chunk's rows are checked on their own (formats, required fields) and staged
in a DuckDB file with their line numbers. Checks that need the whole file (the same IMEI twice, a
declaration's date or importer changing) and the registry (conflicts, rows already loaded) are
set-based queries over the stage. The load streams the accepted rows into the registry, one COPY
a table, all inside the caller's transaction: memory is that of a few chunks, whatever the file's
size, and a failure anywhere leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, bindparam, text
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.bulk import fetch_table, insert_batches, insert_columns, keys_temp_table, temp_table
from ceir.db import utcnow
from ceir.errors import FileRejected
from ceir.importing import (
    CHUNK_ROWS,
    LOAD_CHUNK,
    STEP_DATABASE,
    STEP_FILE,
    STEP_ROW,
    CsvColumns,
    CsvReader,
    Importer,
    ImportReport,
    ImportRun,
    NotPlainCsv,
    Progress,
    RowError,
    Stage,
    file_sha256,
    is_plain_csv,
    normalise_header,
    plain_csv_chunks,
    run_import,
    stage_batches,
    stage_count,
    stage_tables,
)
from ceir.registry.models import RegistrationSource

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

_STAGE_SCHEMA = """
CREATE TABLE rows (line INTEGER, number VARCHAR, raw_date VARCHAR, declared_on DATE,
    importer_bin VARCHAR, brand VARCHAR, model VARCHAR, first_key BIGINT, imeis SMALLINT);
CREATE TABLE keys (imei_key BIGINT, line INTEGER, slot SMALLINT, column_no SMALLINT);
CREATE TABLE key_devices (line INTEGER, imei_key BIGINT, device_id BIGINT);
CREATE TABLE hits (line INTEGER, imei_key BIGINT, device_id BIGINT, source VARCHAR,
    registered_number VARCHAR);
CREATE TABLE known (number VARCHAR, id INTEGER, declared_on DATE, importer_bin VARCHAR);
"""


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
    report = ImportReport(filename=path.name, sha256=file_sha256(path))
    return run_import(
        db,
        DeclarationsImporter(path, progress, today or utcnow().date()),
        report,
        actor=actor,
        accept_good=accept_good,
        rejects_path=rejects_path,
    )


class DeclarationsImporter(Importer):
    """A declarations file's rules: formats, duplicates within the file, registry conflicts."""

    kind = "declarations"
    action = "registry.import_declarations"
    delimiters = ",;"

    def __init__(self, path: Path, progress: Progress | None, today: dt.date) -> None:
        super().__init__(path, progress)
        self.today = today

    def stage(self, stage: Stage, report: ImportReport) -> None:
        assert self.path is not None
        reader = CsvReader(
            self.path, delimiters=self.delimiters, progress=self.progress, chunk_rows=CHUNK_ROWS
        )
        header = [normalise_header(h) for h in reader.header]
        missing = [c for c in REQUIRED_COLUMNS if normalise_header(c) not in header]
        if missing:
            report.add_error(
                RowError(
                    1,
                    "header",
                    ",".join(reader.header)[:200],
                    f"missing columns: {', '.join(missing)}",
                )
            )
            report.rows_total = report.rows_rejected = sum(
                len(c.rows) + len(c.malformed) for c in reader.chunks()
            )
            raise FileRejected("the declarations file lacks required columns", report)
        stage.execute(_STAGE_SCHEMA)
        checker = _RowChecker(header, self.today)
        if is_plain_csv(self.path):
            try:
                for columns in plain_csv_chunks(
                    self.path,
                    len(header),
                    reader.delimiter,
                    chunk_rows=CHUNK_ROWS,
                    progress=self.progress,
                ):
                    stage_tables(stage, checker.check(columns))
                return
            except NotPlainCsv:  # not UTF-8, say: the exact reader tells where
                stage.execute("DELETE FROM rows; DELETE FROM keys; DELETE FROM errors")
        for chunk in reader.chunks():
            stage_tables(stage, checker.check(CsvColumns.of(chunk)))

    def check(self, conn: Connection, stage: Stage, report: ImportReport) -> None:
        _check_within_file(stage)
        if conn.dialect.name == "postgresql":
            # Taken before the conflict checks, so no other registration slips in between.
            conn.exec_driver_sql("LOCK TABLE devices IN SHARE ROW EXCLUSIVE MODE")
        _check_against_registry(conn, stage)

    def load(self, conn: Connection, stage: Stage, report: ImportReport, run: ImportRun) -> None:
        _load(conn, stage, run.id, run.actor, run.started)


class _RowChecker:
    """The checks a row passes on its own: formats, required fields, at most four IMEIs."""

    def __init__(self, header: list[str], today: dt.date) -> None:
        self.col = {name: header.index(normalise_header(name)) for name in REQUIRED_COLUMNS}
        self.imei_columns = sorted(
            (int(m.group(1)), i)
            for i, h in enumerate(header)
            if (m := re.fullmatch(r"imei(\d+)", h))
        )
        self.today = today
        self.errors: list[tuple[int, str, str, str]] = []

    def reject(self, line: int, field: str, value: str, reason: str) -> None:
        self.errors.append((line, field, value, reason))

    def check(self, chunk: CsvColumns) -> dict[str, pa.Table]:
        self.errors = [(e.line, e.field, e.value, e.reason) for e in chunk.malformed]
        n, columns = len(chunk.lines), chunk.columns
        lines: list[int] = chunk.lines.tolist()
        if n:
            numbers, raw_dates, dates, bins = self._declarations(columns, lines)
            brands = self._text(columns[self.col["brand"]], lines, "brand")
            models = self._text(columns[self.col["model"]], lines, "model")
            keys, present = self._imeis(columns, lines)
        else:
            numbers, raw_dates, dates, bins, brands, models = [], [], [], [], [], []
            keys = np.zeros((0, len(self.imei_columns)), dtype=np.int64)
            present = np.zeros((0, len(self.imei_columns)), dtype=bool)
        line_array = chunk.lines
        first_keys = keys[np.arange(n), present.argmax(axis=1)] if n else keys[:, 0]
        row_pos, slots = np.nonzero(present)
        error_lines, fields, values, reasons = (
            list(c) for c in (zip(*self.errors, strict=True) if self.errors else ([], [], [], []))
        )
        return {
            "rows": pa.table(
                {
                    "line": line_array,
                    "number": numbers,
                    "raw_date": raw_dates,
                    "declared_on": pa.array(dates, pa.date32()),
                    "importer_bin": bins,
                    "brand": brands,
                    "model": models,
                    "first_key": np.where(present.any(axis=1), first_keys, 0),
                    "imeis": present.sum(axis=1).astype(np.int16),
                }
            ),
            "keys": pa.table(
                {
                    "imei_key": keys[row_pos, slots],
                    "line": line_array[row_pos],
                    "slot": (slots + 1).astype(np.int16),
                    "column_no": np.asarray(
                        [number for number, _ in self.imei_columns], dtype=np.int16
                    )[slots],
                }
            ),
            "errors": pa.table(
                {
                    "line": pa.array(error_lines, pa.int32()),
                    "step": pa.array([STEP_ROW] * len(error_lines), pa.int16()),
                    "field": pa.array(fields, pa.string()),
                    "value": pa.array(values, pa.string()),
                    "reason": pa.array(reasons, pa.string()),
                }
            ),
        }

    def _declarations(
        self, columns: list[pa.Array], lines: list[int]
    ) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
        numbers = _trimmed(columns[self.col["declaration_number"]])
        raw_dates = _trimmed(columns[self.col["declaration_date"]])
        bins = _trimmed(columns[self.col["importer_bin"]])
        # A chunk holds few distinct numbers, dates and BINs: each is checked once, and rows
        # find theirs by index.
        date_values, date_index = _distinct(raw_dates)
        date_of: list[dt.date | None] = []
        date_problem: list[str | None] = []
        for value in date_values:
            try:
                parsed = dt.date.fromisoformat(value)
            except ValueError:
                date_of.append(None)
                date_problem.append("not a date in the form YYYY-MM-DD")
                continue
            future = parsed > self.today
            date_of.append(None if future else parsed)
            date_problem.append("is in the future" if future else None)
        bin_values, bin_index = _distinct(bins)
        bin_problem: list[str | None] = []
        for value in bin_values:
            try:
                identifiers.parse_bin(value)
                bin_problem.append(None)
            except identifiers.IdentifierError as exc:
                bin_problem.append(str(exc))
        number_values, number_index = _distinct(numbers)
        number_bad = np.array([not DECLARATION_NUMBER.match(v) for v in number_values], dtype=bool)
        date_bad = np.array([p is not None for p in date_problem], dtype=bool)
        bin_bad = np.array([p is not None for p in bin_problem], dtype=bool)
        bad_rows = number_bad[number_index] | date_bad[date_index] | bin_bad[bin_index]
        for i in np.flatnonzero(bad_rows):
            number, date_at, bin_at = number_index[i], date_index[i], bin_index[i]
            if number_bad[number]:
                self.reject(
                    lines[i],
                    "declaration_number",
                    number_values[number],
                    "required: up to 64 letters, digits and / . _ -",
                )
            if date_bad[date_at]:
                self.reject(
                    lines[i], "declaration_date", date_values[date_at], str(date_problem[date_at])
                )
            if bin_bad[bin_at]:
                self.reject(lines[i], "importer_bin", bin_values[bin_at], str(bin_problem[bin_at]))
        dates = pa.array(date_of, pa.date32()).take(pa.array(date_index))
        return numbers, raw_dates, dates, bins

    def _text(self, values: pa.Array, lines: list[int], field: str) -> pa.Array:
        cleaned = _trimmed(values)
        length = pc.utf8_length(cleaned).to_numpy(zero_copy_only=False)
        limit = TEXT_LIMITS[field]
        for i in np.flatnonzero(length == 0):
            self.reject(lines[i], field, "", "required")
        for i in np.flatnonzero(length > limit):
            value = cleaned[i].as_py()
            self.reject(lines[i], field, value[:40] + "…", f"longer than {limit} characters")
        return cleaned

    def _imeis(self, columns: list[pa.Array], lines: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Keys (rows x slots, int64) and which cells hold a well-formed IMEI."""
        n = len(lines)
        keys = np.zeros((n, len(self.imei_columns)), dtype=np.int64)
        present = np.zeros((n, len(self.imei_columns)), dtype=bool)
        for slot, (number, index) in enumerate(self.imei_columns):
            cells = columns[index]
            slot_keys, ok = identifiers.bulk_imei_keys(cells)
            empty = pc.equal(pc.utf8_length(_trimmed(cells)), 0).to_numpy(zero_copy_only=False)
            keys[:, slot] = slot_keys
            present[:, slot] = ok
            for i in np.flatnonzero(~ok & ~empty):
                value = cells[i].as_py()
                try:
                    identifiers.parse_imei(value)
                    reason = "not a valid IMEI"
                except identifiers.IdentifierError as exc:
                    reason = str(exc)
                self.reject(lines[i], f"imei{number}", value, reason)
            if number == 1:
                for i in np.flatnonzero(empty):
                    self.reject(
                        lines[i], "imei1", "", "required: every device has at least one IMEI"
                    )
        for i in np.flatnonzero(present.sum(axis=1) > MAX_IMEIS_PER_DEVICE):
            self.reject(lines[i], "imei", "", f"a device has at most {MAX_IMEIS_PER_DEVICE} IMEIs")
        return keys, present


def _trimmed(values: pa.Array) -> pa.Array:
    """The values without surrounding whitespace, as str.strip() gives them."""
    return pc.utf8_trim_whitespace(values)


def _distinct(values: pa.Array) -> tuple[list[str], np.ndarray]:
    """The distinct values and, for each row, the index of its value among them."""
    encoded = pc.dictionary_encode(values)
    return encoded.dictionary.to_pylist(), encoded.indices.to_numpy(zero_copy_only=False)


def _check_within_file(stage: Stage) -> None:
    """The same IMEI twice in the file, and a declaration whose date or importer changes."""
    stage.execute(
        f"""
        INSERT INTO errors (line, step, field, value, reason)
        SELECT line, {STEP_FILE}, 'imei' || column_no, lpad(imei_key::VARCHAR, 14, '0'),
               'the same IMEI is also on line ' || first_line
        FROM (
            SELECT *, row_number() OVER w AS nth, first_value(line) OVER w AS first_line
            FROM keys WHERE imei_key IN (
                SELECT imei_key FROM keys GROUP BY imei_key HAVING COUNT(*) > 1
            )
            WINDOW w AS (PARTITION BY imei_key ORDER BY line, slot)
        ) WHERE nth > 1
        """  # noqa: S608
    )
    stage.execute(
        f"""
        INSERT INTO errors (line, step, field, value, reason)
        SELECT r.line, {STEP_FILE}, 'declaration_number', r.number,
               'date or importer differs from line ' || f.line || ' of the same declaration'
        FROM rows r
        JOIN (SELECT number, arg_min(line, line) AS line, arg_min(raw_date, line) AS raw_date,
                     arg_min(importer_bin, line) AS importer_bin
              FROM rows GROUP BY number) f ON f.number = r.number
        WHERE r.raw_date <> f.raw_date OR r.importer_bin <> f.importer_bin
        """  # noqa: S608
    )


# A chunk's keys in the registry's key index, then its devices' registrations: each query bounded
# to the chunk's range of keys or devices, so that neither reads the index from its start or a
# whole table (the planner merges the range or probes the index), and a re-run's check costs the
# same per chunk whatever the file's size.
_KEY_DEVICES_SQL = (
    "SELECT t.row_no, t.imei_key, di.device_id "
    "FROM tmp_declaration_keys t "
    "JOIN device_imeis di ON di.imei_key = t.imei_key AND di.imei_key BETWEEN {low} AND {high}"
)
_DEVICE_HITS_SQL = (
    "SELECT t.row_no, t.imei_key, t.device_id, r.source, d.number "
    "FROM tmp_declaration_devices t "
    "LEFT JOIN registrations r ON r.device_id = t.device_id AND r.revoked_at IS NULL "
    "AND r.device_id BETWEEN {low} AND {high} "
    "LEFT JOIN declarations d ON d.id = r.declaration_id"
)

_KEY_DEVICES = pa.schema(
    [("line", pa.int32()), ("imei_key", pa.int64()), ("device_id", pa.int64())]
)
_HITS = pa.schema(
    [
        ("line", pa.int32()),
        ("imei_key", pa.int64()),
        ("device_id", pa.int64()),
        ("source", pa.string()),
        ("registered_number", pa.string()),
    ]
)


# Lines whose registry hits are checked together: small enough to stay far inside the stage's
# memory cap whatever the file's size (each line has at most four IMEIs).
LINES_PER_CHECK = 50_000
KEYS_PER_SORT = 2_000_000  # IMEI keys sorted at once for the load (see _key_ranges)


def _check_against_registry(conn: Connection, stage: Stage) -> None:
    """Conflicts with other registrations, rows already loaded, declarations already known."""
    reader = stage.cursor()
    # In key order, each chunk's look-ups walk one stretch of the registry's key index.
    batches = reader.sql("SELECT imei_key, line FROM keys ORDER BY imei_key").to_arrow_reader(
        LOAD_CHUNK
    )
    for batch in batches:
        keys = batch.column(0).to_numpy()
        keys_temp_table(conn, "tmp_declaration_keys", keys, batch.column(1).to_numpy())
        sql = _KEY_DEVICES_SQL.format(low=int(keys[0]), high=int(keys[-1]))
        # On a re-run every key is a hit: they come back as Arrow, never as Python rows.
        stage_tables(stage, {"key_devices": fetch_table(conn, sql, _KEY_DEVICES)})
        conn.exec_driver_sql("DROP TABLE tmp_declaration_keys")
    reader.close()
    # The devices found, in id order: each chunk's registrations are one stretch of their index.
    reader = stage.cursor()
    batches = reader.sql(
        "SELECT device_id, line, imei_key FROM key_devices ORDER BY device_id"
    ).to_arrow_reader(LOAD_CHUNK)
    for batch in batches:
        devices = batch.column(0).to_numpy()
        temp_table(
            conn,
            "tmp_declaration_devices",
            {
                "device_id": ("BIGINT", devices),
                "row_no": ("INTEGER", batch.column(1).to_numpy()),
                "imei_key": ("BIGINT", batch.column(2).to_numpy()),
            },
        )
        sql = _DEVICE_HITS_SQL.format(low=int(devices[0]), high=int(devices[-1]))
        stage_tables(stage, {"hits": fetch_table(conn, sql, _HITS)})
        conn.exec_driver_sql("DROP TABLE tmp_declaration_devices")
    reader.close()
    _fetch_known_declarations(conn, stage)
    # Line by line range: on a re-run every key is a hit, and a join and aggregate of all the
    # hits with all the rows at once outgrows the stage's memory cap (1 M rows at 128 MB).
    last = stage.execute("SELECT coalesce(max(line), 0) FROM rows").fetchone()
    for first in range(0, int(last[0] if last else 0) + 1, LINES_PER_CHECK):
        _check_lines(stage, first, first + LINES_PER_CHECK - 1)
    stage.execute(
        f"""
        INSERT INTO errors (line, step, field, value, reason)
        SELECT r.line, {STEP_DATABASE}, 'declaration_number', r.number,
               'already recorded with another date or importer BIN'
        FROM rows r JOIN known k ON k.number = r.number
        WHERE r.declared_on IS DISTINCT FROM k.declared_on OR r.importer_bin <> k.importer_bin;
        """  # noqa: S608
    )


def _check_lines(stage: Stage, first: int, last: int) -> None:
    """The registry's hits of lines `first` to `last`: conflicts, and rows already loaded."""
    stage.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE line_hits AS
        SELECT * FROM hits WHERE line BETWEEN {first} AND {last};
        CREATE OR REPLACE TEMP TABLE line_rows AS
        SELECT line, imeis, number FROM rows WHERE line BETWEEN {first} AND {last};

        INSERT INTO errors (line, step, field, value, reason)
        SELECT h.line, {STEP_DATABASE}, 'imei', lpad(h.imei_key::VARCHAR, 14, '0'),
               'already registered to another device ('
               || CASE WHEN h.registered_number IS NOT NULL
                       THEN 'declaration ' || h.registered_number
                       ELSE 'source ' || COALESCE(h.source, 'unknown') END
               || '); not overwritten'
        FROM line_hits h JOIN line_rows r ON r.line = h.line
        WHERE h.registered_number IS DISTINCT FROM r.number;

        INSERT INTO skip
        SELECT h.line FROM line_hits h JOIN line_rows r ON r.line = h.line
        GROUP BY h.line, r.imeis, r.number
        HAVING COUNT(*) = r.imeis AND COUNT(DISTINCT h.device_id) = 1
           AND bool_and(COALESCE(h.registered_number = r.number, false));

        INSERT INTO errors (line, step, field, value, reason)
        SELECT DISTINCT h.line, {STEP_DATABASE}, 'imei', '',
               'differs from the device registered under this declaration with the same IMEIs'
        FROM line_hits h JOIN line_rows r ON r.line = h.line
        WHERE h.registered_number = r.number
          AND h.line NOT IN (SELECT line FROM skip WHERE line BETWEEN {first} AND {last});

        DROP TABLE line_hits;
        DROP TABLE line_rows;
        """  # noqa: S608
    )


def _key_ranges(stage: Stage, table: str) -> list[tuple[int, int]]:
    """Ranges of `table`'s IMEI keys of about KEYS_PER_SORT keys each, in key order.

    Each range is sorted on its own: one sort of a national file's 40,000,000 keys, streamed
    out, ran out of the stage's memory (it pins what it hands over); a range's sort fits."""
    total = stage_count(stage, f"SELECT COUNT(*) FROM {table}")  # noqa: S608
    parts = max(1, -(-total // KEYS_PER_SORT))
    cuts: list[int] = []
    if parts > 1:
        # A sample's quantiles: the ranges need only be about even, and together cover all keys.
        row = stage.execute(
            f"SELECT quantile_disc(imei_key, {[i / parts for i in range(1, parts)]}) "  # noqa: S608
            f"FROM (SELECT imei_key FROM {table} USING SAMPLE 100000 ROWS)"
        ).fetchone()
        cuts = sorted(set(row[0])) if row else []
    bounds = [-1, *cuts, 10**15]  # IMEI keys are 14 digits
    return list(itertools.pairwise(bounds))


def _fetch_known_declarations(conn: Connection, stage: Stage) -> None:
    """Copy the registry's declarations that the file names into the stage."""
    reader = stage.cursor()
    for batch in reader.sql("SELECT DISTINCT number FROM rows").to_arrow_reader(LOAD_CHUNK):
        numbers = batch.column(0).to_pylist()
        for start in range(0, len(numbers), 1000):
            found = conn.execute(
                text(
                    "SELECT number, id, declared_on, importer_bin FROM declarations "
                    "WHERE number IN :numbers"
                ).bindparams(bindparam("numbers", expanding=True)),
                {"numbers": numbers[start : start + 1000]},
            ).all()
            _stage_known(stage, found)
    reader.close()


def _stage_known(stage: Stage, found: Sequence[Any]) -> None:
    if not found:
        return
    number, id_, declared_on, importer_bin = zip(*found, strict=True)
    dates = [d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)) for d in declared_on]
    stage_tables(
        stage,
        {
            "known": pa.table(
                {
                    "number": pa.array(number, pa.string()),
                    "id": pa.array(id_, pa.int32()),
                    "declared_on": pa.array(dates, pa.date32()),
                    "importer_bin": pa.array(importer_bin, pa.string()),
                }
            )
        },
    )


def _load(conn: Connection, stage: Stage, batch_id: int, actor: str, now: dt.datetime) -> None:
    """Insert the accepted rows: new declarations, devices, their IMEIs and registrations."""
    for batch in stage_batches(
        stage,
        """
        SELECT number, arg_min(declared_on, line), arg_min(importer_bin, line) FROM accepted
        WHERE number NOT IN (SELECT number FROM known)
        GROUP BY number ORDER BY min(line)
        """,
    ):
        numbers = batch.column(0).to_pylist()
        insert_columns(
            conn,
            "declarations",
            {
                "number": numbers,
                "declared_on": [d.isoformat() for d in batch.column(1).to_pylist()],
                "importer_bin": batch.column(2).to_pylist(),
                "created_at": now,
            },
        )
        for start in range(0, len(numbers), 1000):
            found = conn.execute(
                text(
                    "SELECT number, id, declared_on, importer_bin FROM declarations "
                    "WHERE number IN :numbers"
                ).bindparams(bindparam("numbers", expanding=True)),
                {"numbers": numbers[start : start + 1000]},
            ).all()
            _stage_known(stage, found)

    # Ids are handed out from max(id); the lock taken before the checks keeps other writers out.
    last_id = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM devices")).scalar_one() or 0
    stage.execute(
        f"""
        CREATE TABLE loading AS
        SELECT a.*, {int(last_id)} + row_number() OVER (ORDER BY a.line) AS device_id,
               k.id AS declaration_id
        FROM accepted a JOIN known k ON k.number = a.number
        """  # noqa: S608
    )
    # Each table in one stream: the stage's next batch is queried and encoded while the database
    # takes the current one (ceir.bulk.insert_batches).
    insert_batches(
        conn,
        "devices",
        (
            {
                "id": batch.column(0),
                "tac": batch.column(1),
                "brand": batch.column(2),
                "model": batch.column(3),
                "created_at": now,
            }
            for batch in stage_batches(
                stage,
                "SELECT device_id, lpad((first_key // 1000000)::VARCHAR, 8, '0'), brand, model "
                "FROM loading ORDER BY line",
            )
        ),
    )
    insert_batches(
        conn,
        "registrations",
        (
            {
                "device_id": batch.column(0),
                "source": RegistrationSource.IMPORTER_DECLARATION.value,
                "registered_at": now,
                "actor": actor,
                "batch_id": batch_id,
                "declaration_id": batch.column(1),
                "line_no": batch.column(2),
            }
            for batch in stage_batches(
                stage, "SELECT device_id, declaration_id, line FROM loading ORDER BY line"
            )
        ),
    )
    # In key order, the primary key's B-tree grows page by page instead of splitting pages all
    # over the tree (a declaration's IMEIs come in no particular order).
    key_ranges = _key_ranges(stage, "keys")
    insert_batches(
        conn,
        "device_imeis",
        (
            {"imei_key": batch.column(0), "device_id": batch.column(1), "slot": batch.column(2)}
            for low, high in key_ranges
            for batch in stage_batches(
                stage,
                "SELECT k.imei_key, l.device_id, k.slot FROM keys k "  # noqa: S608
                f"JOIN loading l ON l.line = k.line WHERE k.imei_key >= {low} "
                f"AND k.imei_key < {high} ORDER BY k.imei_key",
            )
        ),
    )
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('devices', 'id'), "
            "(SELECT COALESCE(MAX(id), 1) FROM devices))"
        )
        if stage_count(stage, "SELECT COUNT(*) FROM loading") >= ANALYZE_AFTER_ROWS:
            # Fresh statistics at once: until autovacuum's, the planner would take a registry of
            # millions for an empty one and scan it where an index look-up is right.
            conn.exec_driver_sql("ANALYZE devices, device_imeis, registrations, declarations")
