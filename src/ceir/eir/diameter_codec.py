"""The Diameter wire format (RFC 6733 §3, §4): message header and AVPs, and the codes S13 uses."""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

HEADER_LENGTH = 20
# ECRs are a few hundred bytes; a longer "message" is garbage or an attack, and its framing is lost.
MAX_MESSAGE_LENGTH = 65_536

# Header flags (the byte after the version and length).
FLAG_REQUEST = 0x80
FLAG_PROXIABLE = 0x40
FLAG_ERROR = 0x20
FLAG_RETRANSMITTED = 0x10

# AVP flags.
AVP_VENDOR = 0x80
AVP_MANDATORY = 0x40

VENDOR_3GPP = 10415
APPLICATION_BASE = 0
APPLICATION_S13 = 16777252
APPLICATION_RELAY = 0xFFFFFFFF

# Command codes.
CAPABILITIES_EXCHANGE = 257
DEVICE_WATCHDOG = 280
DISCONNECT_PEER = 282
ME_IDENTITY_CHECK = 324

# AVP codes (vendor 0 unless noted).
USER_NAME = 1
HOST_IP_ADDRESS = 257
AUTH_APPLICATION_ID = 258
ACCT_APPLICATION_ID = 259
VENDOR_SPECIFIC_APPLICATION_ID = 260
SESSION_ID = 263
ORIGIN_HOST = 264
SUPPORTED_VENDOR_ID = 265
VENDOR_ID = 266
FIRMWARE_REVISION = 267
RESULT_CODE = 268
PRODUCT_NAME = 269
DISCONNECT_CAUSE = 273
AUTH_SESSION_STATE = 277
ORIGIN_STATE_ID = 278
FAILED_AVP = 279
ERROR_MESSAGE = 281
PROXY_INFO = 284
DESTINATION_REALM = 283
DESTINATION_HOST = 293
ORIGIN_REALM = 296
EXPERIMENTAL_RESULT = 297
EXPERIMENTAL_RESULT_CODE = 298
TERMINAL_INFORMATION = 1401  # 3GPP
IMEI = 1402  # 3GPP
SOFTWARE_VERSION = 1403  # 3GPP
EQUIPMENT_STATUS = 1445  # 3GPP

NO_STATE_MAINTAINED = 1  # Auth-Session-State
DISCONNECT_REBOOTING = 0  # Disconnect-Cause

# Result codes (RFC 6733 §7.1, 3GPP TS 29.272 §7.4).
SUCCESS = 2001
COMMAND_UNSUPPORTED = 3001  # protocol errors (3xxx) go out with the E bit set
APPLICATION_UNSUPPORTED = 3007
UNKNOWN_PEER = 3010
AVP_UNSUPPORTED = 5001
INVALID_AVP_VALUE = 5004
MISSING_AVP = 5005
NO_COMMON_APPLICATION = 5010
UNSUPPORTED_VERSION = 5011
UNABLE_TO_COMPLY = 5012
INVALID_AVP_LENGTH = 5014
ERROR_EQUIPMENT_UNKNOWN = 5422  # Experimental-Result-Code, vendor 3GPP

_HEADER = struct.Struct(">IIIII")
_AVP_HEADER = struct.Struct(">II")
_U32 = struct.Struct(">I")


class Avp(NamedTuple):
    """One AVP as received: its value undecoded, and its whole encoding for Failed-AVP."""

    code: int
    flags: int
    vendor: int
    value: bytes
    raw: bytes

    def text(self) -> str:
        return self.value.decode("utf-8")

    def u32(self) -> int:
        if len(self.value) != 4:
            raise AvpError(INVALID_AVP_LENGTH, self.raw, f"AVP {self.code} is not 4 bytes long")
        return int(_U32.unpack(self.value)[0])

    def children(self) -> list[Avp]:
        return decode_avps(self.value)


class Message(NamedTuple):
    command: int
    flags: int
    application: int
    hop_by_hop: int
    end_to_end: int
    avps: list[Avp]

    @property
    def is_request(self) -> bool:
        return bool(self.flags & FLAG_REQUEST)

    def find(self, code: int, vendor: int = 0) -> Avp | None:
        return find(self.avps, code, vendor)

    def find_all(self, code: int, vendor: int = 0) -> list[Avp]:
        return [a for a in self.avps if a.code == code and a.vendor == vendor]


class AvpError(Exception):
    """A request the peer must be told is wrong: a result code and the AVP at fault."""

    def __init__(self, result_code: int, failed_avp: bytes | None, text: str) -> None:
        super().__init__(text)
        self.result_code = result_code
        self.failed_avp = failed_avp


class FramingError(Exception):
    """The byte stream cannot be cut into messages any more: the connection must close."""


def find(avps: list[Avp], code: int, vendor: int = 0) -> Avp | None:
    for avp in avps:
        if avp.code == code and avp.vendor == vendor:
            return avp
    return None


# --- decoding ---------------------------------------------------------------------------------


def message_length(buffer: bytes | bytearray, offset: int = 0) -> int:
    """Length of the message starting at `offset` (its header must be there); checks framing."""
    first = _U32.unpack_from(buffer, offset)[0]
    length = int(first & 0xFFFFFF)
    if length < HEADER_LENGTH or length % 4 or length > MAX_MESSAGE_LENGTH:
        raise FramingError(f"message length {length} is not a Diameter message length")
    return length


def decode_header(data: bytes) -> tuple[int, int, int, int, int, int]:
    """(version, flags, command, application, hop-by-hop, end-to-end) of one whole message."""
    first, second, application, hop_by_hop, end_to_end = _HEADER.unpack_from(data)
    return first >> 24, second >> 24, second & 0xFFFFFF, application, hop_by_hop, end_to_end


def decode_message(data: bytes) -> Message:
    """One whole message (as framed by `message_length`); AvpError when an AVP is broken."""
    _version, flags, command, application, hop_by_hop, end_to_end = decode_header(data)
    return Message(
        command, flags, application, hop_by_hop, end_to_end, decode_avps(data, HEADER_LENGTH)
    )


def decode_avps(data: bytes, start: int = 0) -> list[Avp]:
    avps = []
    end = len(data)
    position = start
    unpack_header = _AVP_HEADER.unpack_from
    while position < end:
        if end - position < 8:
            raise AvpError(INVALID_AVP_LENGTH, None, "trailing bytes shorter than an AVP header")
        code, flags_length = unpack_header(data, position)
        flags = flags_length >> 24
        length = flags_length & 0xFFFFFF
        header = 12 if flags & AVP_VENDOR else 8
        if length < header or position + length > end:
            vendor = (
                _U32.unpack_from(data, position + 8)[0]
                if header == 12 and (end - position >= 12)
                else 0
            )
            raise AvpError(
                INVALID_AVP_LENGTH,
                avp(code, b"\0\0\0\0", vendor=vendor, flags=flags),
                f"AVP {code} has an invalid length {length}",
            )
        vendor = _U32.unpack_from(data, position + 8)[0] if header == 12 else 0
        padded = position + length + (-length % 4)
        avps.append(
            Avp(
                code,
                flags,
                vendor,
                bytes(data[position + header : position + length]),
                bytes(data[position : min(padded, end)]),
            )
        )
        position = padded
    return avps


# --- encoding ---------------------------------------------------------------------------------


def avp(code: int, value: bytes, *, vendor: int = 0, flags: int = AVP_MANDATORY) -> bytes:
    """One AVP, padded to a multiple of four bytes."""
    if vendor:
        flags |= AVP_VENDOR
        head = _AVP_HEADER.pack(code, (flags << 24) | (12 + len(value))) + _U32.pack(vendor)
    else:
        flags &= ~AVP_VENDOR
        head = _AVP_HEADER.pack(code, (flags << 24) | (8 + len(value)))
    return head + value + b"\0" * (-len(value) % 4)


def avp_u32(code: int, value: int, *, vendor: int = 0, flags: int = AVP_MANDATORY) -> bytes:
    return avp(code, _U32.pack(value), vendor=vendor, flags=flags)


def avp_text(
    code: int, value: str | bytes, *, vendor: int = 0, flags: int = AVP_MANDATORY
) -> bytes:
    return avp(
        code, value.encode() if isinstance(value, str) else value, vendor=vendor, flags=flags
    )


def avp_address(code: int, address: str) -> bytes:
    parsed = ipaddress.ip_address(address)
    family = b"\0\x01" if parsed.version == 4 else b"\0\x02"
    return avp(code, family + parsed.packed)


def avp_grouped(code: int, *members: bytes, vendor: int = 0) -> bytes:
    return avp(code, b"".join(members), vendor=vendor)


def decode_address(value: bytes) -> str:
    if len(value) == 6 and value[:2] == b"\0\x01":
        return str(ipaddress.IPv4Address(value[2:]))
    if len(value) == 18 and value[:2] == b"\0\x02":
        return str(ipaddress.IPv6Address(value[2:]))
    raise ValueError(f"not an IPv4 or IPv6 Address AVP value: {value.hex()}")


def encode_message(
    command: int, flags: int, application: int, hop_by_hop: int, end_to_end: int, body: bytes
) -> bytes:
    length = HEADER_LENGTH + len(body)
    return (
        _HEADER.pack(
            (1 << 24) | length, (flags << 24) | command, application, hop_by_hop, end_to_end
        )
        + body
    )


def vendor_specific_s13() -> bytes:
    """Vendor-Specific-Application-Id {Vendor-Id 3GPP, Auth-Application-Id S13}."""
    return avp_grouped(
        VENDOR_SPECIFIC_APPLICATION_ID,
        avp_u32(VENDOR_ID, VENDOR_3GPP),
        avp_u32(AUTH_APPLICATION_ID, APPLICATION_S13),
    )
