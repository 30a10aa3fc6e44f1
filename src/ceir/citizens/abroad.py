"""Travellers plan ahead: a purchase declared abroad, and the yearly allowance left for them.

A citizen declares a device bought abroad (IMEI, shop, purchase date, a photo of the receipt)
before coming home. The declaration waits. The classification run calls `register_sighted` with
the declared devices it sees: on the first sighting after the buyer's trip home (the border
records show an exit on or before the purchase day and the entry that ended that trip, no later
than the device's first day on a Kazakh network), the device becomes a personal import filed on
the buyer's behalf and is registered in the same run, so it is never notified. It counts toward
the yearly quota; when the quota is used up, the import waits for an officer instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.audit import service as audit
from ceir.borders.service import TripCheck, trip_around
from ceir.citizens import service as citizens
from ceir.citizens.abroad_models import DeclarationStatus, PurchaseDeclaration
from ceir.citizens.documents import DocumentRefused, Upload, check_upload, write_file
from ceir.citizens.models import Application, ApplicationStatus, Document
from ceir.config import Settings
from ceir.errors import CeirError, NotFound
from ceir.i18n import gettext
from ceir.network.models import StolenDevice
from ceir.ratelimit import RateLimited
from ceir.registry.service import find_registration

ACTOR = "system:purchase-abroad"
SHOP_LIMIT = 128


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


REFUSALS: dict[str, str] = {
    "shop_required": N_("Give the name of the shop."),
    "purchase_in_future": N_("The purchase date is in the future."),
    "purchase_too_old": N_(
        "The purchase is too long ago to declare; once home, register the device as a personal "
        "import."
    ),
    "receipt_required": N_("Attach a photo of the receipt."),
    "already_declared": N_("You have already declared this device."),
    "not_pending": N_("Only a declaration that is still waiting can be withdrawn."),
}
STATUS_WORDS: dict[str, str] = {
    DeclarationStatus.PENDING: N_("Waiting for your trip home"),
    DeclarationStatus.REGISTERED: N_("Device registered"),
    DeclarationStatus.NEEDS_REVIEW: N_("With an officer"),
    DeclarationStatus.EXPIRED: N_("Expired: no trip home on record in time"),
    DeclarationStatus.WITHDRAWN: N_("Withdrawn by you"),
}


class DeclarationRefused(CeirError):
    """A declaration not accepted (nothing stored): `reason` keys REFUSALS or the
    applications' refusals (invalid IMEI, registered, stolen, the upload's reasons)."""

    code = "declaration_refused"
    status = 422
    title = "Declaration refused"

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(REFUSALS.get(reason) or citizens.REFUSALS.get(reason, reason))
        self.reason = reason
        self.field = field
        self.extra = {"reason": reason, **({"field": field} if field else {})}


def refusal_text(reason: str, lang: str) -> str:
    known = REFUSALS.get(reason)
    return gettext(lang, known) if known else citizens.reason_text(reason, lang)


def status_text(status: str, lang: str) -> str:
    return gettext(lang, STATUS_WORDS.get(status, status))


@dataclass(frozen=True, slots=True)
class Allowance:
    year: int
    limit: int
    used: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def allowance(db: Session, iin: str, settings: Settings, now: dt.datetime) -> Allowance:
    """This calendar year's personal imports: the quota, and what counts toward it so far."""
    used = citizens.personal_imports_used(db, iin, now)
    year = now.astimezone(citizens.ALMATY).year
    return Allowance(year, settings.citizens.personal_imports_per_year, used)


# --- the citizen's side --------------------------------------------------------------------------


def form_problems(
    imei: str,
    shop: str,
    purchased_on: dt.date | None,
    receipt: Upload | None,
    settings: Settings,
    now: dt.datetime,
) -> list[DeclarationRefused]:
    """Every mistake of the form at once, each beside its field; empty: it may be filed."""
    problems: list[DeclarationRefused] = []
    for exc in citizens.form_problems({"imei": imei}, None, None, now):
        problems.append(DeclarationRefused(exc.reason, "imei"))
    if not shop.strip() or len(shop.strip()) > SHOP_LIMIT:
        problems.append(DeclarationRefused("shop_required", "shop"))
    if purchased_on is not None:
        today = now.astimezone(citizens.ALMATY).date()
        if purchased_on > today:
            problems.append(DeclarationRefused("purchase_in_future", "purchased_on"))
        elif purchased_on < today - dt.timedelta(days=settings.citizens.declaration_valid_days):
            problems.append(DeclarationRefused("purchase_too_old", "purchased_on"))
    if receipt is None or not (receipt.data or receipt.filename):
        problems.append(DeclarationRefused("receipt_required", "receipt"))
    else:
        try:
            check_upload(receipt, settings.citizens.max_document_bytes)
        except DocumentRefused as exc:
            problems.append(DeclarationRefused(exc.reason, "receipt"))
    return problems


def _check_rate(db: Session, iin: str, settings: Settings, now: dt.datetime) -> None:
    """Declarations a day per IIN, counted in the database (so across workers)."""
    day_ago = now - dt.timedelta(days=1)
    count, oldest = db.execute(
        select(func.count(), func.min(PurchaseDeclaration.created_at)).where(
            PurchaseDeclaration.iin == iin, PurchaseDeclaration.created_at > day_ago
        )
    ).one()
    if count >= settings.citizens.declarations_per_day:
        wait = (oldest + dt.timedelta(days=1) - now).total_seconds() if oldest else 86400
        raise RateLimited(max(1, int(wait) + 1))


def _check_device(db: Session, iin: str, key: str) -> None:
    if find_registration(db, key) is not None:
        raise DeclarationRefused("already_registered", "imei")
    stolen = db.scalar(
        select(StolenDevice.imei).where(
            StolenDevice.imei == key, StolenDevice.cancelled_at.is_(None)
        )
    )
    if stolen is not None:
        raise DeclarationRefused("stolen", "imei")
    # Another person's declaration of the same IMEI is not told apart: only the trip decides.
    mine = db.scalar(
        select(PurchaseDeclaration.id).where(
            PurchaseDeclaration.iin == iin,
            PurchaseDeclaration.imei == key,
            PurchaseDeclaration.status == DeclarationStatus.PENDING,
        )
    )
    if mine is not None:
        raise DeclarationRefused("already_declared", "imei")


def declare(
    db: Session,
    applicant: citizens.Applicant,
    *,
    imei: str,
    shop: str,
    purchased_on: dt.date,
    receipt: Upload,
    language: str,
    settings: Settings,
    now: dt.datetime,
) -> PurchaseDeclaration:
    """Declare a device bought abroad; it waits for the trip home and its first sighting."""
    if problems := form_problems(imei, shop, purchased_on, receipt, settings, now):
        raise problems[0]
    key = identifiers.parse_imei(imei).key
    _check_device(db, applicant.iin, key)
    _check_rate(db, applicant.iin, settings, now)
    content_type = check_upload(receipt, settings.citizens.max_document_bytes)
    declaration = PurchaseDeclaration(
        public_id=citizens.new_public_id(),
        iin=applicant.iin,
        msisdn=applicant.msisdn,
        imei=key,
        shop=shop.strip(),
        purchased_on=purchased_on,
        language=language,
        status=DeclarationStatus.PENDING.value,
        receipt_id=write_file(settings.documents_dir, receipt.data),
        receipt_filename=(receipt.filename or "receipt").rsplit("/", 1)[-1][:256],
        receipt_type=content_type,
        receipt_size=len(receipt.data),
        receipt_sha256=hashlib.sha256(receipt.data).hexdigest(),
        created_at=now,
        expires_on=purchased_on + dt.timedelta(days=settings.citizens.declaration_valid_days),
    )
    db.add(declaration)
    db.flush()
    audit.record(
        db,
        actor=f"citizen:{applicant.iin}",
        action="citizens.declare_purchase",
        object_type="purchase_declaration",
        object_id=declaration.public_id,
        details={"imei": key, "purchased_on": purchased_on.isoformat(), "shop": declaration.shop},
    )
    return declaration


def declarations_of(db: Session, iin: str) -> list[PurchaseDeclaration]:
    return list(
        db.scalars(
            select(PurchaseDeclaration)
            .where(PurchaseDeclaration.iin == iin)
            .order_by(PurchaseDeclaration.created_at.desc(), PurchaseDeclaration.id.desc())
        )
    )


def applications_of(db: Session, declarations: list[PurchaseDeclaration]) -> dict[int, str]:
    """Application id -> public id of the personal imports these declarations became."""
    ids = [d.application_id for d in declarations if d.application_id is not None]
    if not ids:
        return {}
    rows = db.execute(select(Application.id, Application.public_id).where(Application.id.in_(ids)))
    return {row[0]: row[1] for row in rows}


def declaration_of(db: Session, iin: str, public_id: str) -> PurchaseDeclaration:
    """The citizen's own declaration; another's answers exactly like one that does not exist."""
    declaration = db.scalar(
        select(PurchaseDeclaration).where(
            PurchaseDeclaration.public_id == public_id.strip().upper()[:16],
            PurchaseDeclaration.iin == iin,
        )
    )
    if declaration is None:
        raise NotFound("No such declaration.")
    return declaration


def withdraw(db: Session, iin: str, public_id: str, now: dt.datetime) -> PurchaseDeclaration:
    declaration = declaration_of(db, iin, public_id)
    if declaration.status != DeclarationStatus.PENDING:
        raise DeclarationRefused("not_pending")
    declaration.status = DeclarationStatus.WITHDRAWN.value
    declaration.resolved_at = now
    audit.record(
        db,
        actor=f"citizen:{iin}",
        action="citizens.withdraw_declaration",
        object_type="purchase_declaration",
        object_id=declaration.public_id,
        details={"imei": declaration.imei},
    )
    db.flush()
    return declaration


# --- the classification run's side ---------------------------------------------------------------


def pending_keys(db: Session, run_date: dt.date) -> list[str]:
    """The IMEIs of declarations still waiting; those past their day expire first."""
    db.execute(
        update(PurchaseDeclaration)
        .where(
            PurchaseDeclaration.status == DeclarationStatus.PENDING,
            PurchaseDeclaration.expires_on < run_date,
        )
        .values(status=DeclarationStatus.EXPIRED.value)
    )
    return sorted(
        set(
            db.scalars(
                select(PurchaseDeclaration.imei).where(
                    PurchaseDeclaration.status == DeclarationStatus.PENDING
                )
            )
        )
    )


def register_sighted(
    db: Session, first_seen: Mapping[str, dt.date], settings: Settings, now: dt.datetime
) -> list[str]:
    """Declared devices the run sees (key -> the first day any network saw it): each whose
    buyer's trip home is on record becomes a personal import decided at once. The keys that
    were registered are returned, for the run to treat as registered already."""
    if not first_seen:
        return []
    declarations = db.scalars(
        select(PurchaseDeclaration)
        .where(
            PurchaseDeclaration.status == DeclarationStatus.PENDING,
            PurchaseDeclaration.imei.in_(list(first_seen)),
        )
        .order_by(PurchaseDeclaration.created_at, PurchaseDeclaration.id)
    ).all()
    stolen = set(
        db.scalars(
            select(StolenDevice.imei).where(
                StolenDevice.imei.in_(list(first_seen)), StolenDevice.cancelled_at.is_(None)
            )
        )
    )
    registered: list[str] = []
    done: set[str] = set()
    for declaration in declarations:
        key = declaration.imei
        if key in done or key in stolen:
            continue
        trip = trip_around(db, declaration.iin, declaration.purchased_on, seen_on=first_seen[key])
        if not trip.confirmed or trip.entered_at is None:
            continue  # no trip on record (yet): the device takes the normal path
        done.add(key)
        application = _file_import(db, declaration, trip, first_seen[key], settings, now)
        if application.status == ApplicationStatus.APPROVED:
            declaration.status = DeclarationStatus.REGISTERED.value
            registered.append(key)
        else:
            declaration.status = DeclarationStatus.NEEDS_REVIEW.value
        declaration.resolved_at = now
        declaration.application_id = application.id
        audit.record(
            db,
            actor=ACTOR,
            action="citizens.declaration_matched",
            object_type="purchase_declaration",
            object_id=declaration.public_id,
            details={
                "imei": key,
                "application": application.public_id,
                "status": declaration.status,
                "crossings": [trip.exit_id, trip.entry_id],
            },
        )
    db.flush()
    return registered


def _file_import(
    db: Session,
    declaration: PurchaseDeclaration,
    trip: TripCheck,
    first_seen: dt.date,
    settings: Settings,
    now: dt.datetime,
) -> Application:
    entered_at = trip.entered_at
    assert entered_at is not None
    application = citizens.file_on_behalf(
        db,
        citizens.Applicant(declaration.iin, declaration.msisdn),
        key=declaration.imei,
        entered_on=entered_at.astimezone(citizens.ALMATY).date(),
        travel_from=None,  # the exit is among the crossings the evidence names
        check={
            "findings": [],
            "crossings": [r for r in (trip.exit_id, trip.entry_id) if r],
            "entered_at": entered_at.isoformat(),
            "first_seen": first_seen.isoformat(),
            "first_seen_source": "sightings (classification run)",
            "declaration": declaration.public_id,
            "shop": declaration.shop,
            "purchased_on": declaration.purchased_on.isoformat(),
        },
        language=declaration.language,
        settings=settings,
        now=now,
    )
    # The receipt joins the case file, the same stored file under the application.
    db.add(
        Document(
            id=declaration.receipt_id,
            application_id=application.id,
            kind="receipt",
            filename=declaration.receipt_filename,
            content_type=declaration.receipt_type,
            size=declaration.receipt_size,
            sha256=declaration.receipt_sha256,
            uploaded_at=declaration.created_at,
        )
    )
    return application
