"""SMS gateways: the outbox (nothing leaves) or SMPP to the operators' SMSC."""

from __future__ import annotations

from typing import Protocol

from ceir.config import SmsSettings


class Gateway(Protocol):
    name: str

    def submit(self, msisdn: str, text: str) -> None:
        """Hand one message over for delivery; raises when the gateway refuses it."""


class OutboxGateway:
    """Development and demo: the message stays in `sms_messages`, read with `ceir sms outbox`."""

    name = "outbox"

    def submit(self, msisdn: str, text: str) -> None:
        return None


class SmppGateway:
    """SMPP 3.4 to the operators' SMSC (smpplib): one bind per batch, UCS-2 for Cyrillic text."""

    name = "smpp"

    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings

    def submit(self, msisdn: str, text: str) -> None:
        import smpplib.client  # type: ignore[import-untyped]
        import smpplib.consts  # type: ignore[import-untyped]
        import smpplib.gsm  # type: ignore[import-untyped]

        s = self.settings
        client = smpplib.client.Client(s.smpp_host, s.smpp_port, timeout=s.smpp_timeout_seconds)
        client.connect()
        try:
            client.bind_transmitter(system_id=s.smpp_system_id, password=s.smpp_password)
            parts, encoding, msg_type = smpplib.gsm.make_parts(text)
            for part in parts:
                sent = client.send_message(
                    source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                    source_addr_npi=smpplib.consts.SMPP_NPI_UNK,
                    source_addr=s.smpp_source_addr,
                    dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                    dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                    destination_addr=msisdn,
                    short_message=part,
                    data_coding=encoding,
                    esm_class=msg_type,
                    registered_delivery=False,
                )
                # Each part's answer is read before the next goes: an SMSC that refuses one
                # (throttled, a bad number) must leave the message unsent, never marked sent.
                # Unread, the answer was taken for unbind's own, whose answer then stayed
                # unread: the socket closed with data waiting, a TCP reset instead of a FIN.
                _expect_ok(client.read_pdu(), "submit_sm_resp", sent.sequence)
            _expect_ok(client.unbind(), "unbind_resp", None)
        finally:
            client.disconnect()


class SmscRefused(RuntimeError):
    """The SMSC answered with an error status, or with something else than was asked."""


def _expect_ok(answer: object, command: str, sequence: int | None) -> None:
    status = getattr(answer, "status", None)
    if getattr(answer, "command", None) != command or (
        sequence is not None and getattr(answer, "sequence", None) != sequence
    ):
        raise SmscRefused(f"the SMSC answered {getattr(answer, 'command', '?')} (status {status})")
    if status:
        describe = getattr(answer, "get_status_desc", lambda: "")
        raise SmscRefused(f"the SMSC refused {command[:-5]}: status 0x{status:02x} {describe()}")


def make_gateway(settings: SmsSettings) -> Gateway:
    if settings.gateway == "smpp":
        return SmppGateway(settings)
    return OutboxGateway()
