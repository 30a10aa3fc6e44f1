"""Benchmark: N5g-eir `GET /n5g-eir-eic/v1/equipment-status` under load from wrk, up to saturation.

    python -m bench.eir_http [--devices 30000000] [--workers 2] [--connections 1,4,16,64,128]
                             [--duration 8]

Writes a synthetic snapshot (see bench.eir_index) into a temporary data folder beside a fresh
SQLite database, starts `ceir eir serve --workers N` as a separate process, and drives it with
`wrk -t1` (a second process on 127.0.0.1) through a cycle of PEIs of every status: known devices of
each code, unknown ones, imeisv- forms and roaming SUPIs. Prints rate, p50 and p99 per step.
Target: >= 5,000 requests/s with p99 < 10 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import fresh_database, machine, timed
from bench.eir_index import query_keys, synthetic_index
from bench.http_check import LUA_SCRIPT, Run, Server, run_wrk
from ceir.eir.index import write_snapshot

TARGET_RPS = 5_000
TARGET_P99_MS = 10.0


class EirServer(Server):
    """`ceir eir serve` (through `python -m ceir.eir.cli`, mounted or not) over one data folder."""

    def __init__(self, url: str, data_dir: Path, workers: int, log: Path) -> None:
        super().__init__(url, workers, log)
        self.command = [
            sys.executable, "-m", "ceir.eir.cli", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
        ]  # fmt: skip
        self.env = {**os.environ, "CEIR_DATABASE_URL": url, "CEIR_DATA_DIR": str(data_dir)}


def request_paths(keys: np.ndarray, count: int, seed: int = 3) -> list[str]:
    rng = np.random.default_rng(seed)
    paths = []
    for n, key in enumerate(keys[:count]):
        digits = f"{int(key):014d}"
        pei = f"imeisv-{digits}{n % 100:02d}" if n % 10 == 0 else f"imei-{digits}0"
        supi = "imsi-250011234567890" if n % 20 == 0 else f"imsi-40102{rng.integers(10**9):010d}"
        paths.append(f"/n5g-eir-eic/v1/equipment-status?pei={pei}&supi={supi}")
    return paths


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=30_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", default="1,4,16,64,128")
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--paths", type=int, default=50_000)
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed; on Debian or Ubuntu: sudo apt-get install -y wrk")
        sys.exit(2)
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f} at start")
    print(f"date:    {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"command: {shlex.join(['python', '-m', 'bench.eir_http', *sys.argv[1:]])}")
    print(f"server:  ceir eir serve --workers {args.workers} (uvicorn, httptools, uvloop)")
    print(f"load:    wrk -t1 --latency, {args.duration} s a step, from 127.0.0.1")
    results: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ceir-bench-eir-http-") as folder_name,
        fresh_database("sqlite") as url,
    ):
        folder = Path(folder_name)
        data_dir = folder / "var"
        with timed(f"synthetic index of {args.devices:,} devices, snapshot written", results):
            index = synthetic_index(args.devices)
            write_snapshot(data_dir / "eir", index)
            paths = request_paths(query_keys(index, args.paths), args.paths)
            del index
        (folder / "paths.txt").write_text("\n".join(paths) + "\n", encoding="utf-8")
        script = folder / "eir.lua"
        script.write_text(LUA_SCRIPT % {"paths": folder / "paths.txt"}, encoding="utf-8")
        print(f"requests cycle through {len(paths):,} PEIs: 80% known (all codes), 20% unknown;")
        print("  one in ten as imeisv-, one in twenty with a roaming SUPI")
        print()
        print(f"  {'connections':>11} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        runs: list[Run] = []
        with timed("server start-up (snapshot loaded by each worker)", results):
            server = EirServer(url, data_dir, args.workers, folder / "server.log").__enter__()
        try:
            run_wrk(wrk, server.base, script, args.workers, 16, 2)  # warm-up
            for conns in [int(c) for c in args.connections.split(",")]:
                run = run_wrk(wrk, server.base, script, args.workers, conns, args.duration)
                runs.append(run)
                print(
                    f"  {conns:>11} {run.rps:>10,.0f} {run.p50_ms:>8.2f} {run.p99_ms:>8.2f} "
                    f"{run.socket_errors + run.non_2xx:>7}",
                    flush=True,
                )
                time.sleep(1)
        finally:
            server.stop()
        good = [r for r in runs if r.p99_ms < TARGET_P99_MS]
        print()
        if good:
            best = max(good, key=lambda r: r.rps)
            verdict = "met" if best.rps >= TARGET_RPS else "NOT met"
            print(
                f"best with p99 < {TARGET_P99_MS:.0f} ms: {best.rps:,.0f} req/s at "
                f"{best.connections} connections (p99 {best.p99_ms:.2f} ms); "
                f"target {TARGET_RPS:,} req/s: {verdict}"
            )
        else:
            best = max(runs, key=lambda r: r.rps)
            print(
                f"no step had p99 < {TARGET_P99_MS:.0f} ms (target NOT met); highest rate "
                f"{best.rps:,.0f} req/s at {best.connections} connections "
                f"(p99 {best.p99_ms:.2f} ms)"
            )
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("\ninterrupted; the server was stopped")
        sys.exit(130)
