"""What every bulk file import shares: reading CSV by chunks, a disk-backed stage, the runner."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import hashlib
import itertools
import re
import tempfile
import time
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, ClassVar, Generic, Protocol, TypeVar

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.audit.models import ImportBatch
from ceir.db import session_scope, utcnow
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


@dataclass(slots=True)
class CsvColumns:
    """A chunk of rows as Arrow text columns, with the line where each row starts."""

    columns: list[pa.Array]
    lines: npt.NDArray[np.int32]
    malformed: list[RowError]

    @classmethod
    def of(cls, table: CsvTable) -> CsvColumns:
        columns = zip(*table.rows, strict=True) if table.rows else [()] * len(table.header)
        return cls(
            [pa.array(c, pa.string()) for c in columns],
            np.asarray(table.lines, dtype=np.int32),
            table.malformed,
        )


class NotPlainCsv(Exception):
    """The file needs the exact reader: `plain_csv_chunks` cannot vouch for its line numbers."""


def is_plain_csv(path: Path) -> bool:
    """True when the file has no quote character, no blank line and no CR outside CR LF.

    Then each row is one line and each line ends where both readers end it: Arrow's reader gives
    the same rows and lines as Python's at a fraction of the CPU (a quoted field may hold line
    breaks, and Arrow reads some malformed quoting more leniently).
    """
    tail = b""
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            window = tail + block
            if any(mark in window for mark in (b'"', b"\n\n", b"\n\r\n")):
                return False
            lone = _LONE_CR.search(window)  # a CR last in the block: judged with the next one
            if lone and lone.start() < len(window) - 1:
                return False
            tail = window[-2:]
    return not tail.endswith(b"\r")


_LONE_CR = re.compile(rb"\r(?!\n)")
PLAIN_BLOCK_BYTES = 4 << 20  # what Arrow's reader parses at a time: some 50,000 rows


def plain_csv_chunks(
    path: Path,
    width: int,
    delimiter: str,
    *,
    chunk_rows: int,
    progress: Progress | None = None,
) -> Iterator[CsvColumns]:
    """The rows after the header of a file `is_plain_csv` vouches for, read by Arrow.

    As `CsvReader.chunks`: rows with a wrong number of fields are reported with their line, blank
    lines are no rows. Raises NotPlainCsv when Arrow cannot read the file (not UTF-8, say): the
    exact reader then says why.
    """
    misfits: list[tuple[int, str, int]] = []  # (line, text, fields) of rows Arrow set aside
    skipped: list[int] = []  # their lines, until the rows' lines have passed them

    def set_aside(row: pa_csv.InvalidRow) -> str:
        misfits.append((row.number, row.text.rstrip("\r"), row.actual_columns))
        skipped.append(row.number)
        return "skip"

    def reported() -> list[RowError]:
        found = [
            RowError(line, "row", text[:80], f"expected {width} fields as in the header, found {n}")
            for line, text, n in misfits
            if text  # a blank line is not a row
        ]
        misfits.clear()
        return found

    total, next_line = path.stat().st_size, 2
    names = [f"c{i}" for i in range(width)]
    with path.open("rb") as handle:
        try:
            reader = pa_csv.open_csv(
                handle,
                # One thread: Arrow then knows the line of each row it sets aside.
                read_options=pa_csv.ReadOptions(
                    use_threads=False,
                    block_size=PLAIN_BLOCK_BYTES,
                    skip_rows=1,
                    column_names=names,
                ),
                parse_options=pa_csv.ParseOptions(
                    delimiter=delimiter,
                    ignore_empty_lines=False,
                    invalid_row_handler=set_aside,
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            for batch in reader:
                # The rows are the lines in order less those set aside (all known by now: met
                # parsing this batch's block or an earlier one).
                ahead = np.asarray(sorted(n for n in skipped if n >= next_line), dtype=np.int64)
                candidates = np.arange(next_line, next_line + batch.num_rows + len(ahead))
                lines = candidates[~np.isin(candidates, ahead)][: batch.num_rows]
                if len(lines):
                    next_line = int(lines[-1]) + 1
                    skipped[:] = [n for n in skipped if n >= next_line]
                malformed = reported()
                for start in range(0, max(batch.num_rows, 1), chunk_rows):
                    yield CsvColumns(
                        list(batch.slice(start, chunk_rows).columns),
                        lines[start : start + chunk_rows].astype(np.int32),
                        malformed if start == 0 else [],
                    )
                if progress:
                    progress(handle.tell(), total)
        except pa.ArrowInvalid as exc:
            raise NotPlainCsv(str(exc)) from exc
    if misfits:
        empty = [pa.array([], pa.string()) for _ in names]
        yield CsvColumns(empty, np.zeros(0, dtype=np.int32), reported())


class Unreadable(Exception):
    """The input is damaged or is not what its name says: a refusal with this reason, no crash."""


@contextmanager
def readable_csv(path: Path, limit: int) -> Iterator[Path]:
    """A plain CSV file: `path` itself, or the one CSV inflated from a .zip or .gz (never past
    `limit` bytes, whatever the archive declares)."""
    name = path.name.lower()
    if not name.endswith((".zip", ".gz")):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="ceir-inflated-") as folder:
        target = Path(folder) / "input.csv"
        try:
            if name.endswith(".zip"):
                with zipfile.ZipFile(path) as archive:
                    members = [m for m in archive.infolist() if not m.is_dir()]
                    if len(members) != 1 or not members[0].filename.lower().endswith(".csv"):
                        raise Unreadable(f"{path.name} must hold exactly one .csv file")
                    if members[0].file_size > limit:
                        raise Unreadable(f"{path.name} inflates to more than {limit} bytes")
                    with archive.open(members[0]) as source:
                        _inflate(source, target, limit, path.name)
            else:
                with gzip.open(path, "rb") as source:
                    _inflate(source, target, limit, path.name)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error) as exc:
            kind = "zip" if name.endswith(".zip") else "gzip"
            raise Unreadable(f"{path.name} is not a readable {kind} file ({exc})") from exc
        yield target


def _inflate(source: IO[bytes] | gzip.GzipFile, target: Path, limit: int, name: str) -> None:
    """Copy `source` out, counting: an archive may understate its size (a bomb)."""
    written = 0
    with target.open("wb") as sink:
        while chunk := source.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise Unreadable(f"{name} inflates to more than {limit} bytes")
            sink.write(chunk)


Stage = duckdb.DuckDBPyConnection
# DuckDB spills to its temporary folder beyond this. 128 MB ran out in the load of a
# 20,000,000-row declarations file (its streamed, sorted reads pin blocks); the import's whole
# peak must stay under 1.5 GiB.
STAGE_MEMORY = "512MB"
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


def count_lines(stage: Stage, *tables: str) -> int:
    """Distinct line numbers in the stage's `tables`.

    Counted by sorting, which spills to disk: DuckDB's hash `DISTINCT` (or `UNION`) cannot, and
    ran out of the stage's memory on a 20,000,000-row file after all its checks had passed."""
    lines = " UNION ALL ".join(f"SELECT line FROM {t}" for t in tables)  # noqa: S608
    return stage_count(
        stage,
        "SELECT COUNT(*) FROM (SELECT line, lag(line) OVER (ORDER BY line) AS before "  # noqa: S608
        f"FROM ({lines})) WHERE before IS DISTINCT FROM line",
    )


def stage_batches(stage: Stage, sql: str) -> Iterator[pa.RecordBatch]:
    """A query's result, LOAD_CHUNK rows at a time."""
    reader = stage.cursor()
    try:
        yield from reader.sql(sql).to_arrow_reader(LOAD_CHUNK)
    finally:
        reader.close()


class Report(Protocol):
    """What the runner itself reads and writes of an import's report."""

    rows_accepted: int
    seconds: float


R = TypeVar("R", bound=Report)


@dataclass(frozen=True, slots=True)
class Recorded:
    """An import (or a refusal) as recorded in the database, and what its audit event names."""

    object_type: str
    object_id: str
    details: dict[str, object]
    batch_id: int = 0


@dataclass(frozen=True, slots=True)
class ImportRun:
    """The import being run: the id it is recorded under, who runs it and when it started."""

    id: int
    actor: str
    started: dt.datetime


class BaseImporter(ABC, Generic[R]):
    """An import's own rules, as the steps `run_import` calls in order.

    `stage` reads the input into a DuckDB stage, `check` checks the whole input and the database,
    `settle` counts and decides (raising FileRejected refuses the input as a whole), `record`
    writes what was imported (or, for an importer with a `refusal_action`, what was refused),
    `load` writes the accepted rows.
    """

    kind: ClassVar[str]  # the import batch's kind
    action: ClassVar[str]  # the audit action
    # Set when a refused input must be recorded and audited (in its own transaction, as the
    # caller's rolls back): the operator who sent it finds the reasons later.
    refusal_action: ClassVar[str | None] = None

    def __init__(self, path: Path | None, progress: Progress | None = None) -> None:
        self.path = path
        self.progress = progress

    def loaded_before(self, db: Session, report: R) -> bool:
        """True when this very input was loaded before, so that importing it changes nothing."""
        return False

    def open_stage(self) -> AbstractContextManager[Stage]:
        return open_stage(self.kind)

    @abstractmethod
    def stage(self, stage: Stage, report: R) -> None:
        """Read the input into the stage; raise FileRejected when it cannot be read."""

    @abstractmethod
    def check(self, conn: Connection, stage: Stage, report: R) -> None:
        """Checks that need the whole input or the database."""

    @abstractmethod
    def settle(self, stage: Stage, report: R, *, accept_good: bool) -> None:
        """Count what loads; raise FileRejected to refuse the input as a whole."""

    @abstractmethod
    def record(
        self, db: Session, report: R, *, actor: str, started: dt.datetime, refused: bool = False
    ) -> Recorded:
        """Record the import (or its refusal) in the database."""

    @abstractmethod
    def load(self, conn: Connection, stage: Stage, report: R, run: ImportRun) -> None:
        """Write what was accepted."""

    def write_rejects(self, stage: Stage, report: R, rejects_path: Path) -> None:
        """The refused rows, for an import that loads the good ones; none by default."""


class Importer(BaseImporter[ImportReport]):
    """An import of rows, each accepted or refused on its own, recorded as an import batch.

    The importer stages the file's rows in the stage's table `rows` (with their `line`), its row
    errors in `errors`, then checks the whole file and the database (more `errors`, and the lines
    already in the database as in the file in `skip`), then loads the table `accepted`.
    """

    delimiters: ClassVar[str] = ","
    unit: ClassVar[str] = "rows"  # what the input's rows are called in a refusal

    def settle(self, stage: Stage, report: ImportReport, *, accept_good: bool) -> None:
        """Any bad row refuses the whole input, unless `accept_good` loads the good rows."""
        _settle(stage, report)
        if report.rows_rejected and not accept_good:
            raise FileRejected(
                f"{report.rows_rejected} bad {self.unit}; nothing was loaded", report
            )

    def record(
        self,
        db: Session,
        report: ImportReport,
        *,
        actor: str,
        started: dt.datetime,
        refused: bool = False,
    ) -> Recorded:
        report.loaded = True
        batch = record_batch(db, self.kind, report, actor, started)
        return Recorded(
            "import_batch",
            str(batch.id),
            {
                "file": report.filename,
                "sha256": report.sha256,
                "accepted": report.rows_accepted,
                "skipped": report.rows_skipped,
                "rejected": report.rows_rejected,
            },
            batch.id,
        )

    def write_rejects(self, stage: Stage, report: ImportReport, rejects_path: Path) -> None:
        """The refused rows with their reasons, in line order, so they can be fixed and resent.

        The file is read again alongside the errors, both in line order: nothing is held whole.
        """
        if not report.rows_rejected:
            return
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
    importer: BaseImporter[R],
    report: R,
    *,
    actor: str,
    accept_good: bool = False,
    rejects_path: Path | None = None,
) -> R:
    """Hash known, validate, refuse or accept, record, load, write the rejects, audit.

    Atomic: the caller's transaction holds every change (a refusal an importer records is written
    in a transaction of its own). Memory is that of a chunk and of the capped stage, whatever the
    input's size.
    """
    started, clock = utcnow(), time.perf_counter()
    if importer.loaded_before(db, report):
        report.seconds = time.perf_counter() - clock
        return report
    with importer.open_stage() as stage:
        try:
            importer.stage(stage, report)
            conn = db.connection()
            importer.check(conn, stage, report)
            importer.settle(stage, report, accept_good=accept_good)
        except FileRejected:
            report.seconds = time.perf_counter() - clock
            _record_refusal(db, importer, report, actor, started)
            raise
        recorded = importer.record(db, report, actor=actor, started=started)
        if report.rows_accepted:
            importer.load(conn, stage, report, ImportRun(recorded.batch_id, actor, started))
        if rejects_path:
            importer.write_rejects(stage, report, rejects_path)
    _audit(db, importer.action, recorded, actor)
    report.seconds = time.perf_counter() - clock
    return report


def _record_refusal(
    db: Session, importer: BaseImporter[R], report: R, actor: str, started: dt.datetime
) -> None:
    if importer.refusal_action is None:
        return
    with session_scope(db.get_bind()) as own:  # type: ignore[arg-type]
        recorded = importer.record(own, report, actor=actor, started=started, refused=True)
        _audit(own, importer.refusal_action, recorded, actor)


def _audit(db: Session, action: str, recorded: Recorded, actor: str) -> None:
    audit.record(
        db,
        actor=actor,
        action=action,
        object_type=recorded.object_type,
        object_id=recorded.object_id,
        details=recorded.details,
    )


def _settle(stage: Stage, report: ImportReport) -> None:
    """Counts, a sample of the errors in line order, and the rows to load."""
    report.rows_total = count_lines(stage, "rows", "errors")
    report.rows_rejected = count_lines(stage, "errors")
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
