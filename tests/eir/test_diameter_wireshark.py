"""S13 on the wire, judged by Wireshark: ceir's Diameter captured live on lo and decoded by tshark.

Wireshark's Diameter dissector (with its 3GPP dictionary) shares no code with ceir's codec: a
field it decodes as ceir meant it, with no malformed packet and no unknown AVP, is evidence that
an MME's stack will read it too.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from ceir.config import Settings
from ceir.eir import diameter_codec as d
from ceir.eir.diameter import start_diameter_server
from ceir.eir.diameter_client import DiameterClient, equipment_status, result_code
from ceir.eir.index import DeviceCode, IndexHolder, make_index
from tests.factories import make_imei
from tests.tshark import Frame, complaints, decode, live_capture, require_tshark

HOME_IMSI, FOREIGN_IMSI = "401021234567890", "250011234567890"
ALLOWED, STOLEN, UNREGISTERED = (make_imei("35693803", n) for n in (1, 2, 3))
NEVER_SEEN = make_imei("35693803", 999)
FIELDS = [
    "diameter.cmd.code",
    "diameter.flags.request",
    "diameter.applicationId",
    "diameter.hopbyhopid",
    "diameter.Session-Id",
    "diameter.Origin-Host",
    "diameter.IMEI",
    "diameter.Software-Version",
    "diameter.User-Name",
    "diameter.Result-Code",
    "diameter.Experimental-Result-Code",
    "diameter.Equipment-Status",
]


def _holder() -> IndexHolder:
    codes = {ALLOWED: DeviceCode.ALLOWED, STOLEN: DeviceCode.STOLEN}
    codes[UNREGISTERED] = DeviceCode.BLOCKED_UNREGISTERED
    keys = np.array([int(imei[:14]) for imei in codes], dtype=np.int64)
    return IndexHolder(
        make_index(keys, np.array([int(c) for c in codes.values()], np.uint8), journal_id=0)
    )


def _exchange(
    tmp_path: Path, talk: object, settings: Settings | None = None
) -> tuple[list[tuple[bytes, d.Message]], Path, int]:
    """Start the EIR on a free port, capture it, let `talk(client)` speak; (request, answer)s."""
    require_tshark()
    pcap = tmp_path / "s13.pcap"
    holder = _holder()
    seen: list[tuple[bytes, d.Message]] = []
    port_box: list[int] = []

    async def main() -> None:
        server, _node = await start_diameter_server(
            "127.0.0.1",
            0,
            lambda: holder,
            settings or Settings(),
            origin_host="eir.ceir.test",
            origin_realm="ceir.test",
        )
        port = server.sockets[0].getsockname()[1]
        port_box.append(port)
        with live_capture(port, pcap):
            client = await DiameterClient.connect("127.0.0.1", port, exchange=True)
            try:
                await asyncio.wait_for(talk(client, seen), timeout=20)  # type: ignore[operator]
            finally:
                await client.close()
                server.close()
                await server.wait_closed()

    asyncio.run(main())
    return seen, pcap, port_box[0]


def _by_hop_by_hop(frames: list[Frame]) -> tuple[dict[str | None, Frame], dict[str | None, Frame]]:
    """The decoded requests and answers, each by its Hop-by-Hop Identifier."""
    decoded = [f for f in frames if f.fields["diameter.cmd.code"]]
    requests = {
        f.first("diameter.hopbyhopid"): f
        for f in decoded
        if f.first("diameter.flags.request") == "1"
    }
    answers = {
        f.first("diameter.hopbyhopid"): f
        for f in decoded
        if f.first("diameter.flags.request") == "0"
    }
    return requests, answers


async def _checks(client: DiameterClient, seen: list[tuple[bytes, d.Message]]) -> None:
    for imei, imsi, software in [
        (ALLOWED, HOME_IMSI, "01"),
        (STOLEN, FOREIGN_IMSI, "17"),
        (UNREGISTERED, HOME_IMSI, None),
        (UNREGISTERED[:14], None, "03"),
        (NEVER_SEEN, HOME_IMSI, "01"),
    ]:
        request = client.identity_check_request(imei, imsi, software)
        seen.append((request, d.decode_message(await client.send(request))))
    watchdog = client.encode(d.DEVICE_WATCHDOG, client.identity())
    seen.append((watchdog, d.decode_message(await client.send(watchdog))))


def test_wireshark_decodes_ceirs_s13_answers_as_ceir_meant_them(tmp_path: Path) -> None:
    seen, pcap, port = _exchange(tmp_path, _checks)
    frames = decode(pcap, port, "diameter", FIELDS)
    messages = sum(len(f.fields["diameter.cmd.code"]) for f in frames)
    assert messages == 2 + 2 * len(seen), "the capture lacks messages"  # with CER and CEA
    assert complaints(frames, "diameter.cmd.code") == []

    requests, answers = _by_hop_by_hop(frames)
    assert len(answers) == len(seen) + 1  # and the capabilities exchange
    for raw, answer in seen:
        request = d.decode_message(raw)
        hop = f"0x{request.hop_by_hop:08x}"
        theirs = answers[hop]
        assert theirs.first("diameter.cmd.code") == str(request.command)
        assert theirs.first("diameter.Result-Code") == (
            str(result_code(answer)) if result_code(answer) is not None else None
        )
        status = equipment_status(answer)
        assert theirs.first("diameter.Equipment-Status") == (
            str(status) if status is not None else None
        )
        if request.command == d.ME_IDENTITY_CHECK:
            assert theirs.first("diameter.applicationId") == str(d.APPLICATION_S13)
            assert theirs.first("diameter.Session-Id") == requests[hop].first("diameter.Session-Id")
            assert theirs.first("diameter.Origin-Host") == "eir.ceir.test"
    # What ceir's own client read is what Wireshark read: the verdicts of TS 29.272 §7.3.51.
    statuses = [answers[f"0x{d.decode_message(r).hop_by_hop:08x}"] for r, _a in seen[:5]]
    assert [f.first("diameter.Equipment-Status") for f in statuses] == ["0", "1", "1", "1", "2"]
    assert {f.first("diameter.Result-Code") for f in statuses} == {"2001"}
    hops = [f"0x{d.decode_message(r).hop_by_hop:08x}" for r, _a in seen[:5]]
    imeis = [requests[hop].first("diameter.IMEI") for hop in hops]
    assert imeis == [ALLOWED, STOLEN, UNREGISTERED, UNREGISTERED[:14], NEVER_SEEN]


def test_wireshark_decodes_the_equipment_unknown_answer(tmp_path: Path) -> None:
    async def talk(client: DiameterClient, seen: list[tuple[bytes, d.Message]]) -> None:
        request = client.identity_check_request(NEVER_SEEN, HOME_IMSI)
        seen.append((request, d.decode_message(await client.send(request))))

    _seen, pcap, port = _exchange(tmp_path, talk, Settings(eir_unknown_equipment="not_found"))
    frames = decode(pcap, port, "diameter", FIELDS)
    assert complaints(frames, "diameter.cmd.code") == []
    _requests, answers = _by_hop_by_hop(frames)
    (answer,) = [f for f in answers.values() if f.first("diameter.cmd.code") == "324"]
    assert answer.first("diameter.Experimental-Result-Code") == str(d.ERROR_EQUIPMENT_UNKNOWN)
    assert answer.first("diameter.Result-Code") is None
    assert answer.first("diameter.Equipment-Status") is None


def test_the_judge_can_object_an_avp_wireshark_does_not_know_is_reported(tmp_path: Path) -> None:
    # The same check with one AVP no dictionary has: Wireshark must say so, or its silence
    # above would prove nothing.
    async def talk(client: DiameterClient, seen: list[tuple[bytes, d.Message]]) -> None:
        request = bytearray(client.identity_check_request(ALLOWED, HOME_IMSI))
        extra = d.avp_text(4_000_001, "odd", flags=0)
        request += extra
        request[1:4] = len(request).to_bytes(3, "big")
        seen.append((bytes(request), d.decode_message(await client.send(bytes(request)))))

    _seen, pcap, port = _exchange(tmp_path, talk)
    found = complaints(decode(pcap, port, "diameter", FIELDS), "diameter.cmd.code")
    assert any("nknown" in message for message in found), found
