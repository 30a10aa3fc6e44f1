"""Small builders of real rows and files for tests."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.audit.models import ImportBatch
from ceir.eir import journal
from ceir.network import enforcement
from ceir.network.models import ClassificationRun, ListFile
from ceir.registry.models import Device, DeviceImei, Registration
from ceir.tac.models import TacModel


def make_imei(tac: str = "35467819", serial: int = 1) -> str:
    key = f"{tac}{serial:06d}"
    return key + str(identifiers.luhn_check_digit(key))


def add_tac(
    session: Session, tac: str, brand: str, model: str, marketing_name: str | None = None
) -> TacModel:
    row = TacModel(
        tac=tac,
        brand=brand,
        model=model,
        marketing_name=marketing_name,
        device_type="Smartphone",
        updated_at=dt.datetime.now(dt.UTC),
    )
    session.add(row)
    # As a TAC file's import records its batch: the public check's index then reloads models.
    session.add(
        ImportBatch(
            kind="tac", filename="factory", sha256="0" * 64, actor="test", started_at=row.updated_at
        )
    )
    session.commit()
    return row


def register_device(
    session: Session,
    imeis: Sequence[str],
    brand: str = "Apple",
    model: str = "iPhone 17",
    source: str = "importer_declaration",
    registered_at: dt.datetime | None = None,
) -> Device:
    keys = [identifiers.parse_imei(i).key for i in imeis]
    now = registered_at or dt.datetime.now(dt.UTC)
    device = Device(tac=keys[0][:8], brand=brand, model=model, created_at=now)
    session.add(device)
    session.flush()
    for slot, key in enumerate(keys, 1):
        session.add(DeviceImei(imei_key=int(key), device_id=device.id, slot=slot))
    session.add(Registration(device_id=device.id, source=source, registered_at=now, actor="test"))
    session.commit()
    return device


def write_csv(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], delimiter: str = ","
) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def add_run(
    session: Session, run_date: dt.date = dt.date(2026, 11, 20), *, finished: bool = True
) -> ClassificationRun:
    started = dt.datetime.combine(run_date, dt.time(1), tzinfo=dt.UTC)
    run = ClassificationRun(
        run_date=run_date,
        started_at=started,
        finished_at=started + dt.timedelta(minutes=5) if finished else None,
        actor="test",
        counts={},
    )
    session.add(run)
    session.commit()
    return run


def publish_list_file(
    session: Session,
    lists_dir: Path,
    run: ClassificationRun,
    operator: str,
    name: str = "block_full.csv.gz",
    *,
    kind: str = "block",
    variant: str = "full",
    header: Sequence[str] = ("imei", "block_date", "reasons"),
    rows: Sequence[Sequence[object]] = (),
    data: bytes | None = None,
) -> ListFile:
    """A list file on disk where the API serves it from, and its row in `list_files`."""
    if data is None:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        data = gzip.compress(text.getvalue().encode("utf-8"), mtime=0)
    path = lists_dir / str(run.id) / operator / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    row = ListFile(
        run_id=run.id,
        operator=operator,
        name=name,
        kind=kind,
        variant=variant,
        rows=len(rows),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        created_at=dt.datetime.now(dt.UTC),
    )
    session.add(row)
    session.commit()
    return row


# --- citizens and borders ---------------------------------------------------------------------


def make_iin(birth: str = "900101", serial: int = 1, century_sex: str = "3") -> str:
    """A valid IIN: birth date YYMMDD, century-and-sex digit, serial, check digit."""
    for bump in range(100):
        first11 = f"{birth}{century_sex}{(serial + bump) % 10000:04d}"
        digit = identifiers.iin_check_digit(first11)
        if digit is not None:
            return first11 + str(digit)
    raise ValueError("no valid IIN near that serial")


def add_subscriber(
    session: Session, msisdn: str, iin: str, operator: str = "kcell", language: str | None = "ru"
) -> None:
    from ceir.network.models import Subscriber

    session.add(
        Subscriber(
            msisdn=msisdn,
            iin=iin,
            operator=operator,
            since=dt.date(2020, 1, 1),
            language=language,
            updated_at=dt.datetime.now(dt.UTC),
        )
    )
    session.commit()


def add_trip(
    session: Session,
    iin: str,
    left_on: dt.date,
    entered_on: dt.date,
    *,
    prefix: str = "BS",
    country: str = "TR",
) -> tuple[str, str]:
    """An exit and a later entry of one person (noon, Almaty time); returns the two record ids."""
    from ceir.borders.models import BorderCrossing

    almaty = dt.timezone(dt.timedelta(hours=5))
    ids = (f"{prefix}-{iin}-{left_on:%Y%m%d}-X", f"{prefix}-{iin}-{entered_on:%Y%m%d}-E")
    for record_id, direction, day in ((ids[0], "exit", left_on), (ids[1], "entry", entered_on)):
        session.add(
            BorderCrossing(
                record_id=record_id,
                iin=iin,
                direction=direction,
                crossed_at=dt.datetime.combine(day, dt.time(12), almaty),
                checkpoint="ALA airport",
                country=country,
                imported_at=dt.datetime.now(dt.UTC),
            )
        )
    session.commit()
    return ids


def add_device_state(
    session: Session,
    imei: str,
    state: str = "blocked",
    *,
    first_noncompliant: dt.date = dt.date(2026, 10, 20),
    reasons: str = "not_registered",
) -> None:
    """A non-compliant device as a classification run leaves it (`imei`: 14- or 15-digit)."""
    from ceir.network.models import DeviceState

    session.add(
        DeviceState(
            imei=identifiers.parse_imei(imei).key,
            state=state,
            reasons=reasons,
            first_noncompliant=first_noncompliant,
            block_date=first_noncompliant + dt.timedelta(days=30),
            blocked_on=first_noncompliant + dt.timedelta(days=30) if state == "blocked" else None,
            updated_run=1,
        )
    )
    session.flush()
    # A state written outside a run reaches the real-time index and the public check by journal.
    journal.record(session, enforcement.codes_now(session, [identifiers.parse_imei(imei).key]))
    session.commit()


def add_device_number(session: Session, imei: str, msisdn: str) -> None:
    """A number a classification run saw the non-compliant device with (its notice went there)."""
    from ceir.network.models import DeviceNumber

    session.add(DeviceNumber(imei=identifiers.parse_imei(imei).key, msisdn=msisdn, run_id=1))
    session.commit()


TINY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


# --- officers' back office ---------------------------------------------------------------------

from ceir.citizens.models import Application, Document  # noqa: E402
from ceir.review.models import Officer  # noqa: E402

OFFICER_PASSWORD = "correct horse battery staple"  # test accounts only; ceir ships no accounts


def add_officer(
    session: Session,
    username: str,
    roles: Sequence[str] = ("reviewer",),
    *,
    full_name: str | None = None,
    password: str = OFFICER_PASSWORD,
) -> Officer:
    from ceir.review.officers import create_officer

    officer = create_officer(
        session, username, full_name or username.title(), password, list(roles), "test"
    )
    session.commit()
    return officer


def add_application_in_review(
    session: Session,
    *,
    public_id: str,
    iin: str | None = None,
    imei: str | None = None,
    kind: str = "personal_import",
    created_at: dt.datetime | None = None,
    assigned_to: int | None = None,
    status: str = "in_review",
    travel_from: dt.date | None = dt.date(2026, 10, 1),
    entered_on: dt.date = dt.date(2026, 10, 15),
    language: str = "ru",
) -> Application:
    """An application the automatic check could not confirm: waiting for an officer."""
    imei = imei or make_imei(
        "35467819", int(hashlib.sha256(public_id.encode()).hexdigest(), 16) % 900_000
    )
    application = Application(
        public_id=public_id,
        kind=kind,
        status=status,
        iin=iin or make_iin(),
        msisdn="77011234567",
        imei1=identifiers.parse_imei(imei).key,
        imei2=None,
        brand="Apple",
        model="iPhone 17",
        travel_from=travel_from,
        entered_on=entered_on,
        language=language,
        auto_check={"confirmed": False, "findings": ["no_entry_in_period"], "crossings": []},
        assigned_to=assigned_to,
        created_at=created_at or dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC),
    )
    session.add(application)
    session.commit()
    return application


def add_application_document(
    session: Session,
    documents_dir: Path,
    application: Application,
    data: bytes = TINY_PDF,
    *,
    content_type: str = "application/pdf",
    kind: str = "boarding_pass",
    filename: str = "boarding pass.pdf",
) -> Document:
    """A document row and its file where the citizens' side stores uploads."""
    document_id = hashlib.md5(data + application.public_id.encode(), usedforsecurity=False)
    documents_dir.mkdir(parents=True, exist_ok=True)
    (documents_dir / document_id.hexdigest()).write_bytes(data)
    document = Document(
        id=document_id.hexdigest(),
        application_id=application.id,
        kind=kind,
        filename=filename,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_at=application.created_at,
    )
    session.add(document)
    session.commit()
    return document


# --- statistics -------------------------------------------------------------------------------


def add_decided_application(
    session: Session,
    *,
    public_id: str,
    kind: str,
    status: str,
    created_at: dt.datetime,
    decided_at: dt.datetime,
    iin: str | None = None,
    imei: str | None = None,
) -> Application:
    """An application approved or rejected `decided_at`, filed `created_at`."""
    application = add_application_in_review(
        session, public_id=public_id, iin=iin, imei=imei, kind=kind, created_at=created_at
    )
    application.status = status
    application.decided_at = decided_at
    application.decided_by = "test"
    application.decision_reason = "test"
    session.commit()
    return application


# --- citizens' own devices: lost and stolen reports, hand-overs -------------------------------


def add_owned_device(
    session: Session,
    iin: str,
    imeis: Sequence[str],
    *,
    public_id: str | None = None,
    brand: str = "Apple",
    model: str = "iPhone 17",
) -> Device:
    """A device registered to a citizen as an approved personal import leaves it: the approved
    application and a registration whose evidence names the IIN."""
    keys = [identifiers.parse_imei(i).key for i in imeis]
    public_id = public_id or f"OWN{keys[0][-9:]}"
    device = register_device(session, imeis, brand=brand, model=model, source="personal_import")
    registration = session.query(Registration).filter_by(device_id=device.id).one()
    registration.evidence = {"application": public_id, "kind": "personal_import", "iin": iin}
    application = add_application_in_review(
        session, public_id=public_id, iin=iin, imei=imeis[0], status="approved"
    )
    application.imei2 = keys[1] if len(keys) > 1 else None
    application.device_id = device.id
    application.decided_at = dt.datetime.now(dt.UTC)
    application.decided_by = "system:auto-check"
    application.decision_reason = "trip_confirmed"
    session.commit()
    return device
