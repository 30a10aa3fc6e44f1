"""Benchmark: the partners' bulk check (10,000 IMEIs a request) and a 1,000,000-IMEI job, over HTTP.

    python -m bench.partners_bulk [--registered 1000000] [--database sqlite|postgresql]

Makes a registry of registered devices and a partner key, starts `ceir serve` as its own process,
then times: POST /api/v1/partners/checks with 10,000 IMEIs (JSON; median and worst of 10), and a
job of 1,000,000 IMEIs from upload to the downloaded result (end to end, as a marketplace sees it).
Targets: 10,000 IMEIs under 300 ms; the job under 15 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import random
import socket
import statistics
import subprocess
import sys
import time

import httpx
import numpy as np

from bench.common import fresh_database, imei, machine, tacs
from ceir.apikeys.service import create_key
from ceir.db import get_engine, session_factory
from ceir.registry.models import RegistrationSource
from ceir.registry.service import register_devices_bulk


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registered", type=int, default=1_000_000)
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(f"machine: {machine()}; date: {dt.date.today()}; database: {args.database}")
    models = [int(t) for t in tacs(200, seed=9)]
    with fresh_database(args.database) as url:
        engine = get_engine(url)
        now = dt.datetime.now(dt.UTC)
        index = np.arange(args.registered, dtype=np.int64)
        keys = np.array(models, dtype=np.int64)[index % len(models)] * 1_000_000 + index // len(
            models
        )
        with engine.begin() as conn:
            register_devices_bulk(
                conn,
                keys=keys.reshape(-1, 1),
                present=np.ones((keys.size, 1), dtype=bool),
                source=RegistrationSource.IMPORTER_DECLARATION,
                actor="bench",
                now=now,
            )
        with session_factory(engine)() as db:
            _row, key = create_key(
                db,
                owner_kind="partner",
                owner="bench-market",
                scopes={"check"},
                label="bench",
                created_by="bench",
            )
            db.commit()
        rng = random.Random(5)

        def sample(count: int) -> list[str]:
            out = []
            for _ in range(count):
                k = int(keys[rng.randrange(keys.size)])
                if rng.random() < 0.1:  # a tenth not registered
                    k = models[0] * 1_000_000 + 999_000 + rng.randrange(999)
                text = str(k).zfill(14)
                out.append(imei(text[:8], int(text[8:])))
            return out

        port = free_port()
        env = {**os.environ, "CEIR_DATABASE_URL": url, "CEIR_PUBLIC_RATE_LIMIT_PER_MINUTE": "0"}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ceir.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        sys.exit("the server did not start")
                    time.sleep(0.1)
                batch = {"items": [{"imei": i} for i in sample(10_000)]}
                client.post("/api/v1/partners/checks", json=batch)  # warm-up
                seconds = []
                for _ in range(10):
                    batch = {"items": [{"imei": i} for i in sample(10_000)]}
                    started = time.perf_counter()
                    answer = client.post("/api/v1/partners/checks", json=batch)
                    seconds.append(time.perf_counter() - started)
                    assert answer.status_code == 200, answer.text[:300]
                    assert len(answer.json()["results"]) == 10_000
                print(
                    f"  10,000 IMEIs a request: median {statistics.median(seconds) * 1000:.0f} ms,"
                    f" worst {max(seconds) * 1000:.0f} ms (target < 300 ms)"
                )

                body = "\n".join(sample(1_000_000)).encode()
                started = time.perf_counter()
                job = client.post(
                    "/api/v1/partners/jobs", content=body, headers={"Content-Type": "text/plain"}
                ).json()
                while job["status"] not in ("done", "failed"):
                    time.sleep(0.2)
                    job = client.get(f"/api/v1/partners/jobs/{job['id']}").json()
                result = client.get(job["result_url"])
                rows = gzip.decompress(result.content).count(b"\n") - 1
                total = time.perf_counter() - started
                print(
                    f"  job of 1,000,000 IMEIs, upload to downloaded result: {total:.1f} s "
                    f"({rows:,} result rows; target < 15 s)"
                )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
