"""Benchmark: import of importers' declarations and bulk IMEI checks, on SQLite and PostgreSQL.

    python -m bench.registry_import [--rows 1000000] [--databases sqlite,postgresql]

Generates its own declarations file (two IMEIs a device), imports it into a fresh database, imports
it again (idempotent re-run), then checks a file of 1,000,000 IMEIs with `ceir check --file`.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import fresh_database, imei, machine, tacs, timed
from ceir.db import get_engine, session_scope
from ceir.registry.service import import_declarations


def write_declarations(path: Path, rows: int, seed: int = 42) -> list[str]:
    """Declarations of `rows` devices (100 a declaration); returns the first IMEI of each row."""
    rng = random.Random(seed)
    models = tacs(200, seed)
    firsts: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "declaration_number",
                "declaration_date",
                "importer_bin",
                "brand",
                "model",
                "imei1",
                "imei2",
            ]
        )
        for i in range(rows):
            tac = models[i % len(models)]
            serial = (i // len(models)) * 2
            first, second = imei(tac, serial), imei(tac, serial + 1)
            firsts.append(first)
            writer.writerow(
                [
                    f"50508/010425/{i // 100:07d}",
                    "2025-04-01",
                    "960440000220",
                    "Brand",
                    f"Model {rng.randrange(50)}",
                    first,
                    second,
                ]
            )
    return firsts


def write_check_file(path: Path, registered: list[str], count: int) -> None:
    rng = random.Random(3)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            if i % 10 == 9:
                handle.write(imei("35999999", rng.randrange(10**6)) + "\n")  # not registered
            elif i % 50 == 7:
                handle.write("35123456789012\n"[:-3] + "X\n")  # invalid
            else:
                handle.write(registered[rng.randrange(len(registered))] + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--checks", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="ceir-bench-") as folder:
        declarations = Path(folder) / "declarations.csv"
        check_file = Path(folder) / "imeis.txt"
        results: dict[str, float] = {}
        with timed(f"generate {args.rows:,} declaration rows", results):
            firsts = write_declarations(declarations, args.rows)
            write_check_file(check_file, firsts, args.checks)
        for kind in args.databases.split(","):
            print(f"{kind}:")
            with fresh_database(kind) as url:
                engine = get_engine(url)
                with (
                    timed(f"{kind}: import {args.rows:,} rows ({2 * args.rows:,} IMEIs)", results),
                    session_scope(engine) as session,
                ):
                    report = import_declarations(session, declarations, actor="bench")
                assert report.rows_accepted == args.rows, report.rows_accepted
                with (
                    timed(f"{kind}: re-import (all rows already loaded)", results),
                    session_scope(engine) as session,
                ):
                    again = import_declarations(session, declarations, actor="bench")
                assert again.rows_skipped == args.rows and again.rows_accepted == 0
                env = {**os.environ, "CEIR_DATABASE_URL": url}
                with timed(f"{kind}: ceir check --file ({args.checks:,} IMEIs)", results):
                    subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "ceir.cli",
                            "check",
                            "--file",
                            str(check_file),
                            "--output",
                            str(Path(folder) / "out.csv"),
                        ],
                        check=True,
                        env=env,
                    )


if __name__ == "__main__":
    main()
