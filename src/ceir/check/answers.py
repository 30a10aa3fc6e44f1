"""The public check's JSON answer as bytes, its words and model rendered once and then reused.

`answer_model` is the answer as its schema defines it (and the OpenAPI document shows). Building
it per request cost more than finding the answer: the words (`describe`) and their serialisation
depend on the verdict, dates, language and model, not on the IMEI. So `render` cuts the model's
JSON into the parts that depend only on those and keeps them; a request joins its own IMEI, TAC
and registration time to them. The first answer of each kind is rendered whole and compared with
the parts, so the parts can only ever give the bytes the model gives
(tests/check/test_answers.py compares every verdict and language as well).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from pydantic import TypeAdapter

from ceir.check.presentation import DISPLAY_TIMEZONE, describe, sale_text, signal_text
from ceir.check.schemas import (
    CheckOut,
    DeviceOut,
    InvalidOut,
    ReasonOut,
    RegistrationOut,
    SaleOut,
    SignalOut,
)
from ceir.check.service import CheckResult, Verdict
from ceir.config import get_settings
from ceir.network.reasons import label as reason_label
from ceir.partners.models import Sale
from ceir.tac.service import DeviceModel

# Bounds on what is kept: kinds of answer (verdict, dates, language...), models, invalid queries.
KINDS_KEPT = 8192
MODELS_KEPT = 65_536
INVALID_KEPT = 4096

_STRING = TypeAdapter(str)
_MOMENT = TypeAdapter(dt.datetime)


def answer_model(result: CheckResult, lang: str, sale: Sale | None = None) -> CheckOut:
    """The answer as the API's schema defines it."""
    words = describe(result, lang)
    return CheckOut(
        query=result.query,
        imei=result.imei,
        tac=result.tac,
        verdict=result.verdict,
        list_colour=result.list_colour,
        list_name=words["list"],
        block_date=result.block_date,
        title=words["title"],
        advice=words["advice"],
        abroad_advice=words.get("abroad"),
        language=lang,
        invalid=InvalidOut(code=result.invalid_code, reason=words.get("reason", ""))
        if result.invalid_code
        else None,
        registration=RegistrationOut(
            source=result.registration.source, registered_at=result.registration.registered_at
        )
        if result.registration
        else None,
        device=_device_out(result.device) if result.device else None,
        signals=[SignalOut(code=s, message=signal_text(s, lang)) for s in result.signals],
        sale=SaleOut(
            seller=sale.owner,
            sold_on=sale.sold_on,
            receipt_number=sale.receipt_number,
            text=sale_text(sale.owner, sale.sold_on, sale.receipt_number, lang),
        )
        if sale
        else None,
        reason=ReasonOut(
            code=result.reason,
            text=reason_label(result.reason, lang),
            first_seen=result.first_seen,
            grace_end=result.block_date,
        )
        if result.reason
        else None,
    )


def render(result: CheckResult, lang: str, sale: Sale | None = None) -> bytes:
    """`answer_model(result, lang, sale)` as JSON bytes, from kept parts where it can be."""
    if sale is not None:  # a receipt's holder only: rare, and the sale is in the middle
        return _whole(result, lang, sale)
    if result.imei is None or result.tac is None:  # invalid: the words quote the query
        return _invalid(result.query, result.invalid_code, result.invalid_reason, lang)
    parts = _parts(_kind(result, lang), result)
    if parts is None:
        return _whole(result, lang)
    return render_from(parts, result)


def _whole(result: CheckResult, lang: str, sale: Sale | None = None) -> bytes:
    return answer_model(result, lang, sale).model_dump_json().encode()


Kind = tuple[object, ...]


def _kind(result: CheckResult, lang: str) -> Kind:
    """Everything the answer's words and codes depend on, but the IMEI, TAC and model."""
    registration = result.registration
    grace = get_settings()
    return (
        lang,
        result.verdict,
        result.block_date,
        result.pending,
        tuple(result.signals),
        result.reason,
        result.first_seen,
        registration.source if registration else None,
        # The words name the day of registration in Almaty, not the moment.
        registration.registered_at.astimezone(DISPLAY_TIMEZONE).date() if registration else None,
        # The advice for buyers abroad quotes these.
        grace.network.conditions["not_registered"].grace_days,
        grace.citizens.personal_imports_per_year,
    )


_kept: dict[Kind, tuple[bytes, bytes] | None] = {}


def _parts(kind: Kind, result: CheckResult) -> tuple[bytes, bytes] | None:
    """(from "verdict" to "registration":, from ,"signals" to the end) for this kind of answer;
    None if the parts did not give the whole answer back (then it is rendered whole)."""
    try:
        return _kept[kind]
    except KeyError:
        pass
    whole = _whole(result, kind[0])  # type: ignore[arg-type]
    middle = whole[whole.index(b'"verdict":') : whole.index(b'"registration":') + 15]
    tail = whole[whole.index(b',"signals":') :]
    parts: tuple[bytes, bytes] | None = (middle, tail)
    if render_from((middle, tail), result) != whole:
        parts = None
    if len(_kept) >= KINDS_KEPT:
        _kept.clear()  # many dates of registration over years: start again rather than grow
    _kept[kind] = parts
    return parts


def render_from(parts: tuple[bytes, bytes], result: CheckResult) -> bytes:
    """The answer from its kept parts and what is this result's own."""
    assert result.imei is not None and result.tac is not None
    middle, tail = parts
    return b"".join(
        (
            b'{"query":',
            _STRING.dump_json(result.query),
            b',"imei":"',
            result.imei.encode(),
            b'","tac":"',
            result.tac.encode(),
            b'",',
            middle,
            _registration(result),
            b',"device":',
            _device(result.device) if result.device else b"null",
            tail,
        )
    )


def _registration(result: CheckResult) -> bytes:
    registration = result.registration
    if registration is None:
        return b"null"
    return b"".join(
        (
            b'{"source":"',
            registration.source.value.encode(),
            b'","registered_at":',
            _MOMENT.dump_json(registration.registered_at),
            b"}",
        )
    )


@lru_cache(maxsize=MODELS_KEPT)
def _device(device: DeviceModel) -> bytes:
    return _device_out(device).model_dump_json().encode()


def _device_out(device: DeviceModel) -> DeviceOut:
    return DeviceOut(
        brand=device.brand,
        model=device.model,
        marketing_name=device.marketing_name,
        device_type=device.device_type,
    )


@lru_cache(maxsize=INVALID_KEPT)
def _invalid(query: str, code: str | None, reason: str | None, lang: str) -> bytes:
    # The same mistyped numbers come back (a junk IMEI, a digit too few): kept by query.
    return _whole(
        CheckResult(query, Verdict.INVALID, invalid_code=code, invalid_reason=reason), lang
    )
