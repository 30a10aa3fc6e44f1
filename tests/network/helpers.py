"""Building operator dumps and running days of enforcement in tests."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.orm import Session

from ceir.config import Settings
from ceir.network.classify import RunReport, classify
from ceir.network.dumps import import_dump

Row = tuple[str, str, str]  # imei, imsi, msisdn


def write_dump(
    folder: Path,
    operator: str,
    day: dt.date,
    rows: Iterable[Row],
    header: str = "date,imei,imsi,msisdn,rat",
    gz: bool = True,
) -> Path:
    name = f"{operator}_{day:%Y%m%d}_{day:%Y%m%d}.csv" + (".gz" if gz else "")
    path = folder / name
    opener = gzip.open if gz else open
    with opener(path, "wt", newline="", encoding="utf-8") as handle:  # type: ignore[operator]
        writer = csv.writer(handle)
        writer.writerow(header.split(","))
        for imei, imsi, msisdn in rows:
            writer.writerow(
                [f"{day:%Y%m%d}", imei, imsi, msisdn, "104|001"][: len(header.split(","))]
            )
    return path


def run_day(
    db: Session, settings: Settings, folder: Path, day: dt.date, dumps: dict[str, list[Row]]
) -> RunReport:
    """Import each operator's dump for the day, then classify it."""
    for operator, rows in dumps.items():
        import_dump(
            db,
            write_dump(folder, operator, day, rows),
            operator=operator,
            actor="test",
            settings=settings,
            today=day,
        )
        db.commit()
    return classify(db, run_date=day, actor="test", settings=settings)


def read_list(settings: Settings, run_id: int, operator: str, name: str) -> list[dict[str, str]]:
    path = settings.lists_dir / str(run_id) / operator / name
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def filler(count: int, operator_mnc: str = "02", start: int = 0) -> list[Row]:
    """Registered-looking traffic so that a few odd rows stay under the import thresholds."""
    from tests.factories import make_imei

    return [
        (
            make_imei("35467819", start + n),
            f"401{operator_mnc}{start + n:010d}",
            f"7701{start + n:07d}",
        )
        for n in range(count)
    ]
