"""What every bulk file import shares: reading CSV with its line numbers, row errors, reports."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from ceir.audit.models import ImportBatch
from ceir.db import utcnow
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


def read_csv(path: Path, *, delimiters: str = ",", progress: Progress | None = None) -> CsvTable:
    """Read a whole CSV file (UTF-8, optional BOM), keeping the line number of every row.

    The delimiter is the one of `delimiters` found most in the header line. Rows with a wrong
    number of fields are reported, never guessed at.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path.name} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); save it as UTF-8 CSV"
        ) from exc
    header_line = text[: text.find("\n")] if "\n" in text else text
    delimiter = max(delimiters, key=header_line.count) if header_line else ","
    buffer = io.StringIO(text, newline="")
    reader = csv.reader(buffer, delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return CsvTable([], [], [], [])
    width = len(header)
    rows: list[list[str]] = []
    lines: list[int] = []
    malformed: list[RowError] = []
    line = reader.line_num + 1
    try:
        for row in reader:
            if len(row) == width:
                rows.append(row)
                lines.append(line)
            elif row:  # a blank line is not a row
                found = f"expected {width} fields as in the header, found {len(row)}"
                malformed.append(RowError(line, "row", delimiter.join(row)[:80], found))
            line = reader.line_num + 1
            if progress and len(rows) % 100_000 == 0:
                progress(buffer.tell(), len(text))
    except csv.Error as exc:
        malformed.append(RowError(reader.line_num, "row", "", f"unreadable CSV: {exc}"))
    if progress:
        progress(len(text), len(text))
    return CsvTable(header, rows, lines, malformed)


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
