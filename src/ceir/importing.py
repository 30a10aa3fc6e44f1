"""What every bulk file import shares: reading CSV by chunks, a disk-backed stage, the runner."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import itertools
import re
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import duckdb
import pyarrow as pa
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.audit.models import ImportBatch
from ceir.db import utcnow
from ceir.errors import FileRejected, InvalidInput

# Called with (bytes read so far, total bytes) while a file is read, so the CLI can show progress.
Progress = Callable[[int, int], None]

MAX_ERRORS_KEPT = 100_000  # a report of more lines than this helps nobody; the count stays exact


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # physical line number in the file, header = 1
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field} {self.value!r}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    filename: str
    sha256: str
    rows_total: int = 0
    rows_accepted: int = 0
    rows_skipped: int = 0  # already in the database exactly as in the file (idempotent re-run)
    rows_rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0
    loaded: bool = False  # False when the file was refused as a whole

    def add_error(self, error: RowError) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(error)

    def as_dict(self) -> dict[str, object]:
        return {
            "filename": self.filename,
            "sha256": self.sha256,
            "loaded": self.loaded,
            "rows_total": self.rows_total,
            "rows_accepted": self.rows_accepted,
            "rows_skipped": self.rows_skipped,
            "rows_rejected": self.rows_rejected,
            "seconds": round(self.seconds, 3),
            "errors": [
                {"line": e.line, "field": e.field, "value": e.value, "reason": e.reason}
                for e in self.errors
            ],
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def normalise_header(name: str) -> str:
    """'Marketing Name', 'marketing_name' and ' MARKETING-NAME ' all become 'marketingname'."""
    return re.sub(r"[^0-9a-z]+", "", name.lower())


@dataclass(slots=True)
class CsvTable:
    header: list[str]
    rows: list[list[str]]
    lines: list[int]  # physical line where each row starts
    malformed: list[RowError]  # rows with the wrong number of fields


CHUNK_ROWS = 50_000  # rows a streamed reader hands over at a time: a few tens of MiB in Python


def text_lines(path: Path, progress: Progress | None = None) -> Iterator[str]:
    """The file's lines (UTF-8, optional BOM) with their newlines, read 1 MiB at a time."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    total = path.stat().st_size
    done = 0
    pending = ""
    with path.open("rb") as handle:
        while True:
            block = handle.read(1 << 20)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                offset = done + exc.start
                raise InvalidInput(
                    f"{path.name} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                    f"{offset}); save it as UTF-8 CSV"
                ) from exc
            done += len(block)
            if progress:
                progress(done, total)
            parts = (pending + text).split("\n")
            pending = parts.pop()
            for part in parts:
                yield part + "\n"
            if not block:
                break
    if pending:
        yield pending


class CsvReader:
    """A CSV file read in chunks of rows, keeping the line number of every row.

    The delimiter is the one of `delimiters` found most in the header line. Rows with a wrong
    number of fields are reported, never guessed at. Memory stays that of one chunk whatever the
    file's size.
    """

    def __init__(
        self,
        path: Path,
        *,
        delimiters: str = ",",
        progress: Progress | None = None,
        chunk_rows: int | None = None,
    ) -> None:
        lines = text_lines(path, progress)
        first = next(lines, "")
        header_line = first.rstrip("\r\n")
        self.delimiter = max(delimiters, key=header_line.count) if header_line else ","
        self._reader = csv.reader(
            itertools.chain([first], lines), delimiter=self.delimiter, strict=True
        )
        self.header: list[str] = next(self._reader, [])
        self._chunk_rows = chunk_rows or CHUNK_ROWS

    def chunks(self) -> Iterator[CsvTable]:
        """Chunks of at most `chunk_rows` rows; each carries the malformed rows met on its way."""
        if not self.header:
            return
        reader, width = self._reader, len(self.header)
        chunk = CsvTable(self.header, [], [], [])
        line = reader.line_num + 1
        try:
            for row in reader:
                if len(row) == width:
                    chunk.rows.append(row)
                    chunk.lines.append(line)
                elif row:  # a blank line is not a row
                    found = f"expected {width} fields as in the header, found {len(row)}"
                    chunk.malformed.append(
                        RowError(line, "row", self.delimiter.join(row)[:80], found)
                    )
                line = reader.line_num + 1
                if len(chunk.rows) >= self._chunk_rows:
                    yield chunk
                    chunk = CsvTable(self.header, [], [], [])
        except csv.Error as exc:
            chunk.malformed.append(RowError(reader.line_num, "row", "", f"unreadable CSV: {exc}"))
        if chunk.rows or chunk.malformed:
            yield chunk


def read_csv(path: Path, *, delimiters: str = ",", progress: Progress | None = None) -> CsvTable:
    """Read a whole CSV file into memory (for files known to be small); see CsvReader."""
    reader = CsvReader(path, delimiters=delimiters, progress=progress)
    table = CsvTable(reader.header, [], [], [])
    for chunk in reader.chunks():
        table.rows += chunk.rows
        table.lines += chunk.lines
        table.malformed += chunk.malformed
    return table


Stage = duckdb.DuckDBPyConnection
STAGE_MEMORY = "128MB"  # DuckDB spills to its temporary folder beyond this
LOAD_CHUNK = 200_000  # rows a query hands over between the stage and the database

# Order of the checks, so that a line's reasons read in the order they were found.
STEP_ROW, STEP_FILE, STEP_DATABASE = 0, 1, 2

_STAGE_SCHEMA = """
CREATE TABLE errors (line INTEGER, step SMALLINT, field VARCHAR, value VARCHAR, reason VARCHAR,
    nth INTEGER DEFAULT 0);
CREATE TABLE skip (line INTEGER);
"""


@contextmanager
def open_stage(prefix: str) -> Iterator[Stage]:
    """A DuckDB file in a temporary folder, memory capped: what an import holds beyond a chunk."""
    with tempfile.TemporaryDirectory(prefix=f"ceir-{prefix}-") as folder:
        stage = duckdb.connect(str(Path(folder) / "stage.duckdb"))
        try:
            stage.execute(f"SET memory_limit = '{STAGE_MEMORY}'")
            stage.execute(f"SET temp_directory = '{Path(folder) / 'spill'}'")
            stage.execute("SET preserve_insertion_order = false")
            stage.execute(_STAGE_SCHEMA)
            yield stage
        finally:
            stage.close()


def stage_tables(stage: Stage, tables: dict[str, pa.Table]) -> None:
    """Append Arrow tables to the stage's tables of the same names (columns matched by name)."""
    for name, table in tables.items():
        if table.num_rows:
            stage.register("chunk", table)
            stage.execute(f"INSERT INTO {name} BY NAME SELECT * FROM chunk")  # noqa: S608
            stage.unregister("chunk")


def stage_errors(stage: Stage, errors: list[RowError], step: int = STEP_ROW) -> None:
    if not errors:
        return
    table = pa.table(
        {
            "line": pa.array([e.line for e in errors], pa.int32()),
            "step": pa.array([step] * len(errors), pa.int16()),
            "field": pa.array([e.field for e in errors], pa.string()),
            "value": pa.array([e.value for e in errors], pa.string()),
            "reason": pa.array([e.reason for e in errors], pa.string()),
            "nth": pa.array(range(len(errors)), pa.int32()),  # a line's reasons in check order
        }
    )
    stage_tables(stage, {"errors": table})


def stage_count(stage: Stage, sql: str) -> int:
    row = stage.execute(sql).fetchone()
    return int(row[0]) if row else 0


def stage_batches(stage: Stage, sql: str) -> Iterator[pa.RecordBatch]:
    """A query's result, LOAD_CHUNK rows at a time."""
    reader = stage.cursor()
    try:
        yield from reader.sql(sql).to_arrow_reader(LOAD_CHUNK)
    finally:
        reader.close()


class Importer(ABC):
    """An import's own rules; `run_import` runs the sequence every import shares.

    The importer stages the file's rows in the stage's table `rows` (with their `line`), its row
    errors in `errors`, then checks the whole file and the database (more `errors`, and the lines
    already in the database as in the file in `skip`), then loads the table `accepted`.
    """

    kind: ClassVar[str]  # the import batch's kind
    action: ClassVar[str]  # the audit action
    delimiters: ClassVar[str] = ","
    unit: ClassVar[str] = "rows"  # what the input's rows are called in a refusal

    def __init__(self, path: Path | None, progress: Progress | None = None) -> None:
        self.path = path
        self.progress = progress

    @abstractmethod
    def stage(self, stage: Stage, report: ImportReport) -> None:
        """Read the input into `rows` and `errors`; raise FileRejected when it cannot be read."""

    @abstractmethod
    def check(self, conn: Connection, stage: Stage) -> None:
        """Checks that need the whole file or the database: more `errors`, and `skip`."""

    @abstractmethod
    def load(
        self, conn: Connection, stage: Stage, *, batch_id: int, actor: str, now: dt.datetime
    ) -> None:
        """Write the table `accepted` to the database."""

    def write_rejects(self, stage: Stage, rejects_path: Path) -> None:
        """The refused rows with their reasons, in line order, so they can be fixed and resent.

        The file is read again alongside the errors, both in line order: nothing is held whole.
        """
        assert self.path is not None
        reasons = (
            row
            for batch in stage_batches(
                stage,
                "SELECT line, string_agg(field || ': ' || reason, '; ' "
                "ORDER BY step, nth, field, reason) FROM errors GROUP BY line ORDER BY line",
            )
            for row in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)
        )
        reader = CsvReader(self.path, delimiters=self.delimiters)
        width = len(reader.header)
        rows = (
            (line, row)
            for chunk in reader.chunks()
            for line, row in zip(chunk.lines, chunk.rows, strict=True)
        )
        with rejects_path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", *reader.header, "reasons"])
            current = next(rows, None)
            for line, reason in reasons:
                while current is not None and current[0] < line:
                    current = next(rows, None)
                cells = current[1] if current is not None and current[0] == line else [""] * width
                writer.writerow([line, *cells, reason])


def run_import(
    db: Session,
    importer: Importer,
    report: ImportReport,
    *,
    actor: str,
    accept_good: bool = False,
    rejects_path: Path | None = None,
) -> ImportReport:
    """Validate, refuse or accept, load, write the rejects, record the batch and audit it.

    Atomic: the caller's transaction holds every change. Any bad row refuses the whole input,
    unless `accept_good` loads the good rows (and writes the bad ones to `rejects_path`). Memory
    is that of a chunk and of the capped stage, whatever the input's size.
    """
    started, clock = utcnow(), time.perf_counter()
    with open_stage(importer.kind) as stage:
        try:
            importer.stage(stage, report)
            conn = db.connection()
            importer.check(conn, stage)
            _settle(stage, report)
            if report.rows_rejected and not accept_good:
                raise FileRejected(
                    f"{report.rows_rejected} bad {importer.unit}; nothing was loaded", report
                )
        except FileRejected:
            report.seconds = time.perf_counter() - clock
            raise
        report.loaded = True
        batch = record_batch(db, importer.kind, report, actor, started)
        if report.rows_accepted:
            importer.load(conn, stage, batch_id=batch.id, actor=actor, now=started)
        if rejects_path and report.rows_rejected:
            importer.write_rejects(stage, rejects_path)
    audit.record(
        db,
        actor=actor,
        action=importer.action,
        object_type="import_batch",
        object_id=str(batch.id),
        details={
            "file": report.filename,
            "sha256": report.sha256,
            "accepted": report.rows_accepted,
            "skipped": report.rows_skipped,
            "rejected": report.rows_rejected,
        },
    )
    report.seconds = time.perf_counter() - clock
    return report


def _settle(stage: Stage, report: ImportReport) -> None:
    """Counts, a sample of the errors in line order, and the rows to load."""
    report.rows_total = stage_count(
        stage, "SELECT COUNT(*) FROM (SELECT line FROM rows UNION SELECT line FROM errors)"
    )
    report.rows_rejected = stage_count(stage, "SELECT COUNT(DISTINCT line) FROM errors")
    stage.execute(
        """
        CREATE TABLE accepted AS
        SELECT * FROM rows
        WHERE line NOT IN (SELECT line FROM errors) AND line NOT IN (SELECT line FROM skip)
        """
    )
    report.rows_accepted = stage_count(stage, "SELECT COUNT(*) FROM accepted")
    report.rows_skipped = report.rows_total - report.rows_rejected - report.rows_accepted
    sample = stage.execute(
        "SELECT line, field, value, reason FROM errors "
        "ORDER BY line, step, nth, field, reason LIMIT ?",
        [MAX_ERRORS_KEPT],
    ).fetchall()
    report.errors = [RowError(*row) for row in sample]


def record_batch(
    db: Session, kind: str, report: ImportReport, actor: str, started_at: dt.datetime
) -> ImportBatch:
    batch = ImportBatch(
        kind=kind,
        filename=report.filename,
        sha256=report.sha256,
        actor=actor,
        started_at=started_at,
        finished_at=utcnow(),
        rows_total=report.rows_total,
        rows_accepted=report.rows_accepted,
        rows_skipped=report.rows_skipped,
        rows_rejected=report.rows_rejected,
    )
    db.add(batch)
    db.flush()
    return batch
