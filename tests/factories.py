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
from ceir.citizens.models import Application
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
