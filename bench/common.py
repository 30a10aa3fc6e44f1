"""Shared helpers of the benchmarks: synthetic data, fresh databases, timing."""

from __future__ import annotations

import os
import platform
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ceir import identifiers, migrate

POSTGRES_URL = os.environ.get(
    "CEIR_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def machine() -> str:
    python = platform.python_version()
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {python}"


def imei(tac: str, serial: int) -> str:
    key = f"{tac}{serial:06d}"
    return key + str(identifiers.luhn_check_digit(key))


def tacs(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return sorted({f"35{rng.randrange(10**6):06d}" for _ in range(count)})


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    started, cpu = time.perf_counter(), time.process_time()
    yield
    results[label] = time.perf_counter() - started
    # CPU of this process (all its threads): on a busy machine a fairer comparison than wall time.
    used = time.process_time() - cpu
    print(f"  {label:<48} {results[label]:8.2f} s  (CPU {used:.2f} s)", flush=True)


@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """A new, migrated database: a temporary SQLite file or a scratch PostgreSQL database."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ceir-bench-") as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            migrate.upgrade(url)
            yield url
        return
    admin_url = make_url(POSTGRES_URL)
    name = f"ceir_bench_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        from ceir.db import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
