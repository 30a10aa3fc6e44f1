"""Benchmark: time and peak memory of one large declarations import, run as an operator runs it.

    python -m bench.registry_import_memory [--rows 20000000] [--databases postgresql]
        [--file FILE] [--no-rerun]

Generates a declarations file (two IMEIs a device; or takes FILE made by an earlier run), then
runs `ceir registry import` on a fresh database in a child process and reports its wall time and
peak resident memory (the child's ru_maxrss), with the time of each step of the import
(bench/import_steps.py), then the same for an idempotent re-run. Target: 20,000,000 rows on PostgreSQL in
under 10 minutes with a peak under 1.5 GiB.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import fresh_database, machine
from bench.registry_import import write_declarations

# Runs one command as its only child and prints the child's peak resident set in KiB.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def run_import(path: Path, url: str, label: str) -> None:
    env = {**os.environ, "CEIR_DATABASE_URL": url}
    cli = [sys.executable, "-m", "bench.import_steps", "registry", "import", str(path)]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cli],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    peak_mib = int(done.stdout.strip().splitlines()[-1]) / 1024
    print(f"  {label:<40} {seconds:8.1f} s   peak RSS {peak_mib:7.0f} MiB", flush=True)
    print(f"  load average after: {os.getloadavg()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--databases", default="postgresql")
    parser.add_argument("--file", type=Path, help="a declarations file written by an earlier run")
    parser.add_argument("--no-rerun", action="store_true", help="skip the idempotent re-run")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="ceir-bench-") as folder:
        path = args.file or Path(folder) / "declarations.csv"
        if not args.file:
            started = time.perf_counter()
            write_declarations(path, args.rows)
            print(f"  generate {args.rows:,} rows: {time.perf_counter() - started:.1f} s")
        for kind in args.databases.split(","):
            with fresh_database(kind) as url:
                run_import(path, url, f"{kind}: import of {path.name}")
                if not args.no_rerun:
                    run_import(path, url, f"{kind}: re-import (all already loaded)")
    print(
        f"bench process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB"
    )


if __name__ == "__main__":
    main()
