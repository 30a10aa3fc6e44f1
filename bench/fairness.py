"""Simulation: a population of owners through notification, registration, appeal and blocking.

The figures ceir is judged by (issue #18): the share of honest owners decided automatically, the
time to a decision, and how many registered or honest devices were ever notified or blocked.

Every owner has a phone, a SIM (subscriber data names their IIN) and a story:

- ``declared``: imported legally; its IMEIs are in a customs declaration. Never needs to act.
- ``second_imei``: a declared dual-SIM phone whose importer declared only the first IMEI; the SIM
  moves to the second slot now and then, so the network sees an unregistered second IMEI.
- ``trip``: brought in by the owner, the trip is in the border records; the owner registers the
  phone some days after the notification SMS (within the grace period).
- ``late``: as ``trip``, but the owner ignores the SMS past the grace period and appeals the
  block with a receipt.
- ``no_record``: brought in honestly, but the border records lack the trip (a land crossing
  never transmitted); the registration goes to an officer, who approves it from the documents.
- ``illegal``: grey import. Most owners never act; some file a registration with a made-up trip,
  which an officer rejects.
- ``stolen``: a declared phone reported stolen by the police on some day.

Each simulated day every operator delivers a dump of the devices active that day, ceir imports
and classifies it (the real code, the real database), then owners and officers act through the
same service functions the portal and the back office call, with the clock set to that day. On
one day an operator's file is damaged (a share of its IMEIs replaced by unknown ones): the safety
brake must hold that run, a supervisor dismisses it, the operator sends the file again.

    .venv/bin/python -m bench.fairness --owners 100000 [--database sqlite|postgresql] [--days 45]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import gzip
import random
import secrets
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.factories import TINY_PDF, add_tac, make_iin

from bench.common import fresh_database, imei, machine
from ceir import db
from ceir.borders.service import import_crossings_file
from ceir.citizens import second_imei as owner_second_imei
from ceir.citizens.documents import Upload
from ceir.citizens.models import Application, ApplicationStatus
from ceir.citizens.service import (
    Applicant,
    ApplicationRefused,
    decide_application,
    file_appeal,
    file_registration,
)
from ceir.citizens.stolen import ReportKind, report_by_police
from ceir.config import Settings
from ceir.network.classify import RunHeld, classify, confirm_held_run, dismiss_held_run
from ceir.network.dumps import import_dump
from ceir.network.models import (
    DeviceState,
    DeviceStateChange,
    LinkStatus,
    SecondImeiCandidate,
)
from ceir.network.subscribers import import_subscribers
from ceir.registry.declarations import import_declarations
from ceir.review.officers import create_officer

ALMATY = dt.timezone(dt.timedelta(hours=5))
SUPERVISOR = "sim.supervisor"
OFFICER = "sim.officer"
IMPORTER_BIN = "960440000220"
# The operators of the simulation: code, MCC+MNC of their SIMs, MSISDN prefix, share of owners.
OPERATORS = (("kcell", "40102", "7701", 0.45), ("beeline", "40101", "7705", 0.35))
OPERATORS += (("tele2", "40177", "7707", 0.20),)
MODELS = (
    ("35467819", "Apple", "A3101", "iPhone 17"),
    ("35328115", "Samsung", "SM-S938B", "Galaxy S25 Ultra"),
    ("86912307", "Xiaomi", "2412DPC0AG", "Redmi Note 14 Pro"),
    ("35209912", "Google", "GUR25", "Pixel 9"),
)
# Most phones on a network were imported legally long ago; personal imports arrive a few a day.
STORIES = {
    "declared": 0.70,
    "second_imei": 0.05,
    "trip": 0.12,
    "late": 0.01,
    "no_record": 0.04,
    "illegal": 0.06,
    "stolen": 0.02,
}
HONEST = ("declared", "second_imei", "trip", "late", "no_record")
REGISTERED = ("declared", "second_imei", "stolen")


@dataclass
class Owner:
    n: int
    story: str
    iin: str
    msisdn: str
    imsi: str
    operator: str
    tac: int  # index into MODELS
    imei: str  # 15 digits
    imei2: str | None = None  # second IMEI of a dual-SIM phone
    arrives: int = 0  # the day the phone is first used here
    delay: int = 0  # days from the notification SMS to the owner's action
    trip: tuple[dt.date, dt.date] | None = None  # exit and entry dates
    stolen_on: int | None = None
    acted: bool = False
    application: str | None = None
    filed_on: dt.date | None = None
    decide_on: dt.date | None = None  # when the officer gets to it


@dataclass
class Figures:
    owners: int = 0
    days: int = 0
    stories: Counter[str] = field(default_factory=Counter)
    filed: Counter[str] = field(default_factory=Counter)  # by story
    auto_approved: Counter[str] = field(default_factory=Counter)
    officer_approved: Counter[str] = field(default_factory=Counter)
    officer_rejected: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # the form refused the filing
    officer_days: list[int] = field(default_factory=list)  # calendar days, filing to decision
    overdue: int = 0
    filing_seconds: list[float] = field(default_factory=list)
    held_runs: list[str] = field(default_factory=list)
    second_links: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)


def _population(count: int, days: int, start: dt.date, seed: int, grace: int) -> list[Owner]:
    rng = random.Random(seed)
    stories, weights = zip(*STORIES.items(), strict=True)
    owners, iins = [], set()
    for n in range(count):
        story = rng.choices(stories, weights)[0]
        operator, mccmnc, prefix, _ = rng.choices(OPERATORS, [o[3] for o in OPERATORS])[0]
        serial = n * 2 + 1
        iin = make_iin(birth=f"{60 + n % 40:02d}{1 + n // 40 % 12:02d}{1 + n // 480 % 28:02d}")
        while iin in iins:
            serial += 1
            iin = make_iin(
                birth=f"{60 + n % 40:02d}{1 + n // 40 % 12:02d}{1 + n // 480 % 28:02d}",
                serial=serial,
            )
        iins.add(iin)
        tac = rng.randrange(len(MODELS))
        owner = Owner(
            n=n,
            story=story,
            iin=iin,
            msisdn=f"{prefix}{n:07d}",
            imsi=f"{mccmnc}{n:010d}",
            operator=operator,
            tac=tac,
            imei=imei(MODELS[tac][0], n),
        )
        if story in ("trip", "late", "no_record", "illegal"):
            # Personal imports arrive over the first weeks, so each has its whole grace in view.
            owner.arrives = rng.randrange(0, max(1, days - grace - 10))
            entry = start + dt.timedelta(days=owner.arrives - rng.randrange(0, 3))
            owner.trip = (entry - dt.timedelta(days=rng.randrange(5, 30)), entry)
            # Most people answer an SMS within days; some take weeks (but within the grace).
            owner.delay = min(int(rng.expovariate(1 / 4)), grace * 5 // 6)
            if story == "late":
                owner.delay = rng.randrange(grace + 1, grace + 8)
        if story == "second_imei":
            owner.imei2 = imei(MODELS[tac][0], 500_000 + n)
            owner.delay = min(int(rng.expovariate(1 / 3)), grace * 2 // 3)
        if story == "stolen":
            owner.stolen_on = rng.randrange(3, days - 3)
        owners.append(owner)
    return owners


def _write_reference(folder: Path, owners: list[Owner], start: dt.date) -> dict[str, Path]:
    files = {"declarations": folder / "declarations.csv", "crossings": folder / "crossings.csv"}
    with files["declarations"].open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(
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
        declared = [o for o in owners if o.story in REGISTERED]
        day = start - dt.timedelta(days=90)
        for i, owner in enumerate(declared):
            _, brand, _, name = MODELS[owner.tac]
            number = f"50508/{day:%d%m%y}/{i // 100:07d}"
            # The second IMEI of `second_imei` phones is missing: the importer's omission.
            out.writerow([number, day.isoformat(), IMPORTER_BIN, brand, name, owner.imei, ""])
    with files["crossings"].open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["record_id", "iin", "direction", "crossed_at", "checkpoint", "country"])
        for owner in owners:
            if owner.trip is None or owner.story in ("no_record", "illegal"):
                continue
            left, back = owner.trip
            out.writerow([f"X{owner.n}", owner.iin, "exit", f"{left}T09:00:00+05:00", "ALA", "AE"])
            out.writerow([f"E{owner.n}", owner.iin, "entry", f"{back}T18:00:00+05:00", "ALA", "AE"])
    for code, *_ in OPERATORS:
        path = files[code] = folder / f"{code}-subscribers.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(["msisdn", "iin", "since", "language"])
            for owner in owners:
                if owner.operator == code:
                    out.writerow(
                        [owner.msisdn, owner.iin, "2020-01-01", "ru" if owner.n % 3 else "kk"]
                    )
    return files


def _dump(
    folder: Path, code: str, owners: list[Owner], d: int, day: dt.date, damage: float, seed: int
) -> Path:
    """The operator's file of day `d`; `damage` replaces that share of IMEIs by unknown ones."""
    rng = random.Random(seed * 1000 + d)
    path = folder / f"{code}_{day:%Y%m%d}_{day:%Y%m%d}.csv.gz"
    with gzip.open(path, "wt", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["date", "imei", "imsi", "msisdn", "rat"])
        for owner in owners:
            if owner.operator != code or owner.arrives > d:
                continue
            if owner.stolen_on is not None and d > owner.stolen_on:
                continue  # the thief dropped the owner's SIM
            seen = owner.imei
            if owner.imei2 and d % 7 == 3:
                seen = owner.imei2  # the SIM sits in the second slot today
            if damage and rng.random() < damage:
                seen = imei(MODELS[owner.tac][0], 900_000 + rng.randrange(99_999))
            out.writerow([f"{day:%Y%m%d}", seen, owner.imsi, owner.msisdn, "104"])
    return path


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(10), ALMATY).astimezone(dt.UTC)


def _run_day(
    session: Session,
    settings: Settings,
    folder: Path,
    owners: list[Owner],
    d: int,
    day: dt.date,
    damaged: dict[int, tuple[str, float]],
    figures: Figures,
    seed: int,
) -> None:
    for code, *_ in OPERATORS:
        damage = damaged[d][1] if d in damaged and damaged[d][0] == code else 0.0
        path = _dump(folder, code, owners, d, day, damage, seed)
        import_dump(session, path, operator=code, actor="sim", settings=settings, today=day)
        session.commit()
    try:
        classify(session, run_date=day, actor="sim", settings=settings)
    except RunHeld as held:
        figures.held_runs.append(f"{day}: {held}")
        session.rollback()
        if d not in damaged:
            # A day that is really new (the very first one): a supervisor looks, lets it through.
            confirm_held_run(
                session, run_id=held.run_id, supervisor=SUPERVISOR, actor="sim", settings=settings
            )
            return
        # A damaged file: the supervisor dismisses the run, the operator sends the file again.
        dismiss_held_run(
            session,
            run_id=held.run_id,
            supervisor=SUPERVISOR,
            reason="operator's file damaged",
            actor="sim",
            settings=settings,
        )
        session.commit()
        code = damaged[d][0]
        path = _dump(folder / "again", code, owners, d, day, 0.0, seed)
        import_dump(session, path, operator=code, actor="sim", settings=settings, today=day)
        session.commit()
        classify(session, run_date=day, actor="sim", settings=settings)


def _act(
    session: Session,
    settings: Settings,
    owners: list[Owner],
    states: dict[str, tuple[str, dt.date]],
    day: dt.date,
    figures: Figures,
    rng: random.Random,
    noticed: dict[int, dt.date],
    officer_days: int,
) -> None:
    """What owners do the morning after the run, with the clock set to that morning."""
    now = _noon(day + dt.timedelta(days=1))
    for owner in owners:
        if owner.acted or owner.story in ("declared", "stolen"):
            continue
        if owner.story == "second_imei":
            continue  # handled from the pending links below
        key = owner.imei[:14]
        state = states.get(key)
        if state is None or (day - state[1]).days < owner.delay:
            continue
        if owner.story == "illegal" and owner.n % 3:
            owner.acted = True  # most grey-import owners never come forward
            continue
        owner.acted = True
        applicant = Applicant(iin=owner.iin, msisdn=owner.msisdn)
        _, brand, _, name = MODELS[owner.tac]
        assert owner.trip is not None
        left, back = owner.trip
        started = time.perf_counter()
        try:
            if state[0] == "blocked":
                receipt = Upload("receipt", "receipt.pdf", TINY_PDF)
                application = file_appeal(
                    session,
                    applicant,
                    imei=owner.imei,
                    entered_on=back,
                    travel_from=left,
                    uploads=[receipt],
                    settings=settings,
                    now=now,
                )
            else:
                application = file_registration(
                    session,
                    applicant,
                    imei1=owner.imei,
                    imei2=None,
                    brand=brand,
                    model=name,
                    entered_on=back,
                    travel_from=left,
                    settings=settings,
                    now=now,
                )
        except ApplicationRefused as refused:
            session.rollback()
            figures.refused[f"{owner.story}:{refused.reason}"] += 1
            continue
        session.commit()
        figures.filing_seconds.append(time.perf_counter() - started)
        figures.filed[owner.story] += 1
        if application.status == ApplicationStatus.APPROVED:
            figures.auto_approved[owner.story] += 1
            continue
        owner.application = application.public_id
        owner.filed_on = day + dt.timedelta(days=1)
        # Officers work the queue in order; most cases are decided well within the deadline.
        wait = min(int(rng.expovariate(1 / 4)), officer_days)
        owner.decide_on = owner.filed_on + dt.timedelta(days=wait)
    _confirm_second_imeis(session, owners, day, now, figures, noticed)


def _confirm_second_imeis(
    session: Session,
    owners: list[Owner],
    day: dt.date,
    now: dt.datetime,
    figures: Figures,
    noticed: dict[int, dt.date],
) -> None:
    """The SIM holder taps "yes, my phone" some days after the link shows on their page."""
    by_iin = {o.iin: o for o in owners if o.story == "second_imei"}
    pending = session.scalars(
        select(SecondImeiCandidate).where(SecondImeiCandidate.status == LinkStatus.PENDING.value)
    ).all()
    for candidate in pending:
        owner = by_iin.get(candidate.iin or "")
        first = noticed.setdefault(candidate.id, day)
        if owner is None or (day - first).days < owner.delay:
            continue
        owner_second_imei.confirm(session, owner.iin, candidate.id, now=now)
        session.commit()


def _officers(
    session: Session, settings: Settings, owners: list[Owner], day: dt.date, figures: Figures
) -> None:
    now = _noon(day + dt.timedelta(days=1))
    for owner in owners:
        if owner.application is None or owner.decide_on is None or owner.decide_on > day:
            continue
        honest = owner.story != "illegal"
        application = decide_application(
            session,
            owner.application,
            approve=honest,
            reason="documents_confirm_trip" if honest else "no_proof_of_trip",
            note=None,
            actor=OFFICER,
            now=now,
            settings=settings,
        )
        session.commit()
        (figures.officer_approved if honest else figures.officer_rejected)[owner.story] += 1
        assert owner.filed_on is not None
        figures.officer_days.append((day + dt.timedelta(days=1) - owner.filed_on).days)
        if application.deadline and day + dt.timedelta(days=1) > application.deadline:
            figures.overdue += 1
        owner.application = None


def _police(session: Session, owners: list[Owner], d: int, day: dt.date) -> None:
    for owner in owners:
        if owner.stolen_on == d:
            report_by_police(
                session,
                owner.imei,
                kind=ReportKind.STOLEN,
                police_reference=f"KUI-{owner.n}",
                actor="police:sim",
                now=_noon(day),
            )
    session.commit()


def _states(session: Session) -> dict[str, tuple[str, dt.date]]:
    rows = session.execute(
        select(DeviceState.imei, DeviceState.state, DeviceState.first_noncompliant)
    )
    return {imei: (state, first) for imei, state, first in rows}


def _outcomes(session: Session, owners: list[Owner]) -> dict[str, Counter[str]]:
    """Per story: how many devices were ever notified or blocked (any of their IMEIs)."""
    story_of = {o.imei[:14]: o.story for o in owners}
    story_of.update({o.imei2[:14]: o.story + "/second" for o in owners if o.imei2})
    ever: dict[str, Counter[str]] = {"notified": Counter(), "blocked": Counter()}
    seen: set[tuple[str, str]] = set()
    changes = session.execute(select(DeviceStateChange.imei, DeviceStateChange.new_state))
    for key, state in changes:
        if state in ever and (key, state) not in seen:
            seen.add((key, state))
            ever[state][story_of.get(key, "damaged-file ghost")] += 1
    return ever


def run(
    kind: str,
    count: int,
    days: int,
    seed: int = 7,
    damage: float = 0.3,
    brake_min_devices: int | None = None,
    grace: int = 30,
    url: str | None = None,
) -> dict[str, Any]:
    """Run the simulation; on a fresh database of `kind`, or on the migrated, empty `url`."""
    figures = Figures(owners=count, days=days)
    start = dt.date.today() - dt.timedelta(days=days + 5)
    owners = _population(count, days, start, seed, grace)
    figures.stories.update(o.story for o in owners)
    damaged = {days // 2: ("beeline", damage)} if damage else {}
    rng = random.Random(seed)
    noticed: dict[int, dt.date] = {}
    database = contextlib.nullcontext(url) if url else fresh_database(kind)
    with database as url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "again").mkdir()
        settings = Settings(database_url=url, data_dir=folder / "data")
        for name in ("not_registered", "invalid_imei", "unknown_tac"):
            settings.network.conditions[name].grace_days = grace
        if brake_min_devices is not None:  # a small population needs a lower floor to trip it
            settings.network.brake_min_devices = brake_min_devices
        engine = db.get_engine(url)
        begun = time.perf_counter()
        with db.session_factory(engine)() as session:
            create_officer(
                session,
                SUPERVISOR,
                "Simulated supervisor",
                secrets.token_urlsafe(16),
                ["supervisor"],
                "sim",
            )
            for tac, brand, model, name in MODELS:
                add_tac(session, tac, brand, model, marketing_name=name)
            files = _write_reference(folder, owners, start)
            import_declarations(session, files["declarations"], actor="sim")
            session.commit()
            import_crossings_file(session, files["crossings"], actor="sim")
            session.commit()
            for code, *_ in OPERATORS:
                import_subscribers(
                    session, files[code], operator=code, actor="sim", settings=settings
                )
                session.commit()
            figures.seconds["reference data"] = time.perf_counter() - begun
            for d in range(days):
                day = start + dt.timedelta(days=d)
                tick = time.perf_counter()
                _run_day(session, settings, folder, owners, d, day, damaged, figures, seed)
                _police(session, owners, d, day)
                states = _states(session)
                _act(session, settings, owners, states, day, figures, rng, noticed, grace // 2 + 1)
                _officers(session, settings, owners, day, figures)
                print(f"  day {d + 1:>3}/{days}  {time.perf_counter() - tick:6.1f} s", flush=True)
            figures.seconds["days"] = time.perf_counter() - begun
            ever = _outcomes(session, owners)
            in_review = session.scalar(
                select(func.count())
                .select_from(Application)
                .where(Application.status == ApplicationStatus.IN_REVIEW)
            )
            links = session.execute(
                select(SecondImeiCandidate.status, SecondImeiCandidate.decided_by)
            ).all()
        for status, by in links:
            who = "by the owner" if by and by.startswith("citizen:") else "automatically"
            figures.second_links[f"{status} {who}" if status != "pending" else status] += 1
    return _report(figures, ever, in_review or 0)


def _report(figures: Figures, ever: dict[str, Counter[str]], in_review: int) -> dict[str, Any]:
    honest_filed = sum(figures.filed[s] for s in HONEST)
    honest_auto = sum(figures.auto_approved[s] for s in HONEST)
    honest_blocked = sum(ever["blocked"][s] for s in HONEST) + sum(
        ever["blocked"][s + "/second"] for s in HONEST
    )
    registered_touched = sum(ever["notified"][s] + ever["blocked"][s] for s in ("declared",))
    days = sorted(figures.officer_days)
    return {
        "owners": figures.owners,
        "days": figures.days,
        "stories": dict(figures.stories),
        "honest owners who had to act": honest_filed,
        "decided automatically (share of honest filings)": round(honest_auto / honest_filed, 4)
        if honest_filed
        else None,
        "auto decision time, median ms": round(statistics.median(figures.filing_seconds) * 1000, 1)
        if figures.filing_seconds
        else None,
        "officer decision days, median / p95 / max": (
            (days[len(days) // 2], days[int(len(days) * 0.95)], days[-1]) if days else None
        ),
        "officer decisions past the deadline": figures.overdue,
        "still in review at the end": in_review,
        "filed by story": dict(figures.filed),
        "approved automatically by story": dict(figures.auto_approved),
        "approved by an officer by story": dict(figures.officer_approved),
        "rejected by an officer by story": dict(figures.officer_rejected),
        "refused by the form": dict(figures.refused),
        "ever notified by story": dict(ever["notified"]),
        "ever blocked by story": dict(ever["blocked"]),
        "honest devices ever blocked (target 0; 'late' owners ignored the SMS past the grace)": (
            honest_blocked
        ),
        "honest devices ever blocked, excluding late": honest_blocked - ever["blocked"]["late"],
        "declared devices ever notified or blocked (target 0)": registered_touched,
        "second IMEIs": dict(figures.second_links),
        "held runs": figures.held_runs,
        "seconds": {k: round(v, 1) for k, v in figures.seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--damage", type=float, default=0.3, help="share of IMEIs replaced in the damaged file"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"fairness simulation: {args.owners} owners, {args.days} days, {args.database}")
    figures = run(args.database, args.owners, args.days, args.seed, args.damage)
    width = max(len(k) for k in figures)
    for name, value in figures.items():
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
