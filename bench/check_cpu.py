"""Benchmark: CPU time per public check, in one process, through the whole ASGI application.

    python -m bench.check_cpu [--devices 200000] [--database sqlite|postgresql] [--requests 20000]
                              [--profile]

The same data and request mix as `bench.http_check` (85% registered, 10% not registered, 5%
invalid), with the public rate limit on (at a limit no client reaches, so its cost is counted).
Each request goes through the app as uvicorn hands it over (middleware, fast path or route,
answer), one at a time; uvicorn's HTTP parsing and the socket are not in it. CPU time of this
process is less sensitive to other work on the machine than requests a second, so it is what
to compare before and after a change on a shared machine. `--profile` prints a pyinstrument
profile of the memory mode (when pyinstrument is installed).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import fresh_database, machine, tacs, timed
from bench.http_check import imei_paths, write_tac_file
from bench.registry_import import write_declarations
from ceir.config import Settings
from ceir.db import dispose_engines, get_engine, session_scope
from ceir.registry.service import import_declarations
from ceir.tac.service import import_tac_file
from ceir.web.app import create_app


async def _call(app: Any, path: str) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"accept-language", b"ru-KZ,ru;q=0.9")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _drive(app: Any, paths: list[str], count: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per request over `count` requests."""
    statuses = [await _call(app, paths[n % len(paths)]) for n in range(200)]  # warm caches
    assert set(statuses) == {200}, statuses
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        await _call(app, paths[n % len(paths)])
    return (
        (time.process_time() - cpu) / count * 1e6,
        (time.perf_counter() - wall) / count * 1e6,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=200_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--modes", default="memory,database")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"date:    {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"command: {shlex.join(['python', '-m', 'bench.check_cpu', *sys.argv[1:]])}")
    results: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ceir-bench-cpu-") as folder_name,
        fresh_database(args.database) as url,
    ):
        folder = Path(folder_name)
        models = tacs(200, 42)
        write_tac_file(folder / "tac.txt", models)
        registered = write_declarations(folder / "declarations.csv", args.devices)
        paths = imei_paths(registered, models, 20_000)
        with timed(f"{args.database}: import {args.devices:,} devices", results):
            engine = get_engine(url)
            with session_scope(engine) as session:
                import_tac_file(session, folder / "tac.txt", actor="bench")
            with session_scope(engine) as session:
                import_declarations(session, folder / "declarations.csv", actor="bench")
        print(f"{'mode':>10} {'CPU µs/check':>13} {'wall µs/check':>14}")
        for mode in args.modes.split(","):
            settings = Settings(
                database_url=url,
                public_rate_limit_per_minute=1_000_000_000,  # on, never reached
                check_from_memory=mode == "memory",
            )
            app = create_app(settings, engine)
            if app.state.check_memory is not None:
                app.state.check_memory.rebuild()
            cpu, wall = asyncio.run(_drive(app, paths, args.requests))
            print(f"{mode:>10} {cpu:>13.1f} {wall:>14.1f}", flush=True)
            if args.profile and mode == "memory":
                _profile(app, paths, args.requests)
            if app.state.check_memory is not None:
                app.state.check_memory.close()
        dispose_engines()


def _profile(app: Any, paths: list[str], count: int) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("pyinstrument is not installed: no profile")
        return
    profiler = Profiler(interval=0.0002)
    profiler.start()
    asyncio.run(_drive(app, paths, count))
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
