"""Diameter S13 (3GPP TS 29.272): the EIR answering MMEs' ME-Identity-Check requests over TCP.

One asyncio server in one process. Each peer connection does the capabilities exchange (CER/CEA)
first, then sends any number of pipelined ME-Identity-Check requests (ECR), each answered from the
in-memory index (`IndexHolder.current`), never from the database. Watchdog (DWR/DWA, RFC 3539)
runs both ways; DPR/DPA closes a connection cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import struct
import time
from collections.abc import Callable, Collection

from prometheus_client import Counter, Gauge

from ceir.config import Settings
from ceir.eir import diameter_codec as d
from ceir.eir.index import IndexHolder
from ceir.eir.policy import DIAMETER_CODE, EquipmentStatus, decide

log = logging.getLogger(__name__)

PRODUCT_NAME = "ceir"
# RFC 3539 Tw: a peer silent this long gets a DWR; silent for as long again, it is dropped.
WATCHDOG_SECONDS = 30.0

ANSWERS = Counter("ceir_diameter_answers", "ME-Identity-Check answers by result", ["result"])
PEERS = Gauge("ceir_diameter_peers", "Open Diameter peer connections", multiprocess_mode="livesum")
_ANSWERED = {status: ANSWERS.labels(status.value.lower()) for status in EquipmentStatus}
_ANSWERED_UNKNOWN = ANSWERS.labels("equipment_unknown")
_ANSWERED_ERROR = ANSWERS.labels("error")

_U32 = struct.Struct(">I")
_hop_by_hop = itertools.count(int(time.time()) & 0xFFFFF)


class S13Node:
    """What every connection of one server shares: identity, policy, and the index."""

    def __init__(
        self,
        holder_factory: Callable[[], IndexHolder],
        settings: Settings,
        *,
        origin_host: str,
        origin_realm: str,
        peers: Collection[str] | None = None,
        watchdog_seconds: float = WATCHDOG_SECONDS,
    ) -> None:
        self.holder_factory = holder_factory
        self.home_mcc = settings.network.home_mcc
        self.unknown = (
            None
            if settings.eir_unknown_equipment == "not_found"
            else EquipmentStatus(settings.eir_unknown_equipment)
        )
        self.origin_host = origin_host
        self.origin_realm = origin_realm
        self.peers = {p.lower() for p in peers} if peers is not None else None
        self.watchdog_seconds = watchdog_seconds
        self.connections: set[S13Connection] = set()
        self.identity = d.avp_text(d.ORIGIN_HOST, origin_host) + d.avp_text(
            d.ORIGIN_REALM, origin_realm
        )
        # Everything of an ECA after Session-Id and the result, encoded once.
        tail = (
            d.avp_u32(d.AUTH_SESSION_STATE, d.NO_STATE_MAINTAINED)
            + self.identity
            + d.vendor_specific_s13()
        )
        self.eca_tail = {
            status: d.avp_u32(d.EQUIPMENT_STATUS, DIAMETER_CODE[status], vendor=d.VENDOR_3GPP)
            + tail
            for status in EquipmentStatus
        }
        self.success = d.avp_u32(d.RESULT_CODE, d.SUCCESS)
        self.equipment_unknown = (
            d.avp_grouped(
                d.EXPERIMENTAL_RESULT,
                d.avp_u32(d.VENDOR_ID, d.VENDOR_3GPP),
                d.avp_u32(d.EXPERIMENTAL_RESULT_CODE, d.ERROR_EQUIPMENT_UNKNOWN),
            )
            + tail
        )

    def status_of(self, imei: str, imsi: str | None) -> EquipmentStatus | None:
        """The answer for a device; a foreign IMSI in User-Name makes the subscriber a roamer."""
        code = self.holder_factory().current.code_of(int(imei[:14]))
        home = imsi is None or imsi[:3] == self.home_mcc
        return decide(code, home_subscriber=home, unknown=self.unknown)

    def capabilities(self, local_address: str) -> bytes:
        """CEA AVPs after Result-Code: who we are and that we speak S13 for 3GPP."""
        return (
            self.identity
            + d.avp_address(d.HOST_IP_ADDRESS, local_address)
            + d.avp_u32(d.VENDOR_ID, 0)
            + d.avp_text(d.PRODUCT_NAME, PRODUCT_NAME, flags=0)
            + d.avp_u32(d.SUPPORTED_VENDOR_ID, d.VENDOR_3GPP)
            + d.avp_u32(d.AUTH_APPLICATION_ID, d.APPLICATION_S13)
            + d.vendor_specific_s13()
        )

    def disconnect_all(self) -> None:
        for connection in list(self.connections):
            connection.disconnect()


class S13Connection(asyncio.Protocol):
    """One peer: CER first, then pipelined requests answered in order, in one write per read."""

    def __init__(self, node: S13Node) -> None:
        self.node = node
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.open = False  # capabilities exchanged
        self.peer_host = ""
        self.local_address = "127.0.0.1"
        self.heard = False  # anything received since the last watchdog tick
        self.dwr_outstanding = False
        self.timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        local = transport.get_extra_info("sockname")
        if local:
            self.local_address = local[0]
        self.node.connections.add(self)
        self.timer = asyncio.get_running_loop().call_later(self.node.watchdog_seconds, self.tick)
        log.info("Diameter connection from %s", transport.get_extra_info("peername"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.node.connections.discard(self)
        if self.open:
            PEERS.dec()
        log.info("Diameter peer %s disconnected", self.peer_host or "(before CER)")

    def pause_writing(self) -> None:  # the peer does not read its answers: stop reading
        assert self.transport is not None
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        assert self.transport is not None
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.heard = True
        self.dwr_outstanding = False
        buffer = self.buffer
        buffer += data
        answers: list[bytes] = []
        offset = 0
        closing = False
        try:
            while len(buffer) - offset >= d.HEADER_LENGTH:
                length = d.message_length(buffer, offset)
                if len(buffer) - offset < length:
                    break
                message = bytes(buffer[offset : offset + length])
                offset += length
                answer, closing = self.handle(message)
                if answer:
                    answers.append(answer)
                if closing:
                    break
        except d.FramingError as exc:
            log.warning("closing Diameter connection of %s: %s", self.peer_host or "?", exc)
            closing = True
        del buffer[:offset]
        assert self.transport is not None
        if answers:
            self.transport.write(b"".join(answers))
        if closing:
            self.transport.close()

    # --- messages -----------------------------------------------------------------------------

    def handle(self, data: bytes) -> tuple[bytes | None, bool]:
        """The answer to one message (None for an answer we receive), and whether to close."""
        version, flags, command, application, hop_by_hop, end_to_end = d.decode_header(data)
        request = bool(flags & d.FLAG_REQUEST)
        if not request:
            return None, False  # a DWA or DPA to our own request: hearing it was enough
        header = (command, flags & d.FLAG_PROXIABLE, application, hop_by_hop, end_to_end)
        if version != 1:
            return self.error(header, data, d.UNSUPPORTED_VERSION, "Diameter version 1 only"), True
        try:
            if command == d.ME_IDENTITY_CHECK and self.open:
                if application != d.APPLICATION_S13:
                    return self.error(
                        header,
                        data,
                        d.APPLICATION_UNSUPPORTED,
                        "ME-Identity-Check belongs to S13 (16777252)",
                    ), False
                return self.identity_check(header, d.decode_message(data)), False
            if command == d.CAPABILITIES_EXCHANGE:
                return self.capabilities_exchange(header, d.decode_message(data))
            if not self.open:
                log.warning("Diameter request %d before CER: refused", command)
                return self.error(
                    header, data, d.UNKNOWN_PEER, "capabilities exchange (CER) must come first"
                ), True
            if command == d.DEVICE_WATCHDOG:
                return self.answer(
                    header, d.avp_u32(d.RESULT_CODE, d.SUCCESS) + self.node.identity
                ), False
            if command == d.DISCONNECT_PEER:
                log.info("Diameter peer %s sent DPR", self.peer_host)
                return self.answer(
                    header, d.avp_u32(d.RESULT_CODE, d.SUCCESS) + self.node.identity
                ), True
            return self.error(
                header, data, d.COMMAND_UNSUPPORTED, f"command {command} is not supported"
            ), False
        except d.AvpError as exc:
            return self.error(header, data, exc.result_code, str(exc), exc.failed_avp), False

    def identity_check(self, header: tuple[int, int, int, int, int], message: d.Message) -> bytes:
        session = message.find(d.SESSION_ID)
        if session is None:
            raise d.AvpError(d.MISSING_AVP, d.avp_text(d.SESSION_ID, ""), "Session-Id missing")
        terminal = message.find(d.TERMINAL_INFORMATION, d.VENDOR_3GPP)
        if terminal is None:
            raise d.AvpError(
                d.MISSING_AVP,
                d.avp_grouped(d.TERMINAL_INFORMATION, vendor=d.VENDOR_3GPP),
                "Terminal-Information missing",
            )
        imei_avp = d.find(terminal.children(), d.IMEI, d.VENDOR_3GPP)
        if imei_avp is None:
            raise d.AvpError(
                d.MISSING_AVP,
                d.avp_grouped(
                    d.TERMINAL_INFORMATION,
                    d.avp_text(d.IMEI, "", vendor=d.VENDOR_3GPP),
                    vendor=d.VENDOR_3GPP,
                ),
                "IMEI missing in Terminal-Information",
            )
        imei = imei_avp.value
        # TS 29.272 §7.3.4: 14 or 15 digits; some MMEs send the IMEISV (16). The key is 14.
        if not (14 <= len(imei) <= 16 and imei.isdigit()):
            raise d.AvpError(
                d.INVALID_AVP_VALUE,
                d.avp_grouped(d.TERMINAL_INFORMATION, imei_avp.raw, vendor=d.VENDOR_3GPP),
                "IMEI must be 14 to 16 digits",
            )
        user_name = message.find(d.USER_NAME)
        imsi = user_name.value.decode("ascii", "replace") if user_name is not None else None
        status = self.node.status_of(imei.decode("ascii"), imsi)
        if status is None:
            _ANSWERED_UNKNOWN.inc()
            result = self.node.equipment_unknown
        else:
            _ANSWERED[status].inc()
            result = self.node.success + self.node.eca_tail[status]
        proxies = b"".join(a.raw for a in message.avps if a.code == d.PROXY_INFO)
        return self.answer(header, session.raw + result + proxies)

    def capabilities_exchange(
        self, header: tuple[int, int, int, int, int], message: d.Message
    ) -> tuple[bytes, bool]:
        origin = message.find(d.ORIGIN_HOST)
        if origin is None or message.find(d.ORIGIN_REALM) is None:
            missing = d.ORIGIN_HOST if origin is None else d.ORIGIN_REALM
            raise d.AvpError(d.MISSING_AVP, d.avp_text(missing, ""), "Origin-Host/Realm missing")
        host = origin.value.decode("utf-8", "replace")
        capabilities = self.node.capabilities(self.local_address)
        if self.node.peers is not None and host.lower() not in self.node.peers:
            log.warning("Diameter CER from unknown peer %s: refused", host)
            return self.answer(
                header, d.avp_u32(d.RESULT_CODE, d.UNKNOWN_PEER) + capabilities, error=True
            ), True
        applications = {a.u32() for a in message.find_all(d.AUTH_APPLICATION_ID)}
        for group in message.find_all(d.VENDOR_SPECIFIC_APPLICATION_ID):
            applications.update(
                a.u32() for a in group.children() if a.code == d.AUTH_APPLICATION_ID
            )
        if not applications & {d.APPLICATION_S13, d.APPLICATION_RELAY}:
            log.warning("Diameter CER from %s without S13: refused", host)
            return self.answer(
                header, d.avp_u32(d.RESULT_CODE, d.NO_COMMON_APPLICATION) + capabilities
            ), True
        if not self.open:
            PEERS.inc()
        self.open = True
        self.peer_host = host
        log.info("Diameter peer %s: capabilities exchanged", host)
        return self.answer(header, d.avp_u32(d.RESULT_CODE, d.SUCCESS) + capabilities), False

    def answer(
        self, header: tuple[int, int, int, int, int], body: bytes, *, error: bool = False
    ) -> bytes:
        command, proxiable, application, hop_by_hop, end_to_end = header
        flags = proxiable | (d.FLAG_ERROR if error else 0)
        return d.encode_message(command, flags, application, hop_by_hop, end_to_end, body)

    def error(
        self,
        header: tuple[int, int, int, int, int],
        request: bytes,
        result_code: int,
        text: str,
        failed_avp: bytes | None = None,
    ) -> bytes:
        """An answer-message (RFC 6733 §7.2); protocol errors (3xxx) carry the E bit."""
        _ANSWERED_ERROR.inc()
        session = b""
        with contextlib.suppress(d.AvpError):  # the request may be too broken to find it
            found = d.decode_message(request).find(d.SESSION_ID)
            session = found.raw if found is not None else b""
        body = (
            session
            + self.node.identity
            + d.avp_u32(d.RESULT_CODE, result_code)
            + d.avp_text(d.ERROR_MESSAGE, text, flags=0)
        )
        if failed_avp is not None:
            body += d.avp_grouped(d.FAILED_AVP, failed_avp)
        return self.answer(header, body, error=3000 <= result_code < 4000)

    # --- watchdog and disconnect --------------------------------------------------------------

    def tick(self) -> None:
        """Every Tw: a silent peer gets a DWR; one that stays silent, or never sent CER, goes."""
        assert self.transport is not None
        if not self.open or self.dwr_outstanding:
            log.warning("Diameter peer %s silent: closing", self.peer_host or "(before CER)")
            self.transport.close()
            return
        if not self.heard:
            self.transport.write(self.request(d.DEVICE_WATCHDOG, self.node.identity))
            self.dwr_outstanding = True
        self.heard = False
        self.timer = asyncio.get_running_loop().call_later(self.node.watchdog_seconds, self.tick)

    def request(self, command: int, body: bytes) -> bytes:
        identifier = next(_hop_by_hop) & 0xFFFFFFFF
        return d.encode_message(
            command, d.FLAG_REQUEST, d.APPLICATION_BASE, identifier, identifier, body
        )

    def disconnect(self) -> None:
        """Tell the peer we are going (DPR, Disconnect-Cause REBOOTING) and close."""
        assert self.transport is not None
        if self.open:
            self.transport.write(
                self.request(
                    d.DISCONNECT_PEER,
                    self.node.identity + d.avp_u32(d.DISCONNECT_CAUSE, d.DISCONNECT_REBOOTING),
                )
            )
        self.transport.close()


def default_identity() -> tuple[str, str]:
    """Origin-Host (this machine's FQDN) and Origin-Realm (its domain) when none is configured."""
    host = socket.getfqdn()
    return host, host.partition(".")[2] or host


async def start_diameter_server(
    host: str,
    port: int,
    holder_factory: Callable[[], IndexHolder],
    settings: Settings,
    *,
    origin_host: str | None = None,
    origin_realm: str | None = None,
    peers: Collection[str] | None = None,
    watchdog_seconds: float = WATCHDOG_SECONDS,
) -> tuple[asyncio.Server, S13Node]:
    """Listen (port 0 picks a free one); the caller serves and closes. See `serve_diameter`."""
    fallback_host, fallback_realm = default_identity()
    node = S13Node(
        holder_factory,
        settings,
        origin_host=origin_host or fallback_host,
        origin_realm=origin_realm or fallback_realm,
        peers=peers,
        watchdog_seconds=watchdog_seconds,
    )
    server = await asyncio.get_running_loop().create_server(
        lambda: S13Connection(node), host, port, reuse_address=True
    )
    return server, node


async def serve_diameter(
    host: str,
    port: int,
    holder_factory: Callable[[], IndexHolder],
    settings: Settings,
    *,
    origin_host: str | None = None,
    origin_realm: str | None = None,
    peers: Collection[str] | None = None,
) -> None:
    """Serve S13 on TCP `host:port` until cancelled; then send DPR to every peer and close.

    `peers`: the Origin-Hosts allowed to connect (None: any that passes the firewall).
    """
    server, node = await start_diameter_server(
        host,
        port,
        holder_factory,
        settings,
        origin_host=origin_host,
        origin_realm=origin_realm,
        peers=peers,
    )
    log.info(
        "Diameter S13 listening on %s:%d as %s (realm %s)",
        host,
        port,
        node.origin_host,
        node.origin_realm,
    )
    try:
        await server.serve_forever()
    finally:
        node.disconnect_all()  # before waiting: Python 3.12 waits for connections to close
        server.close()
        await server.wait_closed()
