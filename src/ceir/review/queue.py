"""The officers' queue of applications and the case file an officer decides one from."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ceir.audit.service import record
from ceir.borders.models import BorderCrossing
from ceir.citizens import deadlines
from ceir.citizens.models import Application, ApplicationEvent, ApplicationStatus, Document
from ceir.config import Settings, get_settings
from ceir.errors import Forbidden, NotFound
from ceir.network.models import BlockPause, DeviceState, DeviceStateChange
from ceir.registry.models import Device, DeviceImei, Registration
from ceir.review.models import Officer
from ceir.review.officers import Permission, actor_of, can, require
from ceir.tac.models import TacModel

DOCUMENT_ID_PATTERN = re.compile(r"[0-9a-f]{32}")  # as ceir.citizens.documents makes them

# Border crossings shown around the stated trip: from this long before the departure (or before
# the entry when no departure was given) to this long after the entry.
CROSSINGS_BEFORE = dt.timedelta(days=30)
CROSSINGS_AFTER = dt.timedelta(days=30)
TRIP_WHEN_UNKNOWN = dt.timedelta(days=90)


ALMATY = ZoneInfo("Asia/Almaty")

UNASSIGNED: Literal["nobody"] = "nobody"  # the queue filter for cases nobody has taken


@dataclass(frozen=True)
class QueueItem:
    application: Application
    waiting: dt.timedelta
    assignee: str | None  # username
    overdue: bool = False  # still undecided past its deadline


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
    today = now.astimezone(ALMATY).date()
    overdue = (Application.status == ApplicationStatus.IN_REVIEW) & (Application.deadline < today)
    # Overdue cases rise to the top of a supervisor's queue: they answer for the deadline.
    first = [sql_case((overdue, 0), else_=1)] if can(officer, Permission.REASSIGN) else []
    rows = list(
        db.scalars(
            query.order_by(*first, Application.created_at, Application.id)
            .limit(max(1, min(limit, 200)))
            .offset(max(0, offset))
        )
    )
    names = usernames(db, {a.assigned_to for a in rows if a.assigned_to is not None})
    items = [
        QueueItem(
            application=a,
            waiting=(a.decided_at or now) - a.created_at,
            assignee=names.get(a.assigned_to) if a.assigned_to is not None else None,
            overdue=a.status == ApplicationStatus.IN_REVIEW
            and deadlines.is_overdue(a.deadline, today),
        )
        for a in rows
    ]
    return QueuePage(items=items, total=total)


def usernames(db: Session, ids: set[int]) -> dict[int, str]:
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


def open_case(db: Session, ref: int | str, officer: Officer) -> Application:
    require(officer, Permission.REVIEW)
    application = _application(db, ref)
    if not _may_open(officer, application):
        raise Forbidden("This case is assigned to another officer.")
    return application


def case(db: Session, application_id: int | str, officer: Officer) -> CaseFile:
    """Everything an officer needs to decide one application; the view itself is audited."""
    application = open_case(db, application_id, officer)
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
    application = open_case(db, document.application_id, officer)
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
