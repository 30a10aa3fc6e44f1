"""A minimal SMSC for tests: answers an SMPP 3.4 transmitter's bind, submit_sm and unbind.

Only what ceir's gateway says is implemented, and it answers as SMPP 3.4 prescribes (§4.1, §4.4,
§4.2): the tests judge ceir's side of the conversation, and Wireshark judges both.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

BIND_TRANSMITTER, SUBMIT_SM, UNBIND, ENQUIRE_LINK = 0x02, 0x04, 0x06, 0x15
RESPONSE = 0x80000000
GENERIC_NACK = 0x80000000
ESME_ROK, ESME_RINVCMDID, ESME_RTHROTTLED = 0x00, 0x03, 0x58
_HEADER = struct.Struct(">IIII")


@dataclass
class Smsc:
    port: int = 0
    # The status each submit_sm is answered with, in turn (then ESME_ROK).
    submit_statuses: list[int] = field(default_factory=list)
    received: list[tuple[int, int, bytes]] = field(default_factory=list)  # (id, seq, body)

    def serve(self, conn: socket.socket) -> None:
        with conn:
            messages = 0
            while header := _read(conn, 16):
                length, command, _status, sequence = _HEADER.unpack(header)
                body = _read(conn, length - 16) if length > 16 else b""
                self.received.append((command, sequence, body))
                status, answer = ESME_ROK, b""
                if command == BIND_TRANSMITTER:
                    answer = b"ceir-test-smsc\0"
                elif command == SUBMIT_SM:
                    status = self.submit_statuses.pop(0) if self.submit_statuses else ESME_ROK
                    messages += 1
                    # §4.4.2: the message_id is returned only with a success.
                    answer = f"m{messages}\0".encode() if status == ESME_ROK else b""
                elif command not in (UNBIND, ENQUIRE_LINK):
                    conn.sendall(_HEADER.pack(16, GENERIC_NACK, ESME_RINVCMDID, sequence))
                    continue
                conn.sendall(
                    _HEADER.pack(16 + len(answer), command | RESPONSE, status, sequence) + answer
                )
                if command == UNBIND:
                    return


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


@contextmanager
def running_smsc(smsc: Smsc | None = None) -> Iterator[Smsc]:
    """An SMSC on a free port of 127.0.0.1, one connection at a time, until the block ends."""
    smsc = smsc or Smsc()
    listener = socket.create_server(("127.0.0.1", 0))
    smsc.port = listener.getsockname()[1]
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(10)
            smsc.serve(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield smsc
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
