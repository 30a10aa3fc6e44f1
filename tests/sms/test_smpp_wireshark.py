"""SMPP on the wire, judged by Wireshark: `ceir sms retry` sends to an SMSC, tshark decodes it.

Captured live on lo, decoded by Wireshark's SMPP dissector (which shares no code with smpplib or
ceir): the submit_sm PDUs carry the number, the sender and the text ceir meant, in GSM 7-bit or
UCS-2, split into concatenated parts when long, with no malformed packet.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ceir.cli import app
from ceir.sms.models import SmsMessage
from tests.sms.smsc import ESME_RTHROTTLED, SUBMIT_SM, Smsc, running_smsc
from tests.tshark import complaints, decode, live_capture, require_tshark

runner = CliRunner()
FIELDS = [
    "smpp.command_id",
    "smpp.command_status",
    "smpp.sequence_number",
    "smpp.system_id",
    "smpp.source_addr",
    "smpp.source_addr_ton",
    "smpp.destination_addr",
    "smpp.dest_addr_ton",
    "smpp.dest_addr_npi",
    "smpp.data_coding",
    "smpp.message",  # the short message's bytes
    "smpp.message_text",  # its text, where Wireshark decodes it (UCS-2)
    "smpp.esm.submit.features",
]
LATIN = "ceir: your sign-in code is 123456"
CYRILLIC = "Код для входа в ceir: 654321"
# Longer than one UCS-2 part (70 characters): goes as concatenated parts.
LONG = "Заявка 4F2A одобрена: телефон зарегистрирован и будет работать во всех сетях Казахстана."


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: the database plays no part in what goes on the wire."""
    import shutil

    path = tmp_path / "ceir.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def _queue(db: Session, *texts: str) -> None:
    now = dt.datetime.now(dt.UTC)
    for n, text in enumerate(texts):
        db.add(
            SmsMessage(
                msisdn=f"7701000000{n}", text=text, purpose="test", created_at=now, gateway="smpp"
            )
        )
    db.commit()


def _send(monkeypatch: pytest.MonkeyPatch, smsc: Smsc) -> str:
    monkeypatch.setenv("CEIR_SMS__GATEWAY", "smpp")
    monkeypatch.setenv("CEIR_SMS__SMPP_PORT", str(smsc.port))
    monkeypatch.setenv("CEIR_SMS__SMPP_SYSTEM_ID", "ceir")
    monkeypatch.setenv("CEIR_SMS__SMPP_PASSWORD", "secret")
    from ceir import config

    config.get_settings.cache_clear()
    result = runner.invoke(app, ["sms", "retry"])
    assert result.exit_code == 0, result.output
    return result.output


def test_wireshark_decodes_ceirs_submit_sm_as_ceir_meant_them(
    cli_env: None, db_session: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    require_tshark()
    _queue(db_session, LATIN, CYRILLIC, LONG)
    pcap = tmp_path / "smpp.pcap"
    with running_smsc() as smsc, live_capture(smsc.port, pcap):
        output = _send(monkeypatch, smsc)
    assert "3 of 3" in output

    frames = decode(pcap, smsc.port, "smpp", FIELDS)
    assert complaints(frames, "smpp.command_id") == []
    pdus = [f for f in frames if f.fields["smpp.command_id"]]
    commands = [c for f in pdus for c in f.fields["smpp.command_id"]]
    submits = [f for f in pdus if f.first("smpp.command_id") == "0x00000004"]
    # Each message: bind_transmitter, submit_sm per part, unbind; and the SMSC's answers.
    assert commands.count("0x00000002") == 3 and commands.count("0x80000002") == 3
    assert commands.count("0x00000006") == 3 and commands.count("0x80000006") == 3
    received_submits = sum(command == SUBMIT_SM for command, _s, _b in smsc.received)
    assert len(submits) == received_submits == commands.count("0x80000004") == 4  # LONG: 2 parts

    binds = [f for f in pdus if f.first("smpp.command_id") == "0x00000002"]
    assert {f.first("smpp.system_id") for f in binds} == {"ceir"}
    assert [f.first("smpp.destination_addr") for f in submits] == [
        "77010000000",
        "77010000001",
        "77010000002",
        "77010000002",
    ]
    assert {f.first("smpp.source_addr") for f in submits} == {"CEIR"}
    assert {f.first("smpp.source_addr_ton") for f in submits} == {"0x05"}  # alphanumeric
    assert {f.first("smpp.dest_addr_ton") for f in submits} == {"0x01"}  # international
    assert {f.first("smpp.dest_addr_npi") for f in submits} == {"0x01"}  # E.164
    latin, cyrillic, *long_parts = submits
    # The SMSC's default alphabet (GSM 03.38; for these characters the same bytes as ASCII),
    # which Wireshark shows as bytes.
    assert int(latin.first("smpp.data_coding") or "-1", 0) == 0x00
    latin_bytes = bytes.fromhex((latin.first("smpp.message") or "").replace(":", ""))
    assert latin_bytes.decode("ascii") == LATIN
    assert int(cyrillic.first("smpp.data_coding") or "-1", 0) == 0x08  # UCS-2
    assert cyrillic.first("smpp.message_text") == CYRILLIC
    # The long message: two parts with a user data header (esm_class UDHI), text in order.
    assert all(int(p.first("smpp.esm.submit.features") or "0", 0) == 0x01 for p in long_parts)
    assert "".join(p.first("smpp.message_text") or "" for p in long_parts) == LONG


def test_a_message_the_smsc_refuses_stays_unsent_with_the_reason(
    cli_env: None, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _queue(db_session, LATIN)
    with running_smsc(Smsc(submit_statuses=[ESME_RTHROTTLED])) as smsc:
        output = _send(monkeypatch, smsc)
    assert "0 of 1" in output
    db_session.expire_all()
    message = db_session.scalars(select(SmsMessage)).one()
    assert message.sent_at is None
    assert message.error and "0x58" in message.error.lower()
