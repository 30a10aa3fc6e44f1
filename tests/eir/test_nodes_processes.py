"""A centre and two EIR nodes as real processes on 127.0.0.1: propagation, outage, failover."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from ceir import db, identifiers
from ceir.apikeys.service import SCOPE_EIR_SYNC, create_key
from ceir.eir.diameter_client import FailoverClient, equipment_status
from ceir.registry.models import RegistrationSource
from ceir.registry.service import register_device
from tests.factories import make_imei

pytestmark = pytest.mark.slow

# The delay docs/eir.md promises between a central change and every node answering it.
PROPAGATION_SECONDS = 5
STARTUP_SECONDS = 60
DIAMETER_WHITELISTED = 0


def _free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll `condition` until true; returns the seconds it took (fails past `seconds`)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds} s: {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


@dataclass
class Site:
    tmp: Path
    env: dict[str, str]
    database_url: str
    central_port: int
    key_file: Path
    public_key: Path
    processes: dict[str, subprocess.Popen[bytes]]

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = (self.tmp / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "ceir.cli", *command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait()

    def start_central(self) -> None:
        self.start("central", ["serve", "--port", str(self.central_port)], self.env)
        _until(
            lambda: _get(f"http://127.0.0.1:{self.central_port}/healthz") is not None,
            STARTUP_SECONDS,
            "the centre listens",
        )

    def start_node(self, name: str, http: int, diameter: int, public_key: Path) -> None:
        # No database for a node: a URL that cannot be reached proves it never tries.
        env = {
            **os.environ,
            "CEIR_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "CEIR_DATA_DIR": str(self.tmp / name),
        }
        command = ["eir", "node", "--source", f"http://127.0.0.1:{self.central_port}"]
        command += ["--key-file", str(self.key_file), "--public-key", str(public_key)]
        command += ["--port", str(http), "--diameter-port", str(diameter)]
        command += ["--poll-seconds", "0.5", "--stale-seconds", "3"]
        self.start(name, command, env)


def answer(port: int, imei: str) -> str | None:
    reply = _get(f"http://127.0.0.1:{port}/n5g-eir-eic/v1/equipment-status?pei=imei-{imei}")
    return reply.json().get("status") if reply is not None and reply.status_code == 200 else None


def metric(port: int, name: str) -> float:
    reply = _get(f"http://127.0.0.1:{port}/metrics")
    assert reply is not None
    found = re.search(rf"^{name} (\S+)$", reply.text, re.M)
    assert found, name
    return float(found.group(1))


def register(database_url: str, imei: str) -> None:
    engine = db.get_engine(database_url)
    with Session(engine) as session:
        key = identifiers.parse_imei(imei).key
        register_device(
            session,
            imei_keys=[key],
            source=RegistrationSource.CUSTOMS,
            actor="test",
            evidence={},
        )
        session.commit()


@pytest.fixture
def site(sqlite_template: Path, tmp_path: Path) -> Iterator[Site]:
    database = tmp_path / "ceir.db"
    shutil.copy(sqlite_template, database)
    url = f"sqlite:///{database}"
    env = {**os.environ, "CEIR_DATABASE_URL": url, "CEIR_DATA_DIR": str(tmp_path / "central")}
    engine = db.get_engine(url)
    with Session(engine) as session:
        _, plaintext = create_key(
            session,
            owner_kind="operator",
            owner="kcell",
            scopes={SCOPE_EIR_SYNC},
            label="eir nodes",
            created_by="test",
        )
        session.commit()
    key_file = tmp_path / "kcell.key"
    key_file.write_text(plaintext)
    site = Site(tmp_path, env, url, _free_port(), key_file, tmp_path / "lists.pub", {})
    try:
        site.start_central()
        pem = _get(f"http://127.0.0.1:{site.central_port}/api/v1/operators/signing-key")
        assert pem is not None and pem.status_code == 200
        site.public_key.write_bytes(pem.content)
        yield site
    finally:
        for name in list(site.processes):
            site.stop(name)
        db.dispose_engines()


def test_nodes_follow_the_centre_keep_answering_through_an_outage_and_catch_up(
    site: Site,
) -> None:
    ports = {"node1": _free_port(), "node2": _free_port()}
    for name, port in ports.items():
        site.start_node(name, port, _free_port(), site.public_key)
    first, second = make_imei(serial=1), make_imei(serial=2)
    for port in ports.values():
        _until(lambda p=port: answer(p, first) is not None, STARTUP_SECONDS, "a node answers")
        assert answer(port, first) == "GREYLISTED"  # never heard of

    register(site.database_url, first)
    for port in ports.values():
        _until(
            lambda p=port: answer(p, first) == "WHITELISTED",
            PROPAGATION_SECONDS,
            "a registration reaches every node",
        )

    site.stop("central")
    _until(
        lambda: all(metric(p, "ceir_eir_node_stale") == 1 for p in ports.values()),
        10,
        "the nodes raise the staleness alarm",
    )
    for port in ports.values():
        assert answer(port, first) == "WHITELISTED"  # the last good index keeps serving
        assert metric(port, "ceir_eir_node_staleness_seconds") > 3
        health = _get(f"http://127.0.0.1:{port}/healthz")
        assert health is not None and health.json()["status"] == "degraded"

    register(site.database_url, second)  # made while the nodes cannot hear of it
    site.start_central()
    for port in ports.values():
        _until(
            lambda p=port: answer(p, second) == "WHITELISTED",
            PROPAGATION_SECONDS + 5,
            "the nodes catch up once the centre is back",
        )
        _until(lambda p=port: metric(p, "ceir_eir_node_stale") == 0, 5, "the alarm clears")
    assert "ALARM: index stale" in site.log("node1")


def test_a_node_refuses_a_snapshot_with_a_bad_signature(site: Site) -> None:
    impostor = site.tmp / "impostor.pub"
    impostor.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    port = _free_port()
    site.start_node("node3", port, _free_port(), impostor)
    _until(lambda: "bad signature" in site.log("node3"), 30, "the node refuses the snapshot")
    assert answer(port, make_imei(serial=1)) is None  # it never answers from unverified data
    assert not list((site.tmp / "node3").rglob("eir-index-*.arrow"))


def test_an_mme_fails_over_to_the_next_node_and_device_watchdog_reveals_a_dead_one(
    site: Site,
) -> None:
    diameter = {"node1": _free_port(), "node2": _free_port()}
    http = {"node1": _free_port(), "node2": _free_port()}
    for name in diameter:
        site.start_node(name, http[name], diameter[name], site.public_key)
    for name in diameter:
        _until(lambda n=name: answer(http[n], make_imei()) is not None, STARTUP_SECONDS, "up")
    imei = make_imei(serial=7)
    register(site.database_url, imei)
    for name in diameter:
        _until(lambda n=name: answer(http[n], imei) == "WHITELISTED", PROPAGATION_SECONDS, "synced")
    peers = [("127.0.0.1", diameter["node1"]), ("127.0.0.1", diameter["node2"])]

    async def scenario() -> list[str]:
        client = FailoverClient(peers, watchdog_seconds=1.0, reconnect_seconds=60)
        try:
            answer_ = await client.identity_check(imei)
            assert equipment_status(answer_) == DIAMETER_WHITELISTED
            assert client.live_peer() == f"127.0.0.1:{diameter['node1']}"

            # A hung node (alive, silent): only Device-Watchdog can tell.
            os.killpg(site.processes["node1"].pid, signal.SIGSTOP)
            started = time.monotonic()
            answer_ = await asyncio.wait_for(client.identity_check(imei), 10)
            assert equipment_status(answer_) == DIAMETER_WHITELISTED
            assert time.monotonic() - started < 5  # Tw of silence + Tw without a DWA
            assert client.live_peer() == f"127.0.0.1:{diameter['node2']}"
            return client.events
        finally:
            await client.close()

    events = asyncio.run(scenario())
    assert f"down 127.0.0.1:{diameter['node1']}: no answer to Device-Watchdog" in events
    os.killpg(site.processes["node1"].pid, signal.SIGCONT)

    async def killed() -> list[str]:
        # A killed node: its connection drops and the request goes to the next node at once.
        client = FailoverClient(peers, watchdog_seconds=1.0, reconnect_seconds=60)
        try:
            await client.identity_check(imei)
            assert client.live_peer() == f"127.0.0.1:{diameter['node1']}"
            site.stop("node1")
            answer_ = await asyncio.wait_for(client.identity_check(imei), 5)
            assert equipment_status(answer_) == DIAMETER_WHITELISTED
            assert client.live_peer() == f"127.0.0.1:{diameter['node2']}"
            site.stop("node2")
            with pytest.raises(ConnectionError):
                await client.identity_check(imei)  # none left: said at once, not hung
            return client.events
        finally:
            await client.close()

    events = asyncio.run(killed())
    assert f"down 127.0.0.1:{diameter['node1']}: connection lost" in events
