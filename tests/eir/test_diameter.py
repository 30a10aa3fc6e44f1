"""Diameter S13: a real client over 127.0.0.1 asks the EIR, and every answer's AVPs are checked."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import numpy as np
import pytest
from sqlalchemy.orm import Session

from ceir.config import Settings
from ceir.eir import diameter_codec as d
from ceir.eir import journal
from ceir.eir.diameter import serve_diameter, start_diameter_server
from ceir.eir.diameter_client import DiameterClient, equipment_status, result_code
from ceir.eir.index import DeviceCode, IndexHolder, make_index
from ceir.eir.snapshots import build_from_database
from ceir.network.models import DeviceState
from tests.factories import make_imei, register_device

WHITELISTED, BLACKLISTED, GREYLISTED = 0, 1, 2
HOME_IMSI = "401021234567890"  # Kcell
FOREIGN_IMSI = "250011234567890"  # a Russian SIM: a roamer

IMEIS = {code: make_imei("35693803", int(code)) for code in DeviceCode}
NEVER_SEEN = make_imei("35693803", 999)
EIR_HOST, EIR_REALM = "eir.ceir.test", "ceir.test"

Scenario = Callable[[DiameterClient, int], Awaitable[None]]


def small_holder() -> IndexHolder:
    keys = np.array([int(imei[:14]) for imei in IMEIS.values()], dtype=np.int64)
    codes = np.array([int(code) for code in IMEIS], dtype=np.uint8)
    return IndexHolder(make_index(keys, codes, journal_id=0))


def run(
    scenario: Scenario,
    *,
    holder: IndexHolder | None = None,
    settings: Settings | None = None,
    exchange: bool = True,
    peers: list[str] | None = None,
    watchdog_seconds: float = 30.0,
) -> None:
    """Start the EIR on a free port of 127.0.0.1, connect a client, play the scenario, stop."""
    holder = holder or small_holder()

    async def main() -> None:
        server, _node = await start_diameter_server(
            "127.0.0.1",
            0,
            lambda: holder,
            settings or Settings(),
            origin_host=EIR_HOST,
            origin_realm=EIR_REALM,
            peers=peers,
            watchdog_seconds=watchdog_seconds,
        )
        port = server.sockets[0].getsockname()[1]
        client = await DiameterClient.connect("127.0.0.1", port, exchange=exchange)
        try:
            await asyncio.wait_for(scenario(client, port), timeout=10)
        finally:
            await client.close()
            server.close()
            await server.wait_closed()

    asyncio.run(main())


def check(
    imei: str, imsi: str | None = HOME_IMSI, *, settings: Settings | None = None
) -> d.Message:
    answers: list[d.Message] = []

    async def scenario(client: DiameterClient, _port: int) -> None:
        answers.append(await client.identity_check(imei, imsi))

    run(scenario, settings=settings)
    return answers[0]


def failed_avps(answer: d.Message) -> list[d.Avp]:
    failed = answer.find(d.FAILED_AVP)
    assert failed is not None
    return failed.children()


# --- ME-Identity-Check: the verdicts --------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (DeviceCode.ALLOWED, WHITELISTED),
        (DeviceCode.NOTIFIED, GREYLISTED),
        (DeviceCode.UNDER_APPEAL, GREYLISTED),
        (DeviceCode.BLOCKED_UNREGISTERED, BLACKLISTED),
        (DeviceCode.BLOCKED, BLACKLISTED),
        (DeviceCode.STOLEN, BLACKLISTED),
    ],
)
def test_equipment_status_follows_the_index_for_a_home_subscriber(
    code: DeviceCode, status: int
) -> None:
    answer = check(IMEIS[code])
    assert result_code(answer) == d.SUCCESS
    assert equipment_status(answer) == status


def test_answer_carries_the_session_identity_and_s13_header() -> None:
    sent: list[bytes] = []
    answers: list[d.Message] = []

    async def scenario(client: DiameterClient, _port: int) -> None:
        request = client.identity_check_request(IMEIS[DeviceCode.ALLOWED], HOME_IMSI)
        sent.append(request)
        answers.append(d.decode_message(await client.send(request)))

    run(scenario)
    request, answer = d.decode_message(sent[0]), answers[0]
    assert answer.command == d.ME_IDENTITY_CHECK
    assert answer.application == d.APPLICATION_S13
    assert not answer.is_request
    assert answer.flags & d.FLAG_PROXIABLE and not answer.flags & d.FLAG_ERROR
    assert (answer.hop_by_hop, answer.end_to_end) == (request.hop_by_hop, request.end_to_end)
    assert answer.avps[0].code == d.SESSION_ID  # RFC 6733 §8.8: Session-Id comes first
    assert answer.avps[0].value == request.find(d.SESSION_ID).value  # type: ignore[union-attr]
    assert answer.find(d.AUTH_SESSION_STATE).u32() == d.NO_STATE_MAINTAINED  # type: ignore[union-attr]
    assert answer.find(d.ORIGIN_HOST).text() == EIR_HOST  # type: ignore[union-attr]
    assert answer.find(d.ORIGIN_REALM).text() == EIR_REALM  # type: ignore[union-attr]
    status = answer.find(d.EQUIPMENT_STATUS, d.VENDOR_3GPP)
    assert status is not None and status.flags & d.AVP_VENDOR and status.flags & d.AVP_MANDATORY
    assert answer.find(d.EXPERIMENTAL_RESULT) is None


@pytest.mark.parametrize(
    "imei",
    [IMEIS[DeviceCode.STOLEN][:14], IMEIS[DeviceCode.STOLEN], IMEIS[DeviceCode.STOLEN][:14] + "07"],
    ids=["14 digits", "15 digits", "IMEISV"],
)
def test_imei_of_14_15_or_16_digits_finds_the_same_device(imei: str) -> None:
    assert equipment_status(check(imei)) == BLACKLISTED


def test_roamer_is_not_blacklisted_for_an_unregistered_device() -> None:
    answer = check(IMEIS[DeviceCode.BLOCKED_UNREGISTERED], FOREIGN_IMSI)
    assert equipment_status(answer) == WHITELISTED


def test_roamer_with_a_stolen_device_is_blacklisted() -> None:
    assert equipment_status(check(IMEIS[DeviceCode.STOLEN], FOREIGN_IMSI)) == BLACKLISTED


def test_request_without_user_name_counts_as_a_home_subscriber() -> None:
    answer = check(IMEIS[DeviceCode.BLOCKED_UNREGISTERED], None)
    assert equipment_status(answer) == BLACKLISTED


def test_unknown_equipment_is_greylisted_by_default() -> None:
    answer = check(NEVER_SEEN)
    assert result_code(answer) == d.SUCCESS
    assert equipment_status(answer) == GREYLISTED


def test_unknown_equipment_answers_equipment_unknown_when_so_configured() -> None:
    answer = check(NEVER_SEEN, settings=Settings(eir_unknown_equipment="not_found"))
    assert answer.find(d.RESULT_CODE) is None
    assert equipment_status(answer) is None
    experimental = answer.find(d.EXPERIMENTAL_RESULT)
    assert experimental is not None
    members = {a.code: a.u32() for a in experimental.children()}
    assert members == {d.VENDOR_ID: d.VENDOR_3GPP, d.EXPERIMENTAL_RESULT_CODE: 5422}
    assert not answer.flags & d.FLAG_ERROR  # a permanent failure, not a protocol error


def test_pipelined_requests_are_all_answered_and_matched() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        order = [IMEIS[code] for code in DeviceCode] * 50
        answers = await asyncio.gather(*(client.identity_check(imei) for imei in order))
        expected = [WHITELISTED, GREYLISTED, GREYLISTED, BLACKLISTED, BLACKLISTED, BLACKLISTED]
        assert [equipment_status(a) for a in answers] == expected * 50

    run(scenario)


def test_request_encoded_by_an_independent_stack_is_understood() -> None:
    # An ECR as python-diameter 0.9.0 encodes it (IMEI 35693803564380, Kcell IMSI), kept verbatim.
    foreign_ecr = bytes.fromhex(
        "010000dcc000014401000024000000010000000200000107400000186d6d65312e6578616d706c653b313b32"
        "00000104400000200000010a4000000c000028af000001024000000c01000024000001154000000c00000001"
        "00000108400000146d6d65312e6578616d706c65000001284000000f6578616d706c65000000011b4000000e"
        "6569722e6b7a000000000579c0000038000028af0000057ac000001a000028af333536393338303335363433"
        "383000000000057bc000000e000028af30310000000000014000001734303130323132333435363738393000"
    )
    keys = np.array([35693803564380], dtype=np.int64)
    holder = IndexHolder(make_index(keys, np.array([DeviceCode.STOLEN], np.uint8), journal_id=0))
    answers: list[d.Message] = []

    async def scenario(client: DiameterClient, _port: int) -> None:
        answers.append(d.decode_message(await client.send(foreign_ecr)))

    run(scenario, holder=holder)
    assert answers[0].find(d.SESSION_ID).text() == "mme1.example;1;2"  # type: ignore[union-attr]
    assert (answers[0].hop_by_hop, answers[0].end_to_end) == (1, 2)
    assert equipment_status(answers[0]) == BLACKLISTED


# --- malformed requests ---------------------------------------------------------------------


def test_malformed_imei_is_refused_with_the_avp_at_fault() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        answer = await client.identity_check("35693803ABCDEF", HOME_IMSI)
        assert result_code(answer) == d.INVALID_AVP_VALUE
        assert not answer.flags & d.FLAG_ERROR
        assert answer.find(d.SESSION_ID) is not None
        (terminal,) = failed_avps(answer)
        assert terminal.code == d.TERMINAL_INFORMATION
        assert [(a.code, a.value) for a in terminal.children()] == [(d.IMEI, b"35693803ABCDEF")]
        # The connection stays usable.
        assert equipment_status(await client.identity_check(IMEIS[DeviceCode.ALLOWED])) == 0

    run(scenario)


@pytest.mark.parametrize("imei", ["", "3569380356438", "35693803564380123"])
def test_imei_of_a_wrong_length_is_an_invalid_value(imei: str) -> None:
    assert result_code(check(imei)) == d.INVALID_AVP_VALUE


def test_request_without_terminal_information_is_missing_an_avp() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        body = (
            d.avp_text(d.SESSION_ID, "mme;1")
            + client.identity()
            + d.avp_u32(d.AUTH_SESSION_STATE, 1)
            + d.avp_text(d.DESTINATION_REALM, EIR_REALM)
        )
        answer = await client.request(d.ME_IDENTITY_CHECK, body, application=d.APPLICATION_S13)
        assert result_code(answer) == d.MISSING_AVP
        assert failed_avps(answer)[0].code == d.TERMINAL_INFORMATION

    run(scenario)


def test_avp_longer_than_its_message_is_an_invalid_avp_length() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        broken = d.avp_text(d.SESSION_ID, "mme;1") + bytes.fromhex("00000001400000ff") + b"4010"
        answer = await client.request(d.ME_IDENTITY_CHECK, broken, application=d.APPLICATION_S13)
        assert result_code(answer) == d.INVALID_AVP_LENGTH
        assert failed_avps(answer)[0].code == d.USER_NAME

    run(scenario)


def test_a_message_length_that_breaks_framing_closes_the_connection() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        assert client.transport is not None
        client.transport.write(bytes.fromhex("01000017") + bytes(16))  # 23: not a multiple of 4
        await client.closed

    run(scenario)


def test_unsupported_version_is_answered_then_the_connection_closes() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        request = bytearray(client.encode(d.DEVICE_WATCHDOG, client.identity()))
        request[0] = 2
        answer = d.decode_message(await client.send(bytes(request)))
        assert result_code(answer) == d.UNSUPPORTED_VERSION
        await client.closed

    run(scenario)


# --- base protocol: capabilities, watchdog, errors, disconnect ------------------------------


def test_capabilities_exchange_announces_s13_for_3gpp() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        answer = await client.capabilities_exchange()
        assert answer.command == d.CAPABILITIES_EXCHANGE and not answer.is_request
        assert result_code(answer) == d.SUCCESS
        assert answer.find(d.ORIGIN_HOST).text() == EIR_HOST  # type: ignore[union-attr]
        assert answer.find(d.ORIGIN_REALM).text() == EIR_REALM  # type: ignore[union-attr]
        address = answer.find(d.HOST_IP_ADDRESS)
        assert address is not None and d.decode_address(address.value) == "127.0.0.1"
        assert answer.find(d.PRODUCT_NAME).text() == "ceir"  # type: ignore[union-attr]
        assert answer.find(d.VENDOR_ID) is not None
        assert answer.find(d.SUPPORTED_VENDOR_ID).u32() == d.VENDOR_3GPP  # type: ignore[union-attr]
        assert answer.find(d.AUTH_APPLICATION_ID).u32() == d.APPLICATION_S13  # type: ignore[union-attr]
        group = answer.find(d.VENDOR_SPECIFIC_APPLICATION_ID)
        assert group is not None
        assert {(a.code, a.u32()) for a in group.children()} == {
            (d.VENDOR_ID, d.VENDOR_3GPP),
            (d.AUTH_APPLICATION_ID, d.APPLICATION_S13),
        }

    run(scenario, exchange=False)


def test_capabilities_exchange_without_s13_is_refused_and_closed() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        body = (
            client.identity()
            + d.avp_address(d.HOST_IP_ADDRESS, "127.0.0.1")
            + d.avp_u32(d.VENDOR_ID, 0)
            + d.avp_text(d.PRODUCT_NAME, "gy", flags=0)
            + d.avp_u32(d.AUTH_APPLICATION_ID, 4)
        )  # Gy credit control only
        answer = await client.request(d.CAPABILITIES_EXCHANGE, body)
        assert result_code(answer) == d.NO_COMMON_APPLICATION
        await client.closed

    run(scenario, exchange=False)


def test_peer_outside_the_configured_list_is_refused() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        answer = await client.capabilities_exchange()
        assert result_code(answer) == d.UNKNOWN_PEER
        assert answer.flags & d.FLAG_ERROR
        await client.closed

    run(scenario, exchange=False, peers=["mme9.epc.test"])


def test_peer_in_the_configured_list_is_accepted() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        assert equipment_status(await client.identity_check(IMEIS[DeviceCode.ALLOWED])) == 0

    run(scenario, peers=["MME1.epc.test"])


def test_request_before_capabilities_exchange_is_refused_and_closed() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        answer = await client.identity_check(IMEIS[DeviceCode.ALLOWED], HOME_IMSI)
        assert result_code(answer) == d.UNKNOWN_PEER
        assert answer.flags & d.FLAG_ERROR
        assert equipment_status(answer) is None
        await client.closed

    run(scenario, exchange=False)


def test_device_watchdog_is_answered() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        answer = await client.request(d.DEVICE_WATCHDOG, client.identity())
        assert answer.command == d.DEVICE_WATCHDOG and not answer.is_request
        assert result_code(answer) == d.SUCCESS
        assert answer.find(d.ORIGIN_HOST).text() == EIR_HOST  # type: ignore[union-attr]

    run(scenario)


def test_silent_peer_gets_a_watchdog_request() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        request = await client.server_requests.get()
        assert request.command == d.DEVICE_WATCHDOG and request.is_request
        assert request.find(d.ORIGIN_HOST).text() == EIR_HOST  # type: ignore[union-attr]
        # The client answered it, so the connection stays; a second one follows.
        assert (await client.server_requests.get()).command == d.DEVICE_WATCHDOG
        assert not client.closed.done()

    run(scenario, watchdog_seconds=0.05)


def test_peer_that_ignores_the_watchdog_is_dropped() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        client.answer_watchdog = False
        await client.closed

    run(scenario, watchdog_seconds=0.05)


def test_unsupported_command_is_a_protocol_error_and_the_connection_stays() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        answer = await client.request(316, client.identity(), application=d.APPLICATION_S13)
        assert answer.command == 316
        assert answer.flags & d.FLAG_ERROR
        assert result_code(answer) == d.COMMAND_UNSUPPORTED
        assert answer.find(d.ORIGIN_HOST) is not None
        assert equipment_status(await client.identity_check(IMEIS[DeviceCode.ALLOWED])) == 0

    run(scenario)


def test_identity_check_outside_the_s13_application_is_unsupported() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        answer = await client.request(
            d.ME_IDENTITY_CHECK, d.avp_text(d.SESSION_ID, "x;1"), application=16777251
        )  # S6a
        assert result_code(answer) == d.APPLICATION_UNSUPPORTED
        assert answer.flags & d.FLAG_ERROR

    run(scenario)


def test_disconnect_peer_is_answered_then_the_connection_closes() -> None:
    async def scenario(client: DiameterClient, _port: int) -> None:
        answer = await client.request(
            d.DISCONNECT_PEER, client.identity() + d.avp_u32(d.DISCONNECT_CAUSE, 0)
        )
        assert answer.command == d.DISCONNECT_PEER and result_code(answer) == d.SUCCESS
        await client.closed

    run(scenario)


def test_stopping_the_server_sends_disconnect_peer_to_every_peer() -> None:
    async def main() -> None:
        holder = small_holder()
        server, _ = await start_diameter_server("127.0.0.1", 0, lambda: holder, Settings())
        port = server.sockets[0].getsockname()[1]
        server.close()  # only to learn a free port; serve_diameter listens on it again
        await server.wait_closed()
        serving = asyncio.create_task(
            serve_diameter("127.0.0.1", port, lambda: holder, Settings(), origin_host=EIR_HOST)
        )
        client = None
        for _ in range(100):  # until it listens
            try:
                client = await DiameterClient.connect("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.01)
        assert client is not None
        assert equipment_status(await client.identity_check(IMEIS[DeviceCode.STOLEN])) == 1
        serving.cancel()
        request = await asyncio.wait_for(client.server_requests.get(), 5)
        assert request.command == d.DISCONNECT_PEER
        assert request.find(d.DISCONNECT_CAUSE).u32() == d.DISCONNECT_REBOOTING  # type: ignore[union-attr]
        await asyncio.wait_for(client.closed, 5)
        with pytest.raises(asyncio.CancelledError):
            await serving

    asyncio.run(main())


# --- from the database, and a journal change ------------------------------------------------


def test_answers_come_from_the_database_index_and_a_journal_change_flips_them(
    db_session: Session,
) -> None:
    registered, blocked = make_imei("35467819", 1), make_imei("35467819", 2)
    register_device(db_session, [registered])
    today = dt.date(2026, 11, 1)
    db_session.add(
        DeviceState(
            imei=blocked[:14],
            state="blocked",
            reasons="not_registered",
            first_noncompliant=today,
            block_date=today,
            blocked_on=today,
            updated_run=1,
        )
    )
    db_session.commit()
    holder = IndexHolder(build_from_database(db_session))
    statuses: list[int | None] = []

    async def scenario(client: DiameterClient, _port: int) -> None:
        statuses.append(equipment_status(await client.identity_check(registered)))
        statuses.append(equipment_status(await client.identity_check(blocked)))
        # An approved appeal registers the blocked device: the journal carries it.
        journal.record(db_session, [(blocked[:14], DeviceCode.ALLOWED)])
        db_session.commit()
        holder.apply(journal.since(db_session, holder.journal_id))
        statuses.append(equipment_status(await client.identity_check(blocked)))

    run(scenario, holder=holder)
    assert statuses == [WHITELISTED, BLACKLISTED, WHITELISTED]


# --- the codec ------------------------------------------------------------------------------


def test_avps_are_padded_to_four_bytes_and_decode_back() -> None:
    encoded = d.avp_text(d.IMEI, "35693803564380", vendor=d.VENDOR_3GPP) + d.avp_u32(
        d.RESULT_CODE, 2001
    )
    assert len(encoded) == 28 + 12
    imei, result = d.decode_avps(encoded)
    assert (imei.code, imei.vendor, imei.text()) == (d.IMEI, d.VENDOR_3GPP, "35693803564380")
    assert imei.flags == d.AVP_VENDOR | d.AVP_MANDATORY
    assert (result.code, result.vendor, result.u32()) == (d.RESULT_CODE, 0, 2001)


@pytest.mark.parametrize("address", ["127.0.0.1", "2001:db8::1"])
def test_address_avp_round_trips(address: str) -> None:
    (avp,) = d.decode_avps(d.avp_address(d.HOST_IP_ADDRESS, address))
    assert d.decode_address(avp.value) == address
