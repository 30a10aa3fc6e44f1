"""The public IMEI check page: a form and, once an IMEI is given, the verdict in words."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from ceir.check.api import sale_of
from ceir.check.presentation import (
    describe,
    reason_words,
    registered_on,
    sale_text,
    signal_text,
    source_text,
)
from ceir.check.service import Signal, Verdict, check_imei
from ceir.i18n import LANGUAGES
from ceir.web.deps import ReadDb
from ceir.web.limits import public_rate_limit
from ceir.web.templating import remember_language, select_language, templates

router = APIRouter(tags=["pages"])


def limit_checks_only(request: Request) -> None:
    """Count only requests that run a check: showing the empty form costs nothing."""
    if "imei" in request.query_params:
        # Called by hand because Depends cannot be conditional; honour test overrides all the same.
        limit = request.app.dependency_overrides.get(public_rate_limit, public_rate_limit)
        limit(request)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def check_page(
    request: Request,
    db: ReadDb,
    _limited: Annotated[None, Depends(limit_checks_only)],
    imei: Annotated[str | None, Query(max_length=64)] = None,
    receipt: Annotated[str | None, Query(max_length=64)] = None,
    lang: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    language = select_language(request)
    context: dict[str, object] = {
        "lang": language,
        "imei_value": imei or "",
        "receipt_value": receipt or "",
        "language_links": {
            code: "?"
            + urlencode(
                {
                    "lang": code,
                    **({"imei": imei} if imei else {}),
                    **({"receipt": receipt} if imei and receipt else {}),
                }
            )
            for code in LANGUAGES
        },
    }
    if imei is not None:
        memory = request.app.state.check_memory
        result = memory.check(db.connection(), imei) if memory else check_imei(db, imei)
        request.app.state.metrics.checks.labels(result.verdict.value).inc()
        if request.app.state.check_tally.add(result.verdict):
            request.app.state.check_tally.flush(request.app.state.engine)
        context["result"] = result
        context["words"] = describe(result, language)
        if (why := reason_words(result, language)) is not None:
            context["why"] = why
        # A verdict that already says "probably fake" does not repeat it as a warning.
        context["signals"] = [
            signal_text(s, language)
            for s in result.signals
            if not (s is Signal.UNKNOWN_TAC and result.verdict is Verdict.NOT_REGISTERED)
        ]
        if result.registration is not None:
            context["source"] = source_text(result.registration.source, language)
            context["registered_on"] = registered_on(result.registration.registered_at, language)
        sale = sale_of(db, result, receipt)
        if sale is not None:
            context["sale"] = sale_text(sale.owner, sale.sold_on, sale.receipt_number, language)
        elif receipt and receipt.strip():
            context["sale_not_found"] = True
    response = templates.TemplateResponse(request, "check.html", context)
    remember_language(request, response, language, secure=request.url.scheme == "https")
    return response
