"""Benchmark of Diameter S13: ME-Identity-Check requests per second and latency, over 127.0.0.1.

The EIR runs in a subprocess over a synthetic index; this process is the MME: several Diameter
connections, each with requests pipelined, in closed loop (a request goes out when one comes
back), for a fixed time per step of concurrency. Target: >= 3,000 requests/s with p99 < 10 ms.

    .venv/bin/python -m bench.diameter_s13                 # 1,000,000 devices, 10 s per step
    .venv/bin/python -m bench.diameter_s13 --seconds 3 --steps 1,16 [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import socket
import struct
import subprocess
import sys
import time

import numpy as np

from bench.common import machine
from ceir.eir import diameter_codec as d
from ceir.eir.diameter_client import DiameterClient
from ceir.eir.index import DeviceCode, IndexHolder, make_index

TARGET_RATE, TARGET_P99_MS = 3_000, 10.0
_IDS = struct.Struct(">II")


def synthetic_index(devices: int, seed: int = 6) -> IndexHolder:
    rng = np.random.default_rng(seed)
    keys = rng.integers(35_000_000_000_000, 36_000_000_000_000, devices, dtype=np.int64)
    # Mostly registered; the rest spread over the other states.
    codes = rng.choice(
        np.arange(len(DeviceCode), dtype=np.uint8), devices, p=[0.9, 0.04, 0.01, 0.03, 0.01, 0.01]
    )
    return IndexHolder(make_index(keys, codes, journal_id=0))


def serve(port: int, devices: int, use_uvloop: bool) -> None:
    """The subprocess: build the index, listen, say so on stdout, serve until killed."""
    from ceir.config import Settings
    from ceir.eir.diameter import serve_diameter

    started = time.perf_counter()
    holder = synthetic_index(devices)
    print(
        f"ready {len(holder.current)} devices in {time.perf_counter() - started:.1f} s", flush=True
    )
    run = asyncio.run
    if use_uvloop:
        import uvloop

        run = uvloop.run
    run(
        serve_diameter(
            "127.0.0.1",
            port,
            lambda: holder,
            Settings(),
            origin_host="eir.bench.test",
            origin_realm="bench.test",
        )
    )


def request_pool(client: DiameterClient, devices: int, size: int = 2_000) -> list[bytearray]:
    """Encoded ECRs for IMEIs both in the index (about half) and not, home and roaming IMSIs."""
    holder_keys = synthetic_index(devices).current.keys
    rng = random.Random(6)
    pool = []
    for n in range(size):
        key = (
            int(holder_keys[rng.randrange(holder_keys.size)])
            if n % 2
            else rng.randrange(35_000_000_000_000, 36_000_000_000_000)
        )
        imsi = "401021234567890" if n % 10 else "250011234567890"
        pool.append(bytearray(client.identity_check_request(f"{key:014d}", imsi)))
    return pool


async def worker(
    client: DiameterClient,
    pool: list[bytearray],
    ids: list[int],
    until: float,
    latencies: list[float],
) -> None:
    loop_time = time.perf_counter
    n = 0
    while loop_time() < until:
        request = pool[n % len(pool)]
        n += 1
        ids[0] += 1
        _IDS.pack_into(request, 12, ids[0] & 0xFFFFFFFF, ids[0] & 0xFFFFFFFF)
        started = loop_time()
        answer = await client.send(bytes(request))
        latencies.append(loop_time() - started)
        if answer[4] & d.FLAG_ERROR:
            raise RuntimeError("the EIR answered with a protocol error")


async def drive(
    port: int, devices: int, steps: list[int], seconds: float
) -> list[dict[str, float]]:
    connections = [await connect(port) for _ in range(4)]
    pool = request_pool(connections[0], devices)
    ids = [1]
    results = []
    # A short warm-up, then each step.
    await asyncio.gather(*(worker(c, pool, ids, time.perf_counter() + 1, []) for c in connections))
    for in_flight in steps:
        latencies: list[float] = []
        until = time.perf_counter() + seconds
        started = time.perf_counter()
        await asyncio.gather(
            *(
                worker(connections[i % len(connections)], pool, ids, until, latencies)
                for i in range(in_flight)
            )
        )
        elapsed = time.perf_counter() - started
        ms = np.array(latencies) * 1000
        row = {
            "in_flight": in_flight,
            "connections": min(in_flight, len(connections)),
            "requests": len(latencies),
            "rate": len(latencies) / elapsed,
            "p50": float(np.percentile(ms, 50)),
            "p99": float(np.percentile(ms, 99)),
            "max": float(ms.max()),
        }
        results.append(row)
        print(
            f"  {in_flight:>9} {row['connections']:>11} {row['requests']:>9,} "
            f"{row['rate']:>10,.0f} {row['p50']:>8.2f} {row['p99']:>8.2f} {row['max']:>8.1f}",
            flush=True,
        )
    for connection in connections:
        await connection.close()
    return results


async def connect(port: int) -> DiameterClient:
    """Connect, waiting for the subprocess to listen (it says "ready" just before)."""
    for _ in range(200):
        try:
            return await DiameterClient.connect("127.0.0.1", port)
        except ConnectionRefusedError:
            await asyncio.sleep(0.05)
    raise RuntimeError("the EIR subprocess did not start listening")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per step")
    parser.add_argument("--steps", default="1,4,16,64,256", help="requests in flight per step")
    parser.add_argument("--uvloop", action="store_true", help="serve on uvloop's event loop")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the subprocess
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.devices, args.uvloop)
        return

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.diameter_s13",
        "--serve",
        str(port),
        "--devices",
        str(args.devices),
    ] + (["--uvloop"] if args.uvloop else [])
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        print(f"Diameter S13 benchmark, {dt.date.today()}, {machine()}")
        print(
            f"EIR: {server.stdout.readline().strip()} (asyncio"
            f"{' + uvloop' if args.uvloop else ''}, one process), client: this process"
        )
        print(
            f"  {'in flight':>9} {'connections':>11} {'requests':>9} {'req/s':>10} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        )
        steps = [int(s) for s in args.steps.split(",")]
        results = asyncio.run(drive(port, args.devices, steps, args.seconds))
    finally:
        server.terminate()
        server.wait(timeout=10)
    meeting = [r for r in results if r["p99"] < TARGET_P99_MS]
    best = max(meeting, key=lambda r: r["rate"]) if meeting else None
    if best and best["rate"] >= TARGET_RATE:
        print(
            f"target met: {best['rate']:,.0f} requests/s with p99 {best['p99']:.2f} ms "
            f"({best['in_flight']:.0f} in flight)"
        )
    else:
        print(
            "target NOT met: no step reached "
            f"{TARGET_RATE:,} requests/s with p99 under {TARGET_P99_MS:.0f} ms"
        )


if __name__ == "__main__":
    main()
