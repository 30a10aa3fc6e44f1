"""`ceir eir serve` as a process: SIGTERM or SIGINT stops both listeners promptly and cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import pytest

# The promise made in docs/operations.md, with one HTTP worker or several.
STOP_SECONDS = 5


def _free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with closing(socket.socket()) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def eir_env(sqlite_template: Path, tmp_path: Path) -> dict[str, str]:
    database = tmp_path / "ceir.db"
    shutil.copy(sqlite_template, database)
    return {
        **os.environ,
        "CEIR_DATABASE_URL": f"sqlite:///{database}",
        "CEIR_DATA_DIR": str(tmp_path / "var"),
    }


@contextmanager
def _eir_serve(
    env: dict[str, str], http: int, diameter: int, workers: int
) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "ceir.cli", "eir", "serve", "--port", str(http)]
    command += ["--diameter-port", str(diameter), "--workers", str(workers)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 90
        while not (_listening(http) and _listening(diameter)):
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else b""
                pytest.fail(f"eir serve did not start: {output.decode(errors='replace')}")
            time.sleep(0.1)  # polls for readiness; not a timing assumption
        yield process
    finally:
        # Whatever the test did, nothing of this process group (its own session) outlives it.
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_eir_frees_both_ports_and_answers_the_request_in_flight(
    eir_env: dict[str, str], workers: int, stop: signal.Signals
) -> None:
    http, diameter = _free_port(), _free_port()
    with _eir_serve(eir_env, http, diameter, workers) as process:
        with closing(socket.create_connection(("127.0.0.1", http), timeout=10)) as client:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: eir\r\n\r\n")
            process.send_signal(stop)
            deadline = time.monotonic() + STOP_SECONDS  # counted from the signal
            answer = client.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200"), answer

        while _listening(http) or _listening(diameter):
            assert time.monotonic() < deadline, "a listener outlived the stop"
            time.sleep(0.05)
        # The interpreter's own teardown follows; on a loaded machine it can take seconds more.
        assert process.wait(timeout=30) == 0

    with _eir_serve(eir_env, http, diameter, workers) as again:  # the ports are free
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=30) == 0
