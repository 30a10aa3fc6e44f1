"""`ceir` with each step of a declarations import timed on stderr, for bench.registry_import_memory.

    python -m bench.import_steps registry import FILE

Each step (stage, check, settle, load) prints its wall time, this process's CPU time and, on
PostgreSQL, the CPU time of the database backend serving it (read from /proc: the database runs on
the same machine here), so a slow import says whether the time goes to Python, to the database or
to waiting for a shared machine's cores.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from ceir import cli
from ceir.registry.declarations import DeclarationsImporter

_TICK = os.sysconf("SC_CLK_TCK")
_backend: list[int] = []


def _server_cpu() -> float:
    if not _backend:
        return 0.0
    try:
        with open(f"/proc/{_backend[0]}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _timed(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
    def run(self: DeclarationsImporter, *args: Any, **kwargs: Any) -> Any:
        conn = next((a for a in args if isinstance(a, Connection)), None)
        if conn is not None and not _backend and conn.dialect.name == "postgresql":
            _backend.append(int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()))
        wall, cpu, server = time.perf_counter(), time.process_time(), _server_cpu()
        try:
            return step(self, *args, **kwargs)
        finally:
            print(
                f"    {name:<7} wall {time.perf_counter() - wall:7.1f} s   "
                f"client CPU {time.process_time() - cpu:6.1f} s   "
                f"database CPU {_server_cpu() - server:6.1f} s",
                file=sys.stderr,
                flush=True,
            )

    return run


for _name in ("stage", "check", "settle", "load"):
    setattr(DeclarationsImporter, _name, _timed(_name, getattr(DeclarationsImporter, _name)))

if __name__ == "__main__":
    sys.argv[0] = "ceir"
    cli.main()
