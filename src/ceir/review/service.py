"""Officers' back office: accounts, sign-in with lockout, sessions, the queue, cases, decisions."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from ceir.audit.service import record
from ceir.borders.models import BorderCrossing
from ceir.citizens.models import Application, ApplicationEvent, ApplicationStatus, Document
from ceir.citizens.service import decide_application
from ceir.config import Settings, get_settings
from ceir.errors import CeirError, Forbidden, InvalidInput, NotFound
from ceir.network.models import BlockPause, DeviceState, DeviceStateChange
from ceir.registry.models import Device, DeviceImei, Registration
from ceir.review.models import Officer, OfficerSession, Role
from ceir.tac.models import TacModel

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024  # argon2 hashes anything, but a megabyte "password" is an attack
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
DOCUMENT_ID_PATTERN = re.compile(r"[0-9a-f]{32}")  # as ceir.citizens.documents makes them

# Border crossings shown around the stated trip: from this long before the departure (or before
# the entry when no departure was given) to this long after the entry.
CROSSINGS_BEFORE = dt.timedelta(days=30)
CROSSINGS_AFTER = dt.timedelta(days=30)
TRIP_WHEN_UNKNOWN = dt.timedelta(days=90)

# argon2id with the library's defaults (RFC 9106 "low memory" profile); old hashes are upgraded
# at the next sign-in when the parameters change.
_hasher = PasswordHasher()
_dummy_hash: list[str] = []


class Permission(enum.StrEnum):
    REVIEW = "review"  # the queue, case files and their documents
    DECIDE = "decide"
    REASSIGN = "reassign"
    REVERSE = "reverse"
    READ_AUDIT = "read_audit"


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.REVIEWER: frozenset({Permission.REVIEW, Permission.DECIDE}),
    Role.SUPERVISOR: frozenset(Permission),
    # Auditors read the trail of who did what; they neither decide nor open citizens' files.
    Role.AUDITOR: frozenset({Permission.READ_AUDIT}),
    # The police act only on lost and stolen reports (review/police_pages.py checks the role).
    Role.POLICE: frozenset(),
}


class SignInRequired(CeirError):
    code = "sign_in_required"
    status = 401
    title = "Sign-in required"


class WrongState(CeirError):
    """The application is not in a state that allows this action (decided twice, ...)."""

    code = "wrong_state"
    status = 409
    title = "Conflict"


@dataclass(frozen=True)
class ReasonTemplate:
    """A reason an officer picks for a decision; the texts are what the citizen is told."""

    outcome: Literal["approve", "reject", "any"]
    texts: dict[str, str]


# The codes the citizens' side also knows (ceir.citizens.service.REASONS) are used as they are,
# so that the citizen's page and SMS say the same thing in their language.
REASONS: dict[str, ReasonTemplate] = {
    "documents_confirm_trip": ReasonTemplate(
        "approve",
        {
            "ru": "Поездка и ввоз устройства подтверждены документами.",
            "kk": "Сапар мен құрылғыны әкелу құжаттармен расталды.",
            "en": "The trip and the import of the device are confirmed by the documents.",
        },
    ),
    "purchase_abroad_confirmed": ReasonTemplate(
        "approve",
        {
            "ru": "Покупка устройства за рубежом подтверждена чеком.",
            "kk": "Құрылғының шетелде сатып алынғаны чекпен расталды.",
            "en": "The purchase of the device abroad is confirmed by the receipt.",
        },
    ),
    "documents_unreadable": ReasonTemplate(
        "reject",
        {
            "ru": "Приложенные документы невозможно прочитать.",
            "kk": "Тіркелген құжаттарды оқу мүмкін емес.",
            "en": "The attached documents cannot be read.",
        },
    ),
    "no_proof_of_trip": ReasonTemplate(
        "reject",
        {
            "ru": "Нет подтверждения ввоза устройства из-за рубежа.",
            "kk": "Құрылғының шетелден әкелінгені расталмады.",
            "en": "There is no proof that the device was brought from abroad.",
        },
    ),
    "seen_before_entry": ReasonTemplate(
        "reject",
        {
            "ru": "Устройство работало в сети Казахстана до указанной поездки.",
            "kk": "Құрылғы көрсетілген сапарға дейін Қазақстан желісінде жұмыс істеген.",
            "en": "The device was used on a Kazakh network before the stated trip.",
        },
    ),
    "tac_mismatch": ReasonTemplate(
        "reject",
        {
            "ru": "IMEI принадлежит другой модели, чем указанная в заявке.",
            "kk": "IMEI өтінімде көрсетілген модельге емес, басқа модельге тиесілі.",
            "en": "The IMEI belongs to another model than the one in the application.",
        },
    ),
    "other": ReasonTemplate(
        "any",
        {
            "ru": "Другая причина (см. комментарий).",
            "kk": "Басқа себеп (түсініктемені қараңыз).",
            "en": "Another reason (see the note).",
        },
    ),
}
# A free-text reason must say what it is: "other" needs a note.
REASON_NEEDING_NOTE = "other"
NOTE_MAX_LENGTH = 1000


def reason_text(code: str, lang: str) -> str:
    template = REASONS.get(code)
    if template is None:
        return code
    return template.texts.get(lang) or template.texts["ru"]


def reasons_for(outcome: Literal["approve", "reject"]) -> list[str]:
    return [code for code, r in REASONS.items() if r.outcome in (outcome, "any")]


# --- officers -------------------------------------------------------------------------------


def roles_of(officer: Officer) -> frozenset[Role]:
    known = {r.value for r in Role}
    return frozenset(Role(r) for r in officer.roles.split() if r in known)


def permissions_of(officer: Officer) -> frozenset[Permission]:
    granted: frozenset[Permission] = frozenset()
    for role in roles_of(officer):
        granted |= PERMISSIONS[role]
    return granted


def can(officer: Officer, permission: Permission) -> bool:
    return officer.active and permission in permissions_of(officer)


def require(officer: Officer, permission: Permission) -> None:
    if not can(officer, permission):
        raise Forbidden(
            f"Officer {officer.username!r} may not {permission.value.replace('_', ' ')}."
        )


def actor_of(officer: Officer) -> str:
    """How an officer is named in the audit log and in decisions."""
    return f"officer:{officer.username}"


def _hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _dummy() -> str:
    # Made once per process: unknown usernames cost the same argon2 work as known ones.
    if not _dummy_hash:
        _dummy_hash.append(_hasher.hash(secrets.token_urlsafe(16)))
    return _dummy_hash[0]


def check_password_policy(password: str, username: str) -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput(f"The password must have at least {PASSWORD_MIN_LENGTH} characters.")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidInput(f"The password must have at most {PASSWORD_MAX_LENGTH} characters.")
    if username.lower() in password.lower():
        raise InvalidInput("The password must not contain the username.")
    if len(set(password)) < 5:
        raise InvalidInput("The password must not repeat a few characters.")


def parse_roles(roles: set[str] | list[str] | tuple[str, ...]) -> list[Role]:
    known = {r.value for r in Role}
    wrong = sorted(set(roles) - known)
    if wrong:
        raise InvalidInput(
            f"Unknown roles {', '.join(wrong)}; roles are {', '.join(sorted(known))}."
        )
    if not roles:
        raise InvalidInput("Give at least one role.")
    return sorted((Role(r) for r in set(roles)), key=lambda r: r.value)


def create_officer(
    db: Session,
    username: str,
    full_name: str,
    password: str,
    roles: set[str] | list[str] | tuple[str, ...],
    actor: str,
    now: dt.datetime | None = None,
) -> Officer:
    username = username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidInput(
            "The username must be 2 to 64 characters: Latin letters, digits, '.', '_' or '-'."
        )
    full_name = full_name.strip()
    if not full_name or len(full_name) > 128:
        raise InvalidInput("The full name must be 1 to 128 characters.")
    check_password_policy(password, username)
    parsed = parse_roles(roles)
    if db.scalar(select(Officer.id).where(Officer.username == username)) is not None:
        raise InvalidInput(f"There is already an officer {username!r}.")
    officer = Officer(
        username=username,
        full_name=full_name,
        password_hash=_hash_password(password),
        roles=" ".join(r.value for r in parsed),
        active=True,
        failed_logins=0,
        locked_until=None,
        created_at=now or dt.datetime.now(dt.UTC),
    )
    db.add(officer)
    db.flush()
    record(
        db,
        actor=actor,
        action="officer.create",
        object_type="officer",
        object_id=username,
        details={"roles": [r.value for r in parsed], "full_name": full_name},
    )
    return officer


def get_officer(db: Session, username: str) -> Officer:
    officer = db.scalar(select(Officer).where(Officer.username == username.strip().lower()))
    if officer is None:
        raise NotFound(f"No officer {username!r}.")
    return officer


def list_officers(db: Session) -> list[Officer]:
    return list(db.scalars(select(Officer).order_by(Officer.username)))


def reviewers(db: Session) -> list[Officer]:
    """Active officers a case can be assigned to."""
    return [o for o in list_officers(db) if can(o, Permission.DECIDE)]


def disable_officer(db: Session, username: str, actor: str, now: dt.datetime) -> Officer:
    """Disable an account and end its sessions at once."""
    officer = get_officer(db, username)
    officer.active = False
    db.execute(
        update(OfficerSession)
        .where(OfficerSession.officer_id == officer.id, OfficerSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    record(db, actor=actor, action="officer.disable", object_type="officer", object_id=username)
    return officer


def unlock_officer(db: Session, username: str, actor: str) -> Officer:
    officer = get_officer(db, username)
    officer.failed_logins = 0
    officer.locked_until = None
    record(db, actor=actor, action="officer.unlock", object_type="officer", object_id=username)
    return officer


def authenticate(
    db: Session,
    username: str,
    password: str,
    now: dt.datetime,
    client: str,
    settings: Settings | None = None,
) -> Officer | None:
    """The officer, or None for any failure; the caller cannot (and must not) tell which.

    Every path verifies one argon2 hash, so the answer takes as long for an unknown username, a
    locked or disabled account as for a wrong password. Failures are counted in the database (the
    caller must commit even when this returns None); the limit locks the account for a while.
    """
    policy = (settings or get_settings()).officers
    name = username.strip().lower()
    officer = None
    if USERNAME_PATTERN.fullmatch(name):
        officer = db.scalar(select(Officer).where(Officer.username == name))
    if officer is None:
        _verify_password(_dummy(), password)
        # The username itself is not kept: people type their password into it by mistake.
        _audit_sign_in(db, "officer.sign_in_failed", "?", client, "unknown_username")
        return None
    locked = officer.locked_until is not None and officer.locked_until > now
    if locked or not officer.active:
        _verify_password(_dummy(), password)
        why = "locked" if locked else "disabled"
        _audit_sign_in(db, "officer.sign_in_failed", officer.username, client, why)
        return None
    if not _verify_password(officer.password_hash, password):
        # Counted in SQL so that parallel attempts cannot overwrite each other's counts.
        db.execute(
            update(Officer)
            .where(Officer.id == officer.id)
            .values(failed_logins=Officer.failed_logins + 1)
        )
        db.refresh(officer)
        _audit_sign_in(db, "officer.sign_in_failed", officer.username, client, "wrong_password")
        if officer.failed_logins >= policy.max_failed_logins:
            officer.failed_logins = 0
            officer.locked_until = now + dt.timedelta(minutes=policy.lockout_minutes)
            _audit_sign_in(db, "officer.locked", officer.username, client, "too_many_failures")
        return None
    officer.failed_logins = 0
    officer.locked_until = None
    if _hasher.check_needs_rehash(officer.password_hash):
        officer.password_hash = _hash_password(password)
    _audit_sign_in(db, "officer.sign_in", officer.username, client, None)
    return officer


def _audit_sign_in(db: Session, action: str, username: str, client: str, why: str | None) -> None:
    details: dict[str, object] = {"client": client[:64]}
    if why:
        details["reason"] = why
    record(
        db,
        actor=f"officer:{username}",
        action=action,
        object_type="officer",
        object_id=username,
        details=details,
    )


# --- sessions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    officer: Officer
    session: OfficerSession


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    db: Session, officer: Officer, now: dt.datetime, settings: Settings | None = None
) -> tuple[str, OfficerSession]:
    """A new session; the token goes in the cookie and only its hash in the table."""
    hours = (settings or get_settings()).officers.session_hours
    token = secrets.token_urlsafe(32)
    session = OfficerSession(
        token_hash=_token_hash(token),
        officer_id=officer.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + dt.timedelta(hours=hours),
        ended_at=None,
    )
    db.add(session)
    db.flush()
    return token, session


def find_session(db: Session, token: str | None, now: dt.datetime) -> SignedIn | None:
    """The live session of an active officer that `token` stands for, or None."""
    if not token or len(token) > 128:
        return None
    row = db.execute(
        select(OfficerSession, Officer)
        .join(Officer, Officer.id == OfficerSession.officer_id)
        .where(
            OfficerSession.token_hash == _token_hash(token),
            OfficerSession.ended_at.is_(None),
            OfficerSession.expires_at > now,
            Officer.active.is_(True),
        )
    ).one_or_none()
    if row is None:
        return None
    session, officer = row
    return SignedIn(officer=officer, session=session)


def end_session(db: Session, signed: SignedIn, now: dt.datetime) -> None:
    signed.session.ended_at = now
    record(
        db,
        actor=actor_of(signed.officer),
        action="officer.sign_out",
        object_type="officer",
        object_id=signed.officer.username,
    )


def csrf_matches(signed: SignedIn, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(
        signed.session.csrf_token.encode(), (presented or "").encode()
    )


# --- the queue ------------------------------------------------------------------------------

UNASSIGNED: Literal["nobody"] = "nobody"  # the queue filter for cases nobody has taken


@dataclass(frozen=True)
class QueueItem:
    application: Application
    waiting: dt.timedelta
    assignee: str | None  # username


@dataclass(frozen=True)
class QueuePage:
    items: list[QueueItem]
    total: int


def queue(
    db: Session,
    officer: Officer,
    *,
    now: dt.datetime,
    kind: str | None = None,
    status: str | None = ApplicationStatus.IN_REVIEW,
    assigned_to: int | Literal["nobody"] | None = None,
    older_than: dt.timedelta | None = None,
    limit: int = 50,
    offset: int = 0,
) -> QueuePage:
    """Applications oldest first, with how long each has waited (or waited until decided).

    A reviewer sees the cases assigned to them and those nobody has taken; a supervisor all.
    """
    require(officer, Permission.REVIEW)
    query = select(Application)
    if kind:
        query = query.where(Application.kind == kind)
    if status:
        query = query.where(Application.status == status)
    if assigned_to == UNASSIGNED:
        query = query.where(Application.assigned_to.is_(None))
    elif assigned_to is not None:
        query = query.where(Application.assigned_to == assigned_to)
    if older_than is not None:
        query = query.where(Application.created_at <= now - older_than)
    if not can(officer, Permission.REASSIGN):
        query = query.where(
            (Application.assigned_to.is_(None)) | (Application.assigned_to == officer.id)
        )
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(
        db.scalars(
            query.order_by(Application.created_at, Application.id)
            .limit(max(1, min(limit, 200)))
            .offset(max(0, offset))
        )
    )
    names = _usernames(db, {a.assigned_to for a in rows if a.assigned_to is not None})
    items = [
        QueueItem(
            application=a,
            waiting=(a.decided_at or now) - a.created_at,
            assignee=names.get(a.assigned_to) if a.assigned_to is not None else None,
        )
        for a in rows
    ]
    return QueuePage(items=items, total=total)


def _usernames(db: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.execute(select(Officer.id, Officer.username).where(Officer.id.in_(ids))).all())


# --- the case file --------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredDevice:
    imei: str
    device: Device
    registrations: list[Registration]


@dataclass(frozen=True)
class CaseFile:
    application: Application
    events: list[ApplicationEvent]
    assignee: Officer | None
    tac_model: TacModel | None
    registered: list[RegisteredDevice]
    states: list[DeviceState]
    state_changes: list[DeviceStateChange]
    pauses: list[BlockPause]
    crossings: list[BorderCrossing]
    crossings_from: dt.datetime
    crossings_until: dt.datetime
    documents: list[Document]

    @property
    def imeis(self) -> list[str]:
        return [i for i in (self.application.imei1, self.application.imei2) if i]


def _application(db: Session, ref: int | str) -> Application:
    """By public id (what officers and citizens see) or by internal id."""
    query = select(Application)
    if isinstance(ref, int):
        query = query.where(Application.id == ref)
    else:
        query = query.where(Application.public_id == ref)
    application = db.scalar(query)
    if application is None:
        raise NotFound(f"No application {ref!r}.")
    return application


def _may_open(officer: Officer, application: Application) -> bool:
    """Supervisors open every case; reviewers theirs and the ones nobody has taken."""
    if can(officer, Permission.REASSIGN):
        return True
    return can(officer, Permission.REVIEW) and application.assigned_to in (None, officer.id)


def _open(db: Session, ref: int | str, officer: Officer) -> Application:
    require(officer, Permission.REVIEW)
    application = _application(db, ref)
    if not _may_open(officer, application):
        raise Forbidden("This case is assigned to another officer.")
    return application


def case(db: Session, application_id: int | str, officer: Officer) -> CaseFile:
    """Everything an officer needs to decide one application; the view itself is audited."""
    application = _open(db, application_id, officer)
    imeis = [i for i in (application.imei1, application.imei2) if i]
    registered: list[RegisteredDevice] = []
    for imei in imeis:
        if not imei.isdigit():
            continue
        device = db.scalar(
            select(Device)
            .join(DeviceImei, DeviceImei.device_id == Device.id)
            .where(DeviceImei.imei_key == int(imei))
        )
        if device is not None:
            registrations = list(
                db.scalars(
                    select(Registration)
                    .where(Registration.device_id == device.id)
                    .order_by(Registration.registered_at)
                )
            )
            registered.append(RegisteredDevice(imei, device, registrations))
    start_day = application.travel_from or application.entered_on - TRIP_WHEN_UNKNOWN
    crossings_from = dt.datetime.combine(start_day, dt.time(), tzinfo=dt.UTC) - CROSSINGS_BEFORE
    crossings_until = (
        dt.datetime.combine(application.entered_on, dt.time(), tzinfo=dt.UTC)
        + dt.timedelta(days=1)
        + CROSSINGS_AFTER
    )
    case_file = CaseFile(
        application=application,
        events=list(
            db.scalars(
                select(ApplicationEvent)
                .where(ApplicationEvent.application_id == application.id)
                .order_by(ApplicationEvent.at, ApplicationEvent.id)
            )
        ),
        assignee=db.get(Officer, application.assigned_to) if application.assigned_to else None,
        tac_model=db.get(TacModel, application.imei1[:8]),
        registered=registered,
        states=list(db.scalars(select(DeviceState).where(DeviceState.imei.in_(imeis)))),
        state_changes=list(
            db.scalars(
                select(DeviceStateChange)
                .where(DeviceStateChange.imei.in_(imeis))
                .order_by(DeviceStateChange.on_date, DeviceStateChange.id)
            )
        ),
        pauses=list(
            db.scalars(
                select(BlockPause).where(BlockPause.imei.in_(imeis)).order_by(BlockPause.created_at)
            )
        ),
        crossings=list(
            db.scalars(
                select(BorderCrossing)
                .where(
                    BorderCrossing.iin == application.iin,
                    BorderCrossing.crossed_at >= crossings_from,
                    BorderCrossing.crossed_at < crossings_until,
                )
                .order_by(BorderCrossing.crossed_at)
            )
        ),
        crossings_from=crossings_from,
        crossings_until=crossings_until,
        documents=list(
            db.scalars(
                select(Document)
                .where(Document.application_id == application.id)
                .order_by(Document.uploaded_at, Document.id)
            )
        ),
    )
    record(
        db,
        actor=actor_of(officer),
        action="officer.view_case",
        object_type="application",
        object_id=application.public_id,
    )
    return case_file


def open_document(
    db: Session, document_id: str, officer: Officer, settings: Settings | None = None
) -> tuple[Document, Path]:
    """A document of a case the officer may open, and where its bytes are; audited."""
    require(officer, Permission.REVIEW)
    # The id names the file on disk: only the shape ceir gives ids ever reaches the file system.
    if not DOCUMENT_ID_PATTERN.fullmatch(document_id):
        raise NotFound("No such document.")
    document = db.get(Document, document_id)
    if document is None:
        raise NotFound("No such document.")
    application = _open(db, document.application_id, officer)
    path = (settings or get_settings()).documents_dir / document.id
    if not path.is_file():
        raise NotFound("The document's file is missing.")
    record(
        db,
        actor=actor_of(officer),
        action="officer.view_document",
        object_type="document",
        object_id=document.id,
        details={"application": application.public_id},
    )
    return document, path


# --- decisions ------------------------------------------------------------------------------


def _check_reason(outcome: Literal["approve", "reject"], reason: str, note: str | None) -> None:
    template = REASONS.get(reason)
    if template is None or template.outcome not in (outcome, "any"):
        raise InvalidInput(f"Choose one of the reasons for this outcome: {reasons_for(outcome)}.")
    if reason == REASON_NEEDING_NOTE and not note:
        raise InvalidInput("Explain the reason in the note.")
    if note and len(note) > NOTE_MAX_LENGTH:
        raise InvalidInput(f"The note must be at most {NOTE_MAX_LENGTH} characters.")


def _clean_note(note: str | None) -> str | None:
    return (note or "").strip() or None


def decide(
    db: Session,
    application_id: int | str,
    officer: Officer,
    *,
    approve: bool,
    reason: str,
    note: str | None,
    now: dt.datetime,
    settings: Settings | None = None,
) -> Application:
    """Approve or reject an application in review, through the citizens' service.

    The citizens' service registers (or unblocks) the device, ends the block pause, writes the
    event the citizen sees, the audit entry and the SMS; a reviewer who decides a case nobody had
    taken becomes its assignee.
    """
    require(officer, Permission.DECIDE)
    application = _open(db, application_id, officer)
    note = _clean_note(note)
    _check_reason("approve" if approve else "reject", reason, note)
    if application.status != ApplicationStatus.IN_REVIEW:
        raise WrongState("This application is already decided.")
    if application.assigned_to is None:
        application.assigned_to = officer.id
    return decide_application(
        db,
        application.id,
        approve=approve,
        reason=reason,
        note=note,
        actor=actor_of(officer),
        now=now,
        settings=settings,
    )


def reverse(
    db: Session,
    application_id: int | str,
    officer: Officer,
    *,
    reason: str,
    note: str | None,
    now: dt.datetime,
    settings: Settings | None = None,
) -> Application:
    """A supervisor turns a decision into its opposite; the note must say why."""
    require(officer, Permission.REVERSE)
    application = _open(db, application_id, officer)
    if application.status not in (ApplicationStatus.APPROVED, ApplicationStatus.REJECTED):
        raise WrongState("Only an approved or rejected application can be reversed.")
    approve = application.status == ApplicationStatus.REJECTED
    note = _clean_note(note)
    if not note:
        raise InvalidInput("Explain the reversal in the note.")
    _check_reason("approve" if approve else "reject", reason, note)
    previous = {
        "status": application.status,
        "reason": application.decision_reason,
        "decided_by": application.decided_by,
    }
    decided = decide_application(
        db,
        application.id,
        approve=approve,
        reason=reason,
        note=note,
        actor=actor_of(officer),
        now=now,
        settings=settings,
    )
    record(
        db,
        actor=actor_of(officer),
        action="officer.reverse",
        object_type="application",
        object_id=application.public_id,
        details={"previous": previous, "status": decided.status, "reason": reason},
    )
    return decided


def reassign(
    db: Session,
    application_id: int | str,
    officer: Officer,
    *,
    to_username: str | None,
    now: dt.datetime,
) -> Application:
    """A supervisor gives a case in review to another officer (or back to the common queue)."""
    require(officer, Permission.REASSIGN)
    application = _open(db, application_id, officer)
    if application.status != ApplicationStatus.IN_REVIEW:
        raise WrongState("Only an application in review can be reassigned.")
    target = None
    if to_username:
        target = db.scalar(select(Officer).where(Officer.username == to_username.strip().lower()))
        if target is None or not can(target, Permission.DECIDE):
            raise InvalidInput(f"{to_username!r} is not an active officer who decides cases.")
    before = _usernames(db, {application.assigned_to}) if application.assigned_to else {}
    application.assigned_to = target.id if target else None
    record(
        db,
        actor=actor_of(officer),
        action="officer.reassign",
        object_type="application",
        object_id=application.public_id,
        details={
            "from": next(iter(before.values()), None),
            "to": target.username if target else None,
        },
    )
    return application


# --- the audit log --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    total: int


def search_audit(
    db: Session,
    officer: Officer,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AuditPage:
    """Audit events newest first; exact matches, `action` also as a prefix ending in '.'.

    The search itself is audited: who read the trail is part of the trail.
    """
    require(officer, Permission.READ_AUDIT)
    query = select(AuditEvent)
    if actor:
        query = query.where(AuditEvent.actor == actor.strip())
    if action:
        action = action.strip()
        if action.endswith("."):
            query = query.where(AuditEvent.action.startswith(action, autoescape=True))
        else:
            query = query.where(AuditEvent.action == action)
    if object_id:
        query = query.where(AuditEvent.object_id == object_id.strip())
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    events = list(
        db.scalars(
            query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(max(1, min(limit, 500)))
            .offset(max(0, offset))
        )
    )
    filters = {
        "actor": actor,
        "action": action,
        "object_id": object_id,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "offset": offset or None,
    }
    record(
        db,
        actor=actor_of(officer),
        action="officer.search_audit",
        object_type="audit",
        object_id="audit_events",
        details={k: v for k, v in filters.items() if v is not None},
    )
    return AuditPage(events=events, total=total)
