"""A realistic demo data set, loaded through the same imports that production files go through."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import random
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from ceir import identifiers
from ceir.db import session_scope
from ceir.errors import FileRejected
from ceir.registry.service import import_declarations
from ceir.tac.service import import_tac_file

# Made-up TACs in the shape of real allocations; the brands and models are real so the page reads
# like the real thing, but none of these TACs is claimed to be GSMA's.
DEMO_MODELS: list[tuple[str, str, str, str, str, int]] = [
    # tac, brand, marketing name, model, operating system, IMEIs per device
    ("35467819", "Apple", "iPhone 17 Pro", "A3523", "iOS", 2),
    ("35467820", "Apple", "iPhone 17", "A3519", "iOS", 2),
    ("35391116", "Apple", "iPhone 16", "A3287", "iOS", 2),
    ("35289511", "Apple", "iPhone 15", "A3090", "iOS", 2),
    ("35118722", "Samsung", "Galaxy S25 Ultra", "SM-S938B/DS", "Android", 2),
    ("35118723", "Samsung", "Galaxy A56 5G", "SM-A566B/DS", "Android", 2),
    ("35098114", "Samsung", "Galaxy A16", "SM-A165F/DS", "Android", 2),
    ("86241507", "Xiaomi", "Redmi Note 14 Pro", "24115RA8EG", "Android", 2),
    ("86241508", "Xiaomi", "Xiaomi 15", "24129PN74G", "Android", 2),
    ("86302204", "Xiaomi", "POCO X7", "24095PCADG", "Android", 2),
    ("86017303", "Huawei", "nova 13", "BLK-LX9", "HarmonyOS", 2),
    ("86455806", "HONOR", "HONOR 400", "DNP-NX9", "Android", 2),
    ("86811209", "realme", "realme 14 Pro+", "RMX5051", "Android", 2),
    ("86770110", "OPPO", "Reno13 F", "CPH2701", "Android", 2),
    ("86514911", "vivo", "V50", "V2427", "Android", 2),
    ("35673412", "Google", "Pixel 9a", "GTF7P", "Android", 1),
    ("35884013", "Nokia", "Nokia 105 4G", "TA-1551", "Series 30+", 2),
]


@dataclass
class DemoSummary:
    registered: int = 0
    tac_models: int = 0
    examples: dict[str, str] = field(default_factory=dict)
    notified: int = 0
    citizen: tuple[str, str] | None = None  # IIN, phone number
    officer: tuple[str, str] | None = None  # username, password (made now, shown once)
    officer_exists: str | None = None  # username of the officer an earlier run made


def _imei(tac: str, serial: int) -> str:
    key = f"{tac}{serial:06d}"
    return key + str(identifiers.luhn_check_digit(key))


def write_demo_files(folder: Path, *, devices: int, seed: int) -> tuple[Path, Path, list[str]]:
    """Write a TAC file and a declarations file; returns them and IMEIs left unregistered."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    tac_path = folder / "tac.csv"
    with tac_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="|")
        writer.writerow(
            [
                "TAC",
                "Marketing Name",
                "Brand Name",
                "Model Name",
                "Device Type",
                "Operating System",
                "Allocation Date",
            ]
        )
        for tac, brand, marketing, model, os_name, _ in DEMO_MODELS:
            writer.writerow([tac, marketing, brand, model, "Smartphone", os_name, "2024-09-01"])

    importers = ["960440000220", "050740004819", "100140011059"]
    valid_importers = [b for b in importers if _is_bin(b)] or [_make_bin(rng)]
    unregistered: list[str] = []
    used: set[str] = set()
    declarations_path = folder / "declarations.csv"
    with declarations_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "declaration_number",
                "declaration_date",
                "importer_bin",
                "brand",
                "model",
                "imei1",
                "imei2",
            ]
        )
        for i in range(devices):
            tac, brand, marketing, _, _, slots = rng.choice(DEMO_MODELS)
            imeis: list[str] = []
            while len(imeis) < slots:
                candidate = _imei(tac, rng.randrange(1, 999_999))
                if candidate not in used:
                    used.add(candidate)
                    imeis.append(candidate)
            if i % 8 == 7:  # one device in eight came in past customs: not in the registry
                unregistered.append(imeis[0])
                continue
            day = dt.date(2025, 4, 1) + dt.timedelta(days=(i // 100))
            number = f"50508/{day:%d%m%y}/{1000000 + i // 100:07d}"
            writer.writerow(
                [
                    number,
                    day.isoformat(),
                    valid_importers[(i // 100) % len(valid_importers)],
                    brand,
                    marketing,
                    *imeis,
                    *([""] * (2 - len(imeis))),
                ]
            )
    return tac_path, declarations_path, unregistered


def _is_bin(value: str) -> bool:
    try:
        identifiers.parse_bin(value)
    except identifiers.IdentifierError:
        return False
    return True


def _make_bin(rng: random.Random) -> str:
    while True:
        first = (
            f"{rng.randrange(0, 99):02d}{rng.randrange(1, 13):02d}4{rng.randrange(0, 10**6):06d}"
        )
        digit = identifiers.iin_check_digit(first)
        if digit is not None:
            return first + str(digit)


def load_demo(folder: Path, *, devices: int, seed: int, actor: str) -> DemoSummary:
    tac_path, declarations_path, unregistered = write_demo_files(folder, devices=devices, seed=seed)
    summary = DemoSummary(tac_models=len(DEMO_MODELS))
    with session_scope() as session:
        import_tac_file(session, tac_path, actor=actor)
    try:
        with session_scope() as session:
            report = import_declarations(session, declarations_path, actor=actor)
    except FileRejected as exc:  # a demo that cannot load is a bug: show why
        raise RuntimeError(f"demo declarations refused: {exc.report}") from exc
    summary.registered = report.rows_accepted + report.rows_skipped
    with declarations_path.open(encoding="utf-8") as handle:
        next(handle)
        first = next(csv.reader(handle))
    summary.examples = {
        "registered": first[5],
        "not registered": unregistered[0],
        "invalid": first[5][:-1] + str((int(first[5][-1]) + 1) % 10),
        "unknown TAC": _imei("99000001", 123456),
    }
    _load_network_and_people(folder, summary, declarations_path, unregistered, seed)
    return summary


DEMO_PHONE = "77011234567"


def _blocked_example(imei: str, today: dt.date) -> str:
    """One unregistered IMEI as it stands once its grace period is over: blocked, to try."""
    from ceir.network.models import DeviceState, DeviceStateName

    key = identifiers.parse_imei(imei).key
    noticed = today - dt.timedelta(days=45)
    with session_scope() as session:
        state = session.get(DeviceState, key)
        if state is None:
            state = DeviceState(imei=key, updated_run=0)
            session.add(state)
        state.state = DeviceStateName.BLOCKED
        state.reasons = "not_registered"
        state.first_noncompliant = noticed
        state.block_date = state.blocked_on = noticed + dt.timedelta(days=30)
    return imei


def _demo_iin() -> str:
    """A valid IIN (born 1990-01-01, a man) for the demo citizen."""
    for serial in range(1, 10_000):
        first = f"9001013{serial:04d}"
        digit = identifiers.iin_check_digit(first)
        if digit is not None:
            return first + str(digit)
    raise RuntimeError("no IIN could be made")


def _load_network_and_people(
    folder: Path, summary: DemoSummary, declarations: Path, unregistered: list[str], seed: int
) -> None:
    """A day of Kcell traffic classified, a citizen with a trip on record, an officer."""
    from ceir.borders.service import import_crossings_file
    from ceir.network.classify import RunHeld, classify, confirm_held_run
    from ceir.network.dumps import import_dump
    from ceir.network.models import ClassificationRun
    from ceir.network.subscribers import import_subscribers
    from ceir.review.models import Officer
    from ceir.review.officers import create_officer

    rng = random.Random(seed)
    iin = _demo_iin()
    today = dt.datetime.now(dt.UTC).date()
    day = today - dt.timedelta(days=1)
    subscribers = folder / "kcell-subscribers.csv"
    with subscribers.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["msisdn", "iin", "since", "language"])
        writer.writerow([DEMO_PHONE, iin, "2020-01-01", "ru"])
    crossings = folder / "crossings.csv"
    with crossings.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "iin", "direction", "crossed_at", "checkpoint", "country"])
        writer.writerow(
            [
                "DEMO-1",
                iin,
                "exit",
                f"{today - dt.timedelta(days=20)}T09:00:00+05:00",
                "ALA airport",
                "TR",
            ]
        )
        writer.writerow(
            [
                "DEMO-2",
                iin,
                "entry",
                f"{today - dt.timedelta(days=10)}T18:30:00+05:00",
                "ALA airport",
                "TR",
            ]
        )
    with declarations.open(encoding="utf-8") as handle:
        registered = [row[5] for row in list(csv.reader(handle))[1:]]
    dump = folder / f"kcell_{day:%Y%m%d}_{day:%Y%m%d}.csv.gz"
    with gzip.open(dump, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "imei", "imsi", "msisdn", "rat"])
        for n, imei in enumerate(registered + unregistered):
            writer.writerow(
                [f"{day:%Y%m%d}", imei, f"40102{n:010d}", f"7701{rng.randrange(10**7):07d}", "104"]
            )
    with session_scope() as session:
        import_subscribers(session, subscribers, operator="kcell", actor="demo")
        import_crossings_file(session, crossings, actor="demo")
        import_dump(session, dump, operator="kcell", actor="demo", today=today)
    with session_scope() as session:
        if session.scalar(select(Officer.id).where(Officer.username == "demo.officer")) is None:
            password = secrets.token_urlsafe(12)
            create_officer(
                session,
                "demo.officer",
                "Demo Officer",
                password,
                ["reviewer", "supervisor"],
                "demo",
            )
            summary.officer = ("demo.officer", password)
        else:
            summary.officer_exists = "demo.officer"
    with session_scope() as session:
        latest = session.scalar(select(func.max(ClassificationRun.run_date)))
        due = latest is None or latest <= day
    if due:
        try:
            with session_scope() as session:
                report = classify(session, run_date=day, actor="demo")
        except RunHeld as held:
            # A first day is all new to the safety brake; the demo's supervisor lets it through,
            # as a real one would after a look (`ceir network classify --confirm-run`).
            with session_scope() as session:
                report = confirm_held_run(
                    session, run_id=held.run_id, supervisor="demo.officer", actor="demo"
                )
        summary.notified = int(report.counts.get("notified", 0))
    summary.citizen = (iin, "+7 701 123 45 67")
    summary.examples["blocked"] = _blocked_example(unregistered[1], today)
