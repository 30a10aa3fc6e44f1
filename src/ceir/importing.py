"""What every bulk file import shares: reading CSV with its line numbers, row errors, reports."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from ceir.db import Base, UTCDateTime, utcnow
from ceir.errors import InvalidInput

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


def _text_lines(path: Path, progress: Progress | None) -> Iterator[str]:
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
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        lines = _text_lines(path, progress)
        first = next(lines, "")
        header_line = first.rstrip("\r\n")
        self.delimiter = max(delimiters, key=header_line.count) if header_line else ","
        self._reader = csv.reader(
            itertools.chain([first], lines), delimiter=self.delimiter, strict=True
        )
        self.header: list[str] = next(self._reader, [])
        self._chunk_rows = chunk_rows

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


def write_rejects(
    path: Path, header: list[str], table: CsvTable, bad_lines: set[int], errors: list[RowError]
) -> None:
    """Write the refused rows with their reasons, so they can be fixed and sent again."""
    reasons: dict[int, list[str]] = {}
    for error in errors:
        reasons.setdefault(error.line, []).append(f"{error.field}: {error.reason}")
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", *header, "reasons"])
        for row, line in zip(table.rows, table.lines, strict=True):
            if line in bad_lines:
                writer.writerow([line, *row, "; ".join(reasons.get(line, []))])
        for error in table.malformed:
            writer.writerow([error.line, *([""] * len(header)), f"{error.field}: {error.reason}"])


class ImportBatch(Base):
    """One file loaded (or refused) by an import: who, when, what and how it went."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_accepted: Mapped[int] = mapped_column(Integer, default=0)
    rows_skipped: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)


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
