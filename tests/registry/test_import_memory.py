"""An import's memory is bounded by its chunks, not by its file: a large file through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.registry_import import write_declarations

# The whole-file import took 700 MiB for these rows (1 GiB a million); the streamed one holds a
# chunk of rows, DuckDB's capped stage and SQLite's page cache, whatever the file's size.
ROWS = 400_000
PEAK_RSS_LIMIT_MIB = 520

# Runs one command as its only child and prints the child's peak resident set in KiB.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def peak_rss_mib(args: list[str], env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.strip().splitlines()[-1]) / 1024


@pytest.fixture(scope="module")
def large_declarations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("large") / "declarations.csv"
    write_declarations(path, ROWS)
    return path


@pytest.mark.slow
def test_a_large_declarations_import_stays_within_bounded_memory(
    database_url: str, tmp_path: Path, large_declarations: Path
) -> None:
    env = {**os.environ, "CEIR_DATABASE_URL": database_url, "CEIR_DATA_DIR": str(tmp_path)}
    cli = [sys.executable, "-m", "ceir.cli", "registry", "import", str(large_declarations)]

    peak = peak_rss_mib(cli, env)

    assert peak < PEAK_RSS_LIMIT_MIB, f"peak RSS {peak:.0f} MiB for {ROWS:,} rows"
    again = subprocess.run(cli, env=env, capture_output=True, text=True, check=True)
    assert "already loaded" in again.stdout and str(ROWS) in again.stdout
