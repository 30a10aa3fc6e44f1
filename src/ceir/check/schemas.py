"""What the public check API answers (pydantic models, the source of its OpenAPI schema)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from ceir.check.service import ListColour, Signal, Verdict
from ceir.network.rules import Condition
from ceir.registry.models import RegistrationSource


class DeviceOut(BaseModel):
    brand: str | None
    model: str | None
    marketing_name: str | None
    device_type: str | None


class RegistrationOut(BaseModel):
    source: RegistrationSource
    registered_at: dt.datetime


class InvalidOut(BaseModel):
    code: str = Field(
        description="why the IMEI is invalid: empty, not_digits, wrong_length, "
        "bad_check_digit, junk"
    )
    reason: str


class SignalOut(BaseModel):
    code: Signal
    message: str


class ReasonOut(BaseModel):
    code: Condition = Field(
        description="why the device is notified, blocked or stolen: a stable code "
        "(not_registered, invalid_imei, unknown_tac, stolen, duplicate; docs/operators.md)"
    )
    text: str = Field(description="the reason in words, in the requested language")
    first_seen: dt.date | None = Field(
        description="the day the device was first found not compliant on a Kazakh network"
    )
    grace_end: dt.date | None = Field(
        description="the day its grace period ends and it is (or was) blocked"
    )


class SaleOut(BaseModel):
    seller: str = Field(description="who recorded the sale (the seller's partner account)")
    sold_on: dt.date
    receipt_number: str
    text: str = Field(description="the record in words, in the requested language")


class CheckOut(BaseModel):
    query: str = Field(description="the IMEI as it was asked for")
    imei: str | None = Field(description="the IMEI as 15 digits with its check digit")
    tac: str | None
    verdict: Verdict
    list_colour: ListColour | None = Field(
        description="white, grey or black list; null for a mistyped number (empty, not digits, "
        "wrong length, bad check digit), which names no device"
    )
    list_name: str = Field(description="the list's name in the requested language")
    block_date: dt.date | None = Field(
        default=None, description="when a notified device will be (or a blocked one was) blocked"
    )
    title: str = Field(description="the verdict in words, in the requested language")
    advice: str = Field(description="what a buyer or owner should do, in the requested language")
    abroad_advice: str | None = Field(
        default=None,
        description="for a device never seen on a Kazakh network: what a buyer abroad must do "
        "after entry (register it as a personal import within the grace period)",
    )
    language: str
    invalid: InvalidOut | None = None
    registration: RegistrationOut | None = None
    device: DeviceOut | None = Field(description="the model GSMA allocated the TAC to")
    signals: list[SignalOut] = []
    sale: SaleOut | None = Field(
        default=None,
        description="the seller's record of the sale, only when `receipt` is its receipt number",
    )
    reason: ReasonOut | None = Field(
        default=None,
        description="for a notified, blocked or stolen device: why, with the evidence",
    )
