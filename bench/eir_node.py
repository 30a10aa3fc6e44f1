"""Benchmark: an EIR node's start-up from nothing to answering, and its requests/s.

    python -m bench.eir_node [--devices 1000000] [--connections 16,64] [--duration 5]
    python -m bench.eir_node --devices 30000000

A fresh SQLite centre (`ceir serve`) gets a synthetic snapshot of N devices (see bench.eir_index)
and an operator key with scope eir:sync. Then `ceir eir node` starts with an empty folder: the
time until it answers covers the process start, the signed manifest, the download of the whole
snapshot over HTTP on 127.0.0.1, the SHA-256 and signature checks, and the load. wrk (when
installed) then drives the node's N5g-eir API. The centre's first manifest (which hashes the file
once per snapshot) is timed separately, before the node starts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy.orm import Session

from bench.common import fresh_database, machine, timed
from bench.eir_http import request_paths
from bench.eir_index import query_keys, synthetic_index
from bench.http_check import LUA_SCRIPT, Server, run_wrk
from ceir import db
from ceir.apikeys.service import SCOPE_EIR_SYNC, create_key
from ceir.eir.index import write_snapshot


class Node(Server):
    """`ceir eir node` against the centre; ready when /healthz answers (after the first sync)."""

    def __init__(self, source: str, key_file: Path, public_key: Path, folder: Path, log: Path):
        super().__init__("", 1, log)
        self.command = [
            sys.executable, "-m", "ceir.eir.cli", "node", "--source", source,
            "--key-file", str(key_file), "--public-key", str(public_key),
            "--host", "127.0.0.1", "--port", str(self.port), "--folder", str(folder),
        ]  # fmt: skip
        self.env = {**os.environ, "CEIR_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"}


def _get(base: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=600)
    try:
        conn.request("GET", path, headers=headers or {})
        reply = conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"GET {path}: {reply.status} {body[:200]!r}")
        return body
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--paths", type=int, default=20_000)
    args = parser.parse_args()
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f} at start")
    print(f"date:    {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"command: {shlex.join(['python', '-m', 'bench.eir_node', *sys.argv[1:]])}")
    results: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ceir-bench-eir-node-") as folder_name,
        fresh_database("sqlite") as url,
    ):
        folder = Path(folder_name)
        data_dir = folder / "central"
        with timed(f"synthetic index of {args.devices:,} devices, snapshot written", results):
            index = synthetic_index(args.devices)
            snapshot = write_snapshot(data_dir / "eir", index)
            paths = request_paths(query_keys(index, args.paths), args.paths)
            del index
        print(f"snapshot: {snapshot.stat().st_size / 1e6:,.0f} MB")
        with Session(db.get_engine(url)) as session:
            _, secret = create_key(
                session,
                owner_kind="operator",
                owner="kcell",
                scopes={SCOPE_EIR_SYNC},
                label="bench",
                created_by="bench",
            )
            session.commit()
        db.dispose_engines()
        key_file = folder / "node.key"
        key_file.write_text(secret)
        central = Server(url, 1, folder / "central.log")
        central.env["CEIR_DATA_DIR"] = str(data_dir)
        with central:
            auth = {"Authorization": f"Bearer {secret}"}
            public_key = folder / "lists.pub"
            public_key.write_bytes(_get(central.base, "/api/v1/operators/signing-key"))
            with timed("centre: first manifest (hashes and signs the snapshot once)", results):
                _get(central.base, "/api/v1/eir/snapshot", auth)
            node = Node(central.base, key_file, public_key, folder / "node", folder / "node.log")
            with timed("node: start-up from an empty folder to answering", results):
                node.__enter__()
            try:
                started = time.perf_counter()
                _get(node.base, paths[0])
                print(
                    f"first answer after readiness: {(time.perf_counter() - started) * 1e3:.1f} ms"
                )
                wrk = shutil.which("wrk")
                if wrk is None:
                    print("wrk is not installed: no requests/s (sudo apt-get install -y wrk)")
                    return
                (folder / "paths.txt").write_text("\n".join(paths) + "\n", encoding="utf-8")
                script = folder / "eir.lua"
                script.write_text(LUA_SCRIPT % {"paths": folder / "paths.txt"}, encoding="utf-8")
                run_wrk(wrk, node.base, script, 1, 16, 2)  # warm-up
                print(f"  {'connections':>11} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
                for conns in [int(c) for c in args.connections.split(",")]:
                    run = run_wrk(wrk, node.base, script, 1, conns, args.duration)
                    print(
                        f"  {conns:>11} {run.rps:>10,.0f} {run.p50_ms:>8.2f} {run.p99_ms:>8.2f}",
                        flush=True,
                    )
            finally:
                node.stop()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
