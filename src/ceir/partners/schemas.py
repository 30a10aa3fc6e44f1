"""Request and answer models of the partners' API."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class CheckItemIn(BaseModel):
    imei: str = Field(max_length=64)
    brand: str | None = Field(default=None, max_length=128, description="as the seller states it")
    model: str | None = Field(default=None, max_length=256, description="as the seller states it")


class BulkCheckIn(BaseModel):
    items: list[CheckItemIn] = Field(min_length=1, max_length=10_000)


class CheckAnswer(BaseModel):
    index: int
    query: str
    imei: str | None
    verdict: str
    list_colour: str | None = Field(
        description="white, grey or black list; null for a mistyped number, which names no device"
    )
    block_date: str | None
    reason: str | None = Field(description="why the IMEI is invalid")
    brand: str | None
    model: str | None
    marketing_name: str | None
    source: str | None
    registered_at: str | None
    signals: list[str] = Field(
        description="unknown_tac, brand_mismatch, model_mismatch, cloned: signs of a fake or clone"
    )


class BulkCheckOut(BaseModel):
    results: list[CheckAnswer]


class JobOut(BaseModel):
    id: str
    status: str
    rows: int
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    result_url: str | None = None


class SaleIn(BaseModel):
    imei: str = Field(max_length=64)
    sold_on: dt.date
    receipt_number: str = Field(min_length=1, max_length=64)


class SaleOut(BaseModel):
    id: int
    imei: str
    sold_on: dt.date
    receipt_number: str


class UsageDay(BaseModel):
    day: dt.date
    requests: int
    imeis: int
