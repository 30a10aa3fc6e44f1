"""A Diameter S13 client (the MME's side): for tests, the benchmark and smoke checks of an EIR.

`FailoverClient` behaves as an MME configured with several EIR nodes should (RFC 6733 §5.1,
RFC 3539): requests go to the first live peer in the configured order; a peer whose connection
drops, or which leaves a Device-Watchdog-Request unanswered for Tw, is marked down, its pending
requests are sent again to the next peer, and it is tried again after Tc.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import struct
import time
from dataclasses import dataclass, field

from ceir.eir import diameter_codec as d

_HOP_BY_HOP = struct.Struct(">II")
log = logging.getLogger(__name__)


class DiameterClient(asyncio.Protocol):
    """One connection; requests are pipelined and matched to answers by hop-by-hop id."""

    def __init__(self, origin_host: str, origin_realm: str) -> None:
        self.origin_host = origin_host
        self.origin_realm = origin_realm
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.ids = itertools.count(int.from_bytes(os.urandom(2), "big") << 16)
        self.sessions = itertools.count(1)
        self.server_requests: asyncio.Queue[d.Message] = asyncio.Queue()
        self.answer_watchdog = True
        self.closed = asyncio.get_running_loop().create_future()
        self.last_heard = time.monotonic()  # for the watchdog: any message proves the peer alive

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        origin_host: str = "mme1.epc.test",
        origin_realm: str = "epc.test",
        exchange: bool = True,
    ) -> DiameterClient:
        """Open a connection and, unless `exchange` is False, do CER/CEA (raises if refused)."""
        loop = asyncio.get_running_loop()
        _transport, client = await loop.create_connection(
            lambda: cls(origin_host, origin_realm), host, port
        )
        if exchange:
            answer = await client.capabilities_exchange()
            code = answer.find(d.RESULT_CODE)
            if code is None or code.u32() != d.SUCCESS:
                raise ConnectionError(f"CER refused: {answer}")
        return client

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("the EIR closed the connection"))
        self.pending.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.last_heard = time.monotonic()
        self.buffer += data
        buffer = self.buffer
        offset = 0
        while len(buffer) - offset >= d.HEADER_LENGTH:
            length = d.message_length(buffer, offset)
            if len(buffer) - offset < length:
                break
            message = bytes(buffer[offset : offset + length])
            offset += length
            if message[4] & d.FLAG_REQUEST:
                self.server_request(d.decode_message(message))
                continue
            future = self.pending.pop(_HOP_BY_HOP.unpack_from(message, 12)[0], None)
            if future is not None and not future.done():
                future.set_result(message)
        del buffer[:offset]

    def server_request(self, message: d.Message) -> None:
        self.server_requests.put_nowait(message)
        if message.command == d.DEVICE_WATCHDOG and self.answer_watchdog:
            assert self.transport is not None
            self.transport.write(
                d.encode_message(
                    d.DEVICE_WATCHDOG,
                    0,
                    0,
                    message.hop_by_hop,
                    message.end_to_end,
                    d.avp_u32(d.RESULT_CODE, d.SUCCESS) + self.identity(),
                )
            )

    # --- requests -----------------------------------------------------------------------------

    def identity(self) -> bytes:
        return d.avp_text(d.ORIGIN_HOST, self.origin_host) + d.avp_text(
            d.ORIGIN_REALM, self.origin_realm
        )

    def send(self, message: bytes) -> asyncio.Future[bytes]:
        """Send an encoded request; the future gets the raw answer with the same hop-by-hop id."""
        assert self.transport is not None
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[_HOP_BY_HOP.unpack_from(message, 12)[0]] = future
        self.transport.write(message)
        return future

    def encode(
        self,
        command: int,
        body: bytes,
        *,
        application: int = d.APPLICATION_BASE,
        flags: int = d.FLAG_REQUEST,
    ) -> bytes:
        identifier = next(self.ids) & 0xFFFFFFFF
        return d.encode_message(command, flags, application, identifier, identifier, body)

    async def request(
        self,
        command: int,
        body: bytes,
        *,
        application: int = d.APPLICATION_BASE,
        flags: int = d.FLAG_REQUEST,
    ) -> d.Message:
        raw = await self.send(self.encode(command, body, application=application, flags=flags))
        return d.decode_message(raw)

    async def capabilities_exchange(self) -> d.Message:
        return await self.request(
            d.CAPABILITIES_EXCHANGE,
            self.identity()
            + d.avp_address(d.HOST_IP_ADDRESS, "127.0.0.1")
            + d.avp_u32(d.VENDOR_ID, 0)
            + d.avp_text(d.PRODUCT_NAME, "ceir-test-mme", flags=0)
            + d.avp_u32(d.SUPPORTED_VENDOR_ID, d.VENDOR_3GPP)
            + d.vendor_specific_s13(),
        )

    def identity_check_request(
        self,
        imei: str,
        imsi: str | None = None,
        software_version: str | None = "01",
        destination_realm: str = "eir.test",
    ) -> bytes:
        """An encoded ME-Identity-Check-Request (TS 29.272 §5.2.4.1)."""
        session = f"{self.origin_host};{next(self.sessions)};ceir"
        terminal = d.avp_text(d.IMEI, imei, vendor=d.VENDOR_3GPP)
        if software_version is not None:
            terminal += d.avp_text(d.SOFTWARE_VERSION, software_version, vendor=d.VENDOR_3GPP)
        body = (
            d.avp_text(d.SESSION_ID, session)
            + d.vendor_specific_s13()
            + d.avp_u32(d.AUTH_SESSION_STATE, d.NO_STATE_MAINTAINED)
            + self.identity()
            + d.avp_text(d.DESTINATION_REALM, destination_realm)
            + d.avp_grouped(d.TERMINAL_INFORMATION, terminal, vendor=d.VENDOR_3GPP)
        )
        if imsi is not None:
            body += d.avp_text(d.USER_NAME, imsi)
        return self.encode(
            d.ME_IDENTITY_CHECK,
            body,
            application=d.APPLICATION_S13,
            flags=d.FLAG_REQUEST | d.FLAG_PROXIABLE,
        )

    async def identity_check(
        self, imei: str, imsi: str | None = None, software_version: str | None = "01"
    ) -> d.Message:
        return d.decode_message(
            await self.send(self.identity_check_request(imei, imsi, software_version))
        )

    async def watchdog(self) -> d.Message:
        """Send a Device-Watchdog-Request and wait for its answer."""
        return await self.request(d.DEVICE_WATCHDOG, self.identity())

    async def close(self) -> None:
        assert self.transport is not None
        self.transport.close()
        await self.closed


@dataclass
class Peer:
    host: str
    port: int
    down_until: float = 0.0  # monotonic time before which the peer is not tried
    client: DiameterClient | None = None
    watchdog: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


class FailoverClient:
    """Several EIR peers in order of preference; each request goes to the first live one."""

    def __init__(
        self,
        peers: list[tuple[str, int]],
        *,
        watchdog_seconds: float = 30.0,  # Tw (RFC 3539 recommends 30 s)
        reconnect_seconds: float = 30.0,  # Tc
        origin_host: str = "mme1.epc.test",
        origin_realm: str = "epc.test",
    ) -> None:
        if not peers:
            raise ValueError("give at least one EIR peer")
        self.peers = [Peer(host, port) for host, port in peers]
        self.watchdog_seconds = watchdog_seconds
        self.reconnect_seconds = reconnect_seconds
        self.origin_host = origin_host
        self.origin_realm = origin_realm
        self.events: list[str] = []  # "down <peer>: <why>", "up <peer>", for logs and tests

    def _down(self, peer: Peer, why: str) -> None:
        if peer.client is None:
            return
        log.warning("EIR peer %s down: %s", peer.name, why)
        self.events.append(f"down {peer.name}: {why}")
        peer.down_until = time.monotonic() + self.reconnect_seconds
        client, peer.client = peer.client, None
        if client.transport is not None:
            client.transport.abort()  # pending requests fail now and are sent elsewhere
        if peer.watchdog is not None and peer.watchdog is not asyncio.current_task():
            peer.watchdog.cancel()

    async def _connected(self, peer: Peer) -> DiameterClient | None:
        if peer.client is not None and not peer.client.closed.done():
            return peer.client
        if peer.client is not None:
            self._down(peer, "connection lost")
        if time.monotonic() < peer.down_until:
            return None
        try:
            client = await asyncio.wait_for(
                DiameterClient.connect(
                    peer.host,
                    peer.port,
                    origin_host=self.origin_host,
                    origin_realm=self.origin_realm,
                ),
                self.watchdog_seconds,
            )
        except (OSError, TimeoutError) as exc:
            peer.down_until = time.monotonic() + self.reconnect_seconds
            self.events.append(f"unreachable {peer.name}: {type(exc).__name__}")
            return None
        peer.client = client
        peer.watchdog = asyncio.create_task(self._watch(peer, client))
        self.events.append(f"up {peer.name}")
        return client

    async def _watch(self, peer: Peer, client: DiameterClient) -> None:
        """RFC 3539: after Tw of silence send DWR; no answer within Tw and the peer is down."""
        while peer.client is client and not client.closed.done():
            silent = time.monotonic() - client.last_heard
            if silent < self.watchdog_seconds:
                await asyncio.sleep(self.watchdog_seconds - silent)
                continue
            try:
                await asyncio.wait_for(client.watchdog(), self.watchdog_seconds)
            except (TimeoutError, ConnectionError):
                self._down(peer, "no answer to Device-Watchdog")
                return

    async def identity_check(
        self, imei: str, imsi: str | None = None, software_version: str | None = "01"
    ) -> d.Message:
        """ECR to the first live peer; on a dead connection, the same request to the next."""
        for peer in self.peers:
            client = await self._connected(peer)
            if client is None:
                continue
            try:
                return await client.identity_check(imei, imsi, software_version)
            except ConnectionError:
                self._down(peer, "connection lost")
        raise ConnectionError("no EIR peer answers")

    def live_peer(self) -> str | None:
        for peer in self.peers:
            if peer.client is not None and not peer.client.closed.done():
                return peer.name
        return None

    async def close(self) -> None:
        for peer in self.peers:
            if peer.watchdog is not None:
                peer.watchdog.cancel()
            if peer.client is not None and not peer.client.closed.done():
                await peer.client.close()
            peer.client = None


def equipment_status(answer: d.Message) -> int | None:
    """The Equipment-Status of an ECA, or None when it has none."""
    found = answer.find(d.EQUIPMENT_STATUS, d.VENDOR_3GPP)
    return found.u32() if found is not None else None


def result_code(answer: d.Message) -> int | None:
    """Result-Code, or the Experimental-Result-Code inside Experimental-Result."""
    found = answer.find(d.RESULT_CODE)
    if found is not None:
        return found.u32()
    experimental = answer.find(d.EXPERIMENTAL_RESULT)
    if experimental is not None:
        code = d.find(experimental.children(), d.EXPERIMENTAL_RESULT_CODE)
        return code.u32() if code is not None else None
    return None
