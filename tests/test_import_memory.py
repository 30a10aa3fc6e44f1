"""Imports hold a chunk of rows at a time, not the file: four times the rows, the same memory."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from bench.registry_import import write_declarations
from sqlalchemy.orm import Session

from tests.factories import make_iin

SMALL, LARGE = 20_000, 80_000
CHUNK = 2_000  # so both files are many chunks; a whole-file import grows with every one
# What 60,000 more rows may add to an import's peak: its stage's data within the cap. The
# whole-file imports added 85-105 MiB (about 1.5-1.7 KiB a row).
EXTRA_GROWTH_LIMIT_MIB = 45

# Imports the file in a fresh process with small chunks and a small stage, and prints how much
# the peak resident set grew above the resident set before the import (in KiB).
_CHILD = """
import resource, sys
from pathlib import Path
from ceir import db, importing
from ceir.borders.service import import_crossings_file
from ceir.registry import declarations
from ceir.registry.service import import_declarations
from ceir.tac.service import import_tac_file

url, kind, path, chunk = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
importing.CHUNK_ROWS = declarations.CHUNK_ROWS = importing.LOAD_CHUNK = chunk
importing.STAGE_MEMORY = "32MB"
run = {"declarations": import_declarations, "tac": import_tac_file,
       "crossings": import_crossings_file}[kind]
engine = db.get_engine(url)
if engine.dialect.name == "sqlite":
    # SQLite's page cache and memory map grow with the database up to their own caps (200 MB,
    # 2 GB of a file's pages): small here, so the measure is what the import itself holds.
    from sqlalchemy import event
    event.listen(engine, "connect", lambda conn, _: conn.executescript(
        "PRAGMA cache_size=-8000; PRAGMA mmap_size=0;"))
with db.session_scope(engine) as session:
    session.connection()
with open("/proc/self/status") as status:
    before = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
with db.session_scope(engine) as session:
    report = run(session, path, actor="test")
assert report.rows_rejected == 0, report.errors[:3]
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def import_growth_mib(database_url: str, kind: str, path: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, database_url, kind, str(path), str(CHUNK)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def write_tac(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="|")
        writer.writerow(["TAC", "Marketing Name", "Manufacturer", "Model Name", "Device Type"])
        for i in range(rows):
            writer.writerow([f"{10_000_000 + i}", f"Phone {i}", "Maker", f"M-{i}", "Smartphone"])


def write_crossings(path: Path, rows: int) -> None:
    iins = [make_iin(serial=i) for i in range(500)]
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "iin", "direction", "crossed_at", "checkpoint", "country"])
        for i in range(rows):
            when = (start + dt.timedelta(minutes=i)).isoformat()
            writer.writerow([f"R{i}", iins[i % 500], ("exit", "entry")[i % 2], when, "ALA", "TR"])


def _declarations(path: Path, rows: int) -> None:
    write_declarations(path, rows)


WRITERS: dict[str, Callable[[Path, int], None]] = {
    "declarations": _declarations,
    "tac": write_tac,
    "crossings": write_crossings,
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_four_times_the_rows_take_about_the_same_memory(
    database_url: str, tmp_path: Path, kind: str
) -> None:
    growth = {}
    for rows in (SMALL, LARGE):
        path = tmp_path / f"{kind}-{rows}.csv"
        WRITERS[kind](path, rows)
        growth[rows] = import_growth_mib(database_url, kind, path)

    extra = growth[LARGE] - growth[SMALL]
    assert extra < EXTRA_GROWTH_LIMIT_MIB, f"{kind}: {growth} MiB growth for {SMALL:,}/{LARGE:,}"


def test_a_rerun_of_a_large_file_keeps_to_the_stage_memory_cap(
    db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a re-run every IMEI is a registry hit; checking them all at once outgrew the stage's
    cap (a 1,000,000-row re-run failed at 128 MB). Here: 60,000 rows at 24 MB, checked in line
    ranges of 5,000, the same proportion."""
    from ceir import importing
    from ceir.registry import declarations
    from ceir.registry.service import import_declarations

    monkeypatch.setattr(importing, "STAGE_MEMORY", "24MB")
    monkeypatch.setattr(declarations, "LINES_PER_CHECK", 5_000)
    path = tmp_path / "declarations.csv"
    write_declarations(path, 60_000)
    first = import_declarations(db_session, path, actor="test")
    db_session.commit()
    again = import_declarations(db_session, path, actor="test")
    db_session.commit()
    assert (first.rows_accepted, again.rows_accepted, again.rows_skipped) == (60_000, 0, 60_000)
    assert again.errors == []


def test_lines_are_counted_by_sorting_within_the_stage_memory_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An import's report counts the distinct lines of its rows and errors. As a DuckDB `UNION` /
    `COUNT(DISTINCT)`, hash aggregates that cannot spill, that ran out of the stage's 128 MB after
    every check of a 20,000,000-row file had passed. Here: 300,000 lines at 8 MB, the same
    proportion (it failed so before); a sort spills."""
    import pyarrow as pa

    from ceir import importing

    monkeypatch.setattr(importing, "STAGE_MEMORY", "8MB")
    lines = pa.array(range(2, 300_002), pa.int32())
    with importing.open_stage("test") as stage:
        stage.execute("CREATE TABLE rows (line INTEGER)")
        importing.stage_tables(stage, {"rows": pa.table({"line": lines})})
        # Two reasons on one line that is a row, and a malformed line that never became one.
        errors = [importing.RowError(line, "imei", "", "bad") for line in (7, 7, 300_005)]
        importing.stage_errors(stage, errors)
        assert importing.count_lines(stage, "rows", "errors") == 300_001
        assert importing.count_lines(stage, "errors") == 2


def test_the_imeis_load_in_key_ranges_each_once(
    db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The IMEIs go to the registry sorted a key range at a time (one sort of a 20,000,000-row
    file's keys ran out of the stage's memory): every one arrives, none twice."""
    from sqlalchemy import text

    from ceir.registry import declarations
    from ceir.registry.service import import_declarations

    monkeypatch.setattr(declarations, "KEYS_PER_SORT", 1_000)
    path = tmp_path / "declarations.csv"
    write_declarations(path, 3_000)
    with path.open() as file:
        imeis = [v for row in csv.DictReader(file) for k, v in row.items() if k.startswith("imei")]
    report = import_declarations(db_session, path, actor="test")
    db_session.commit()
    stored = db_session.execute(text("SELECT imei_key FROM device_imeis")).scalars().all()
    assert report.rows_accepted == 3_000
    assert sorted(stored) == sorted(int(imei[:14]) for imei in imeis)
