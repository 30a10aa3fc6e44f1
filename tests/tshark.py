"""Wireshark as an independent judge of ceir's wire protocols: live capture on lo, tshark decodes.

`dumpcap` captures the test's TCP port on the loopback interface (root, or a user allowed to
capture); `tshark -r` decodes the file with Wireshark's own dissectors, which share no code with
ceir. Tests are skipped, loudly, where neither tool is installed (scripts/test installs tshark).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

TSHARK = shutil.which("tshark")
DUMPCAP = shutil.which("dumpcap")
# Wireshark's expert severities (epan/proto.h): chat 0x200000, note 0x400000, warn 0x600000,
# error 0x800000 (a malformed packet is an error).
WARN = 0x600000
SEPARATOR = "\x1f"
GRACE_SECONDS = 1.0  # unit separator: never in a decoded field


def require_tshark() -> None:
    if TSHARK is None or DUMPCAP is None:
        pytest.skip("no tshark/dumpcap (Debian package tshark; scripts/test installs it)")


@dataclass
class Frame:
    number: int
    fields: dict[str, list[str]]

    def first(self, name: str) -> str | None:
        values = self.fields.get(name) or []
        return values[0] if values else None


@contextmanager
def live_capture(port: int, path: Path) -> Iterator[None]:
    """Capture TCP port `port` on lo into `path` (pcap) while the block runs.

    dumpcap writes to a pipe packet by packet; UDP probes to a port nobody serves mark the
    capture's start (the block runs once the first probe is in) and its end (stopped once the
    last probe is in: every packet sent before it is in the file too).
    """
    require_tshark()
    assert DUMPCAP is not None
    probe_port = 9  # the discard port: nothing answers on 127.0.0.1
    proc = subprocess.Popen(
        [
            DUMPCAP,
            "-q",
            "-P",
            "-i",
            "lo",
            "-f",
            f"tcp port {port} or udp port {probe_port}",
            "-w",
            "-",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    captured = bytearray()

    def read() -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read1(65536):
            captured.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def mark(tag: bytes) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            deadline = time.monotonic() + 15
            while tag not in captured:
                if proc.poll() is not None or time.monotonic() > deadline:
                    error = proc.stderr.read().decode() if proc.stderr else ""
                    pytest.skip(f"cannot capture on lo here: {error[:300]}")
                probe.sendto(tag, ("127.0.0.1", probe_port))
                time.sleep(0.05)

    try:
        mark(b"ceir-capture-start")
        yield
        mark(b"ceir-capture-end")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        reader.join(timeout=10)
        path.write_bytes(bytes(captured))


def decode(path: Path, port: int, protocol: str, fields: list[str]) -> list[Frame]:
    """Every frame of the capture with `fields` (all occurrences), `port` decoded as `protocol`.

    Always adds Wireshark's verdicts: `_ws.expert.message`, `_ws.expert.severity` and
    `_ws.malformed` (present when a dissector found the packet malformed).
    """
    assert TSHARK is not None
    wanted = [*fields, "_ws.expert.message", "_ws.expert.severity", "_ws.malformed"]
    done = subprocess.run(
        [
            TSHARK,
            "-n",
            "-r",
            str(path),
            "-d",
            f"tcp.port=={port},{protocol}",
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            f"aggregator={SEPARATOR}",
            "-E",
            "separator=\t",
            "-e",
            "frame.number",
            *(arg for name in wanted for arg in ("-e", name)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    frames = []
    for line in out.splitlines():
        number, *values = line.split("\t")
        frames.append(
            Frame(
                int(number),
                {
                    name: value.split(SEPARATOR) if value else []
                    for name, value in zip(wanted, values, strict=True)
                },
            )
        )
    return frames


def complaints(frames: list[Frame], carries_protocol: str) -> list[str]:
    """What Wireshark found wrong: malformed packets, expert items of warning or worse, and any
    expert item at all on a frame that carries the protocol under test (a frame with the field
    `carries_protocol`): an unknown AVP or a bad optional parameter is only a note or a warning.
    TCP's own notes (SYN, FIN) ride on frames without a payload."""
    found = []
    for frame in frames:
        messages = frame.fields["_ws.expert.message"]
        severities = [int(s) for s in frame.fields["_ws.expert.severity"]]
        if frame.fields["_ws.malformed"]:
            found.append(f"frame {frame.number}: malformed {messages}")
        ours = bool(frame.fields.get(carries_protocol))
        for message, severity in zip(messages, severities, strict=False):
            if ours or severity >= WARN:
                found.append(f"frame {frame.number}: {message}")
    return found
