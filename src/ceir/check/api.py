"""JSON API of the public IMEI check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy.orm import Session

from ceir.check.presentation import describe, signal_text
from ceir.check.schemas import CheckOut, DeviceOut, InvalidOut, RegistrationOut, SignalOut
from ceir.check.service import check_imei
from ceir.web.deps import get_db
from ceir.web.i18n import select_language
from ceir.web.ratelimit import public_rate_limit

router = APIRouter(prefix="/api/v1", tags=["public check"])


@router.get(
    "/imei/{imei:path}",
    response_model=CheckOut,
    dependencies=[Depends(public_rate_limit)],
    summary="Check one IMEI",
    responses={429: {"description": "Too many checks from this client; see Retry-After"}},
)
def get_imei(
    request: Request,
    imei: Annotated[str, Path(max_length=64, description="IMEI (14-16 digits) or PEI")],
    db: Annotated[Session, Depends(get_db)],
) -> CheckOut:
    """Is this IMEI in the registry of legally imported devices, and what model does its TAC name?

    Answered in the language of `?lang=` (ru, kk, en), the `lang` cookie or Accept-Language.
    """
    result = check_imei(db, imei)
    request.app.state.metrics.checks.labels(result.verdict.value).inc()
    lang = select_language(request)
    words = describe(result, lang)
    return CheckOut(
        query=result.query,
        imei=result.imei,
        tac=result.tac,
        verdict=result.verdict,
        title=words["title"],
        advice=words["advice"],
        language=lang,
        invalid=InvalidOut(code=result.invalid_code, reason=words.get("reason", ""))
        if result.invalid_code
        else None,
        registration=RegistrationOut(
            source=result.registration.source, registered_at=result.registration.registered_at
        )
        if result.registration
        else None,
        device=DeviceOut(
            brand=result.device.brand,
            model=result.device.model,
            marketing_name=result.device.marketing_name,
            device_type=result.device.device_type,
        )
        if result.device
        else None,
        signals=[SignalOut(code=s, message=signal_text(s, lang)) for s in result.signals],
    )
