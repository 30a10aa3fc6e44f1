"""Citizens' applications: personal-import registrations, unblocking appeals, and their decisions.

Filing runs the automatic check at once: border crossings (an exit and a later entry around the
stated day), the device not seen on a Kazakh network before that entry, the TAC agreeing with the
stated model. A confirmed case is registered there and then; any doubt sends it to an officer,
who decides with `decide_application` (also the way a supervisor reverses a decision).

The first day a device was seen at home comes from `DeviceState.first_noncompliant` (the first
day a classification run found it on a home network with a local SIM and not compliant), not from
the DuckDB `sightings` store: DuckDB locks its file for the one process that writes it (the
classification run), so a web worker cannot read it while a run is going.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.audit import service as audit
from ceir.borders.service import check_trip
from ceir.citizens import deadlines, identity_use
from ceir.citizens.documents import DocumentRefused, Upload, check_upload, store
from ceir.citizens.identity_models import ActKind
from ceir.citizens.models import (
    Application,
    ApplicationEvent,
    ApplicationKind,
    ApplicationStatus,
    Document,
)
from ceir.config import Settings, get_settings
from ceir.db import utcnow
from ceir.eir import journal
from ceir.eir.index import DeviceCode
from ceir.errors import CeirError, NotFound
from ceir.i18n import gettext
from ceir.network import enforcement
from ceir.network.models import (
    BlockPause,
    DeviceNumber,
    DeviceState,
    DeviceStateName,
    StolenDevice,
)
from ceir.registry.models import DeviceImei, Registration, RegistrationSource
from ceir.registry.service import find_registration, register_device
from ceir.review.reasons import reason_text as officers_reason_text
from ceir.sms import service as sms
from ceir.tac import names
from ceir.tac.service import lookup as tac_lookup

ALMATY = ZoneInfo("Asia/Almaty")
AUTO_ACTOR = "system:auto-check"
PUBLIC_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: people type these
PUBLIC_ID_LENGTH = 12  # 60 random bits: not to be guessed or counted
TEXT_LIMITS = {"brand": 128, "model": 256}
# How far back a stated trip may be: older imports are for customs and the amnesty, not for this.
MAX_TRIP_AGE = dt.timedelta(days=366)


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


# Reasons and findings a citizen reads (page, SMS). Officers may give their own reasons too:
# those are shown as written.
REASONS: dict[str, str] = {
    "trip_confirmed": N_("The border records confirm your trip."),
    "no_entry_in_period": N_("No entry into Kazakhstan is on record around the date you gave."),
    "no_exit_before_entry": N_("No exit from Kazakhstan is on record before that entry."),
    "seen_before_entry": N_("The device was used on a Kazakh network before that entry."),
    "tac_mismatch": N_("The IMEI belongs to another model than the one you named."),
    "number_not_seen": N_(
        "Your number was not seen with this device on a Kazakh network; an officer will check."
    ),
    "quota_used": N_(
        "This year's allowance of automatic registrations is used up; an officer will check."
    ),
    "unknown_tac": N_("The IMEI's model is not in the GSMA database."),
    "submitted": N_("Submitted; an officer will look at it."),
    "documents_confirm_trip": N_("Your documents confirm the trip."),
    "no_proof_of_trip": N_("Your documents do not prove that you brought the device in."),
    "documents_unreadable": N_("The documents cannot be read."),
    "decision_reversed": N_("The earlier decision was reversed on review."),
    "identity_dispute": N_(
        "Withdrawn: the holder of the IIN said it was not them; an officer will check."
    ),
    "identity_dispute_rejected": N_(
        "Restored: an officer found that the holder of the IIN did file it."
    ),
}
REFUSALS: dict[str, str] = {
    "invalid_imei": N_("This is not a valid IMEI."),
    "same_imei": N_("The two IMEIs are the same."),
    "already_registered": N_("This device is already registered."),
    "stolen": N_("This device is reported stolen; contact the police."),
    "open_application": N_("This device already has an application under review."),
    "quota": N_("You have registered as many personally imported devices this year as allowed."),
    "not_blocked": N_("This device is neither blocked nor notified; there is nothing to appeal."),
    "date_in_future": N_("The date is in the future."),
    "date_too_old": N_("The date is more than a year ago."),
    "dates_in_wrong_order": N_("The day you left is after the day you came back."),
    "brand_required": N_("Give the brand and the model."),
    "document_required": N_("Attach at least one document."),
    "too_many_documents": N_("Too many documents."),
    "not_allowed_type": N_("Only PDF, JPEG or PNG files are accepted."),
    "too_large": N_("A document may be at most 10 MB."),
    "empty": N_("The file is empty."),
    "invalid_date": N_("Give the date as day, month and year."),
    "held": N_(
        "This device is held while an officer checks a report that an act on it was not its "
        "owner's."
    ),
}
SMS_APPROVED = N_("ceir: application %(id)s is approved; the device %(imei)s is registered.")
SMS_REJECTED = N_("ceir: application %(id)s is rejected: %(reason)s")
SMS_APPEAL_FILED = N_(
    "ceir: appeal %(id)s for the device %(imei)s is filed; an officer decides by %(deadline)s. "
    "While it waits, the device is not blocked."
)


class ApplicationRefused(CeirError):
    """A filing not accepted at all (nothing stored): `reason` is a key of REFUSALS."""

    code = "application_refused"
    status = 422
    title = "Application refused"

    def __init__(self, reason: str, detail: str | None = None, field: str | None = None) -> None:
        super().__init__(detail or REFUSALS.get(reason, reason))
        self.reason = reason
        self.field = field
        self.extra = {"reason": reason, **({"field": field} if field else {})}


class DecisionRefused(CeirError):
    code = "decision_refused"
    status = 409
    title = "Decision refused"


@dataclass(frozen=True, slots=True)
class Applicant:
    iin: str
    msisdn: str


def reason_text(reason: str | None, lang: str) -> str:
    if not reason:
        return ""
    known = REASONS.get(reason) or REFUSALS.get(reason)
    if known:
        return gettext(lang, known)
    # Officers choose from their own templates too.
    return officers_reason_text(reason, lang)


def new_public_id() -> str:
    return "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(PUBLIC_ID_LENGTH))


def _local_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(ALMATY).date()


def _parse_key(text: str, field: str) -> str:
    try:
        imei = identifiers.parse_imei(text)
    except identifiers.IdentifierError as exc:
        raise ApplicationRefused("invalid_imei", str(exc), field) from exc
    if identifiers.is_junk_imei_key(imei.key):
        raise ApplicationRefused("invalid_imei", field=field)
    return imei.key


def form_problems(
    imeis: dict[str, str],
    entered_on: dt.date | None,
    travel_from: dt.date | None,
    now: dt.datetime,
    texts: dict[str, str] | None = None,
) -> list[ApplicationRefused]:
    """Every mistake of a form at once, each checked on its own, so that the person fixes them
    all in one go rather than meeting them one by one. Empty: the form may be filed."""
    problems: list[ApplicationRefused] = []
    for field, value in imeis.items():
        try:
            _parse_key(value, field)
        except ApplicationRefused as exc:
            problems.append(exc)
    for field, value in (texts or {}).items():
        if not value.strip():
            problems.append(ApplicationRefused("brand_required", field=field))
    if entered_on is not None:
        try:
            _check_dates(entered_on, travel_from, now)
        except ApplicationRefused as exc:
            problems.append(exc)
    return problems


def _check_dates(entered_on: dt.date, travel_from: dt.date | None, now: dt.datetime) -> None:
    today = _local_date(now)
    if entered_on > today or (travel_from and travel_from > today):
        raise ApplicationRefused("date_in_future", field="entered_on")
    if entered_on < today - MAX_TRIP_AGE:
        raise ApplicationRefused("date_too_old", field="entered_on")
    if travel_from and travel_from > entered_on:
        raise ApplicationRefused("dates_in_wrong_order", field="travel_from")


def _check_device_free(db: Session, keys: list[str]) -> None:
    """Not registered, not stolen, not already under review."""
    for key in keys:
        if find_registration(db, key) is not None:
            raise ApplicationRefused("already_registered")
    stolen = db.scalar(
        select(func.count())
        .select_from(StolenDevice)
        .where(StolenDevice.imei.in_(keys), StolenDevice.cancelled_at.is_(None))
    )
    if stolen:
        raise ApplicationRefused("stolen")
    open_ = db.scalar(
        select(func.count())
        .select_from(Application)
        .where(
            Application.status == ApplicationStatus.IN_REVIEW,
            Application.imei1.in_(keys) | Application.imei2.in_(keys),
        )
    )
    if open_:
        raise ApplicationRefused("open_application")
    if identity_use.held(db, keys):
        raise ApplicationRefused("held")


def _tac_check(db: Session, key: str, brand: str | None, model: str | None) -> dict[str, Any]:
    """What GSMA says of the TAC, and whether the stated brand and model agree with it."""
    found = tac_lookup(db, key[:8])
    if found is None:
        return {"tac": key[:8], "finding": "unknown_tac"}
    result: dict[str, Any] = {
        "tac": key[:8],
        "brand": found.brand,
        "model": found.model,
        "marketing_name": found.marketing_name,
        "finding": None,
    }
    if brand is None and model is None:
        return result
    brand_ok = names.same_brand(brand, found.brand)
    model_ok = names.same_model(model, [found.model, found.marketing_name], brand=brand)
    if not (brand_ok and model_ok):
        result["finding"] = "tac_mismatch"
    return result


def _first_seen(db: Session, keys: list[str]) -> dt.date | None:
    return db.scalar(
        select(func.min(DeviceState.first_noncompliant)).where(DeviceState.imei.in_(keys))
    )


def _auto_check(
    db: Session,
    applicant: Applicant,
    keys: list[str],
    entered_on: dt.date,
    travel_from: dt.date | None,
    brand: str | None,
    model: str | None,
    settings: Settings,
) -> dict[str, Any]:
    trip = check_trip(
        db,
        applicant.iin,
        entered_on,
        tolerance_days=settings.citizens.entry_tolerance_days,
        travel_from=travel_from,
    )
    findings: list[str] = []
    if not trip.confirmed:
        findings.append(trip.reason)
    first_seen = _first_seen(db, keys)
    entered = _local_date(trip.entered_at) if trip.entered_at else None
    if entered is not None and first_seen is not None and first_seen < entered:
        findings.append("seen_before_entry")
    tac = _tac_check(db, keys[0], brand, model)
    if tac["finding"]:
        findings.append(tac["finding"])
    return {
        "confirmed": not findings,
        "findings": findings,
        "crossings": [r for r in (trip.exit_id, trip.entry_id) if r],
        "entered_at": trip.entered_at.isoformat() if trip.entered_at else None,
        "first_seen": first_seen.isoformat() if first_seen else None,
        "first_seen_source": "device_states.first_noncompliant",
        "tac": tac,
    }


def _event(
    db: Session, application: Application, actor: str, note: str | None, now: dt.datetime
) -> None:
    db.add(
        ApplicationEvent(
            application_id=application.id,
            at=now,
            actor=actor,
            status=application.status,
            note=note,
        )
    )


def _source_of(application: Application) -> RegistrationSource:
    if application.kind == ApplicationKind.APPEAL:
        return RegistrationSource.APPEAL
    return RegistrationSource.PERSONAL_IMPORT


def _keys_of(application: Application) -> list[str]:
    return [k for k in (application.imei1, application.imei2) if k]


def _register(db: Session, application: Application, actor: str, now: dt.datetime) -> None:
    """Register the application's device (or register it again after a revocation)."""
    evidence: dict[str, object] = {
        "application": application.public_id,
        "kind": application.kind,
        "iin": application.iin,
        "crossings": list(application.auto_check.get("crossings", [])),
        "decided_by": actor,
    }
    keys = _keys_of(application)
    if application.device_id is not None:
        db.add(
            Registration(
                device_id=application.device_id,
                source=_source_of(application).value,
                registered_at=now,
                actor=actor,
                evidence=evidence,
            )
        )
        journal.record(db, [(key, DeviceCode.ALLOWED) for key in keys])
        audit.record(
            db,
            actor=actor,
            action="registry.register",
            object_type="device",
            object_id=str(application.device_id),
            details={"source": _source_of(application).value, "imeis": keys, "again": True},
        )
        return
    existing = find_registration(db, keys[0])
    if existing is not None:  # registered meanwhile by another way (a declaration, say)
        application.device_id = existing.device_id
        return
    tac = application.auto_check.get("tac", {})
    application.device_id = register_device(
        db,
        imei_keys=keys,
        source=_source_of(application),
        actor=actor,
        evidence=evidence,
        brand=application.brand or tac.get("brand"),
        model=application.model or tac.get("model"),
        now=now,
    )


def _notify(db: Session, application: Application, settings: Settings, now: dt.datetime) -> None:
    lang = application.language
    if application.status == ApplicationStatus.APPROVED:
        imei = application.imei1 + str(identifiers.luhn_check_digit(application.imei1))
        text = gettext(lang, SMS_APPROVED, id=application.public_id, imei=imei)
    else:
        reason = reason_text(application.decision_reason, lang)
        text = gettext(lang, SMS_REJECTED, id=application.public_id, reason=reason)
    sms.send(db, application.msisdn, text, purpose="decision", settings=settings, now=now)


def _decide_automatically(
    db: Session, application: Application, settings: Settings, now: dt.datetime
) -> None:
    """Approve a confirmed case at once; otherwise leave it to an officer."""
    if application.auto_check["confirmed"]:
        application.status = ApplicationStatus.APPROVED
        application.decision_reason = "trip_confirmed"
        application.decided_by = AUTO_ACTOR
        application.decided_at = now
        _register(db, application, AUTO_ACTOR, now)
        _event(db, application, AUTO_ACTOR, "trip_confirmed", now)
        _notify(db, application, settings, now)
    else:
        findings = application.auto_check["findings"]
        _event(db, application, AUTO_ACTOR, findings[0] if findings else "submitted", now)


def _new_application(
    applicant: Applicant,
    kind: ApplicationKind,
    language: str,
    now: dt.datetime,
    settings: Settings,
    **fields: Any,
) -> Application:
    return Application(
        public_id=new_public_id(),
        kind=kind.value,
        status=ApplicationStatus.IN_REVIEW.value,
        iin=applicant.iin,
        msisdn=applicant.msisdn,
        language=language,
        created_at=now,
        deadline=deadlines.decision_deadline(_local_date(now), settings.citizens),
        **fields,
    )


def _audit_filing(db: Session, application: Application) -> None:
    audit.record(
        db,
        actor=f"citizen:{application.iin}",
        action="citizens.file_application",
        object_type="application",
        object_id=application.public_id,
        details={
            "kind": application.kind,
            "imeis": _keys_of(application),
            "status": application.status,
            "findings": application.auto_check.get("findings", []),
        },
    )


def _quota_used(db: Session, iin: str, settings: Settings, now: dt.datetime) -> bool:
    return personal_imports_used(db, iin, now) >= settings.citizens.personal_imports_per_year


def personal_imports_used(db: Session, iin: str, now: dt.datetime) -> int:
    """What counts toward this calendar year's quota: every personal import not rejected (a
    purchase declared abroad becomes one), and every device registered automatically whatever
    form it came through (appeals too)."""
    year_start = dt.datetime(_local_date(now).year, 1, 1, tzinfo=ALMATY)
    used = db.scalar(
        select(func.count())
        .select_from(Application)
        .where(
            Application.iin == iin,
            Application.created_at >= year_start,
            or_(
                (Application.kind == ApplicationKind.PERSONAL_IMPORT)
                & Application.status.in_([ApplicationStatus.APPROVED, ApplicationStatus.IN_REVIEW]),
                (Application.status == ApplicationStatus.APPROVED)
                & (Application.decided_by == AUTO_ACTOR),
            ),
        )
    )
    return used or 0


def _number_seen(db: Session, key: str, msisdn: str) -> bool:
    found = db.scalar(
        select(DeviceNumber.imei).where(DeviceNumber.imei == key, DeviceNumber.msisdn == msisdn)
    )
    return found is not None


def _tell_identity_holder(
    db: Session,
    application: Application,
    before: dict[str, Any],
    settings: Settings,
    now: dt.datetime,
) -> None:
    """Every number of the applicant's IIN hears of the filing, with a "not me" link."""
    identity_use.record_act(
        db,
        ActKind(application.kind),
        iin=application.iin,
        msisdn=application.msisdn,
        reference=application.public_id,
        keys=_keys_of(application),
        device_id=application.device_id,
        before=before,
        language=application.language,
        now=now,
        settings=settings,
    )


def file_registration(
    db: Session,
    applicant: Applicant,
    *,
    imei1: str,
    imei2: str | None,
    brand: str,
    model: str,
    entered_on: dt.date,
    travel_from: dt.date | None = None,
    language: str = "ru",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> Application:
    """Register a personally imported device, at once when the border records confirm the trip."""
    settings = settings or get_settings()
    now = now or utcnow()
    brand, model = brand.strip(), model.strip()
    if not brand or not model:
        raise ApplicationRefused("brand_required", field="brand")
    for name, value in (("brand", brand), ("model", model)):
        if len(value) > TEXT_LIMITS[name]:
            raise ApplicationRefused("brand_required", f"{name} is too long", name)
    keys = [_parse_key(imei1, "imei1")]
    if imei2 and imei2.strip():
        keys.append(_parse_key(imei2, "imei2"))
        if keys[0] == keys[1]:
            raise ApplicationRefused("same_imei", field="imei2")
    _check_dates(entered_on, travel_from, now)
    _check_device_free(db, keys)
    if _quota_used(db, applicant.iin, settings, now):
        raise ApplicationRefused("quota")
    before = identity_use.device_snapshot(db, keys, None)
    check = _auto_check(db, applicant, keys, entered_on, travel_from, brand, model, settings)
    application = _new_application(
        applicant,
        ApplicationKind.PERSONAL_IMPORT,
        language,
        now,
        settings,
        imei1=keys[0],
        imei2=keys[1] if len(keys) > 1 else None,
        brand=brand,
        model=model,
        travel_from=travel_from,
        entered_on=entered_on,
        auto_check=check,
    )
    db.add(application)
    db.flush()
    _settle_filing(db, application, keys, before, settings, now)
    return application


def _settle_filing(
    db: Session,
    application: Application,
    keys: list[str],
    before: dict[str, Any],
    settings: Settings,
    now: dt.datetime,
) -> None:
    """What every filing does once stored: decided at once when the check confirms it, else the
    block is held for the officer (and an appellant told the deadline); audited; every number of
    the applicant's IIN told."""
    _decide_automatically(db, application, settings, now)
    if application.status == ApplicationStatus.IN_REVIEW:
        appeal = application.kind == ApplicationKind.APPEAL
        _hold_while_in_review(db, application, keys, "appeal" if appeal else "registration", now)
        if appeal:
            _text_deadline(db, application, settings, now)
    _audit_filing(db, application)
    _tell_identity_holder(db, application, before, settings, now)
    db.flush()


def _hold_while_in_review(
    db: Session, application: Application, keys: list[str], reason: str, now: dt.datetime
) -> None:
    """Pause the block of a device whose owner waits for an officer: someone who came forward in
    time is never blocked because the review outlasted the grace period. The decision ends it."""
    for key in keys:
        db.add(BlockPause(imei=key, reason=reason, reference=application.public_id, created_at=now))
    journal.record(db, [(key, DeviceCode.UNDER_APPEAL) for key in keys])


def file_appeal(
    db: Session,
    applicant: Applicant,
    *,
    imei: str,
    entered_on: dt.date,
    travel_from: dt.date | None = None,
    uploads: list[Upload],
    language: str = "ru",
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> Application:
    """Appeal the block (or notification) of a device brought in from abroad.

    Confirmed by the border records: registered and so unblocked at once. Otherwise the block is
    paused (BlockPause) until an officer decides.
    """
    settings = settings or get_settings()
    now = now or utcnow()
    key = _parse_key(imei, "imei")
    uploads = [u for u in uploads if u.data or u.filename]
    if not uploads:
        raise ApplicationRefused("document_required", field="documents")
    if len(uploads) > settings.citizens.max_documents:
        raise ApplicationRefused("too_many_documents", field="documents")
    types = []
    for upload in uploads:
        try:
            types.append(check_upload(upload, settings.citizens.max_document_bytes))
        except DocumentRefused as exc:
            raise ApplicationRefused(exc.reason, exc.detail, "documents") from exc
    _check_dates(entered_on, travel_from, now)
    _check_device_free(db, [key])
    state = db.get(DeviceState, key)
    if state is None or state.state not in (DeviceStateName.NOTIFIED, DeviceStateName.BLOCKED):
        raise ApplicationRefused("not_blocked", field="imei")
    before = identity_use.device_snapshot(db, [key], None)
    check = _auto_check(db, applicant, [key], entered_on, travel_from, None, None, settings)
    # A trip of one's own does not make another subscriber's notified phone one's own.
    if not _number_seen(db, key, applicant.msisdn):
        check["findings"].append("number_not_seen")
    if _quota_used(db, applicant.iin, settings, now):
        check["findings"].append("quota_used")
    check["confirmed"] = not check["findings"]
    application = _new_application(
        applicant,
        ApplicationKind.APPEAL,
        language,
        now,
        settings,
        imei1=key,
        travel_from=travel_from,
        entered_on=entered_on,
        auto_check=check,
    )
    db.add(application)
    db.flush()
    for upload, content_type in zip(uploads, types, strict=True):
        db.add(store(settings.documents_dir, application.id, upload, content_type, now))
    _settle_filing(db, application, [key], before, settings, now)
    return application


def file_on_behalf(
    db: Session,
    applicant: Applicant,
    *,
    key: str,
    entered_on: dt.date,
    travel_from: dt.date | None,
    check: dict[str, Any],
    language: str,
    settings: Settings,
    now: dt.datetime,
) -> Application:
    """A personal import filed for the citizen from evidence gathered already (a purchase they
    declared abroad, matched by the run to their trip home): decided at once like any other,
    to an officer when this year's quota is used up."""
    before = identity_use.device_snapshot(db, [key], None)
    check = {**check, "tac": _tac_check(db, key, None, None)}
    check["findings"] = list(check.get("findings", []))
    if _quota_used(db, applicant.iin, settings, now):
        check["findings"].append("quota_used")
    check["confirmed"] = not check["findings"]
    application = _new_application(
        applicant,
        ApplicationKind.PERSONAL_IMPORT,
        language,
        now,
        settings,
        imei1=key,
        travel_from=travel_from,
        entered_on=entered_on,
        auto_check=check,
    )
    db.add(application)
    db.flush()
    _settle_filing(db, application, [key], before, settings, now)
    return application


def _text_deadline(
    db: Session, application: Application, settings: Settings, now: dt.datetime
) -> None:
    """The applicant learns at once by which day an officer decides, in their language."""
    if application.deadline is None:
        return
    imei = application.imei1 + str(identifiers.luhn_check_digit(application.imei1))
    text = gettext(
        application.language,
        SMS_APPEAL_FILED,
        id=application.public_id,
        imei=imei,
        deadline=f"{application.deadline:%d.%m.%Y}",
    )
    sms.send(db, application.msisdn, text, purpose="appeal_filed", settings=settings, now=now)


def _load_for_update(db: Session, public_id_or_id: str | int) -> Application:
    query = select(Application)
    if isinstance(public_id_or_id, int):
        query = query.where(Application.id == public_id_or_id)
    else:
        query = query.where(Application.public_id == public_id_or_id.strip().upper())
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    application = db.scalars(query).first()
    if application is None and isinstance(public_id_or_id, str) and public_id_or_id.isdigit():
        return _load_for_update(db, int(public_id_or_id))
    if application is None:
        raise NotFound(f"No application {public_id_or_id}.")
    return application


def _end_pauses(db: Session, application: Application, now: dt.datetime) -> bool:
    pauses = db.scalars(
        select(BlockPause).where(
            BlockPause.reference == application.public_id, BlockPause.ended_at.is_(None)
        )
    ).all()
    for pause in pauses:
        pause.ended_at = now
    return bool(pauses)


def _revoke(db: Session, application: Application, actor: str, now: dt.datetime) -> None:
    """Withdraw the registration an approval made; the device answers as before it."""
    if application.device_id is None:
        return
    registrations = db.scalars(
        select(Registration).where(
            Registration.device_id == application.device_id, Registration.revoked_at.is_(None)
        )
    ).all()
    for registration in registrations:
        registration.revoked_at = now
    db.flush()
    keys = [
        str(k).zfill(14)
        for k in db.scalars(
            select(DeviceImei.imei_key).where(DeviceImei.device_id == application.device_id)
        )
    ]
    journal.record(db, enforcement.codes_now(db, keys))
    audit.record(
        db,
        actor=actor,
        action="registry.revoke",
        object_type="device",
        object_id=str(application.device_id),
        details={"application": application.public_id, "imeis": keys},
    )


def decide_application(
    db: Session,
    public_id_or_id: str | int,
    *,
    approve: bool,
    reason: str,
    note: str | None,
    actor: str,
    now: dt.datetime | None = None,
    settings: Settings | None = None,
) -> Application:
    """An officer's decision on an application, or a supervisor's reversal of one.

    Approving registers the device (source personal_import or appeal) and so unblocks it;
    rejecting leaves it unregistered. Either ends the appeal's block pause, records an event and
    an audit entry, and texts the citizen in their language. Reversing an approval revokes the
    registration and puts the device's real-time answer back as its state says.
    """
    settings = settings or get_settings()
    now = now or utcnow()
    if not reason.strip():
        raise DecisionRefused("A decision needs a reason.")
    application = _load_for_update(db, public_id_or_id)
    target = ApplicationStatus.APPROVED if approve else ApplicationStatus.REJECTED
    before = ApplicationStatus(application.status)
    if before == target:
        raise DecisionRefused(f"Application {application.public_id} is already {target.value}.")
    if before == ApplicationStatus.WITHDRAWN:
        raise DecisionRefused(f"Application {application.public_id} was withdrawn.")
    _end_pauses(db, application, now)
    db.flush()
    if approve:
        _register(db, application, actor, now)
    elif before == ApplicationStatus.APPROVED:
        _revoke(db, application, actor, now)
    else:  # paused or not: the public check stops saying "under review" (ceir.check.memory)
        journal.record(db, enforcement.codes_now(db, _keys_of(application)))
    application.status = target.value
    application.decision_reason = reason.strip()[:64]
    application.decision_note = note.strip()[:1024] if note and note.strip() else None
    application.decided_by = actor[:128]
    application.decided_at = now
    _event(db, application, actor[:128], application.decision_reason, now)
    audit.record(
        db,
        actor=actor,
        action="citizens.decide_application",
        object_type="application",
        object_id=application.public_id,
        details={
            "from": before.value,
            "to": target.value,
            "reason": application.decision_reason,
            "note": application.decision_note,
        },
    )
    _notify(db, application, settings, now)
    db.flush()
    return application


def withdraw_disputed(db: Session, public_id: str, *, actor: str, now: dt.datetime) -> str:
    """The holder of the IIN says they did not file it: the application is withdrawn, and what it
    did is undone (the registration revoked, the appeal's pause ended). Returns its status before,
    which `restore_disputed` brings back if an officer finds the filing genuine."""
    application = _load_for_update(db, public_id)
    before = application.status
    if before == ApplicationStatus.WITHDRAWN:
        return before
    _end_pauses(db, application, now)
    db.flush()
    if before == ApplicationStatus.APPROVED:
        _revoke(db, application, actor, now)
    application.status = ApplicationStatus.WITHDRAWN.value
    _event(db, application, actor, "identity_dispute", now)
    audit.record(
        db,
        actor=actor,
        action="citizens.withdraw_application",
        object_type="application",
        object_id=application.public_id,
        details={"from": before, "why": "identity_dispute"},
    )
    db.flush()
    return before


def restore_disputed(
    db: Session, public_id: str, status: str, *, actor: str, now: dt.datetime
) -> None:
    """An officer found the disputed filing genuine: it stands again as it was."""
    application = _load_for_update(db, public_id)
    if application.status != ApplicationStatus.WITHDRAWN or status == application.status:
        return
    application.status = status
    if status == ApplicationStatus.APPROVED:
        _register(db, application, actor, now)
    elif status == ApplicationStatus.IN_REVIEW and application.kind == ApplicationKind.APPEAL:
        db.add(
            BlockPause(
                imei=application.imei1,
                reason="appeal",
                reference=application.public_id,
                created_at=now,
            )
        )
    _event(db, application, actor, "identity_dispute_rejected", now)
    audit.record(
        db,
        actor=actor,
        action="citizens.restore_application",
        object_type="application",
        object_id=application.public_id,
        details={"to": status, "why": "identity_dispute_rejected"},
    )
    db.flush()


# --- what a citizen may read: only their own, and nothing tells another's apart from nothing ---


def applications_of(db: Session, iin: str) -> list[Application]:
    return list(
        db.scalars(
            select(Application)
            .where(Application.iin == iin)
            .order_by(Application.created_at.desc(), Application.id.desc())
        )
    )


def application_of(db: Session, iin: str, public_id: str) -> Application:
    """The citizen's own application; another's answers exactly like one that does not exist."""
    application = db.scalar(
        select(Application).where(
            Application.public_id == public_id.strip().upper()[:16], Application.iin == iin
        )
    )
    if application is None:
        raise NotFound("No such application.")
    return application


def history_of(db: Session, application: Application) -> list[ApplicationEvent]:
    return list(
        db.scalars(
            select(ApplicationEvent)
            .where(ApplicationEvent.application_id == application.id)
            .order_by(ApplicationEvent.at, ApplicationEvent.id)
        )
    )


def documents_of(db: Session, application: Application) -> list[Document]:
    return list(
        db.scalars(
            select(Document)
            .where(Document.application_id == application.id)
            .order_by(Document.uploaded_at, Document.id)
        )
    )


def document_of(db: Session, iin: str, public_id: str, document_id: str) -> Document:
    application = application_of(db, iin, public_id)
    document = db.scalar(
        select(Document).where(
            Document.id == document_id[:32], Document.application_id == application.id
        )
    )
    if document is None:
        raise NotFound("No such document.")
    return document
