"""kill -9 at every commit boundary of the imports and of classification, then the step again.

Each scenario runs three days (declarations imported after the first, a re-run of the last day
at the end) and kills the real CLI, in its own process, at one boundary (CEIR_FAULT_AT); the step
is then run again (or, once its commit point has passed, not) and the days go on. States, flags,
sightings and the bytes of every list of the last run must be those of the same days run without
a crash.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import func, select

from ceir import db
from ceir.config import Settings
from ceir.network.classify import classify
from ceir.network.dumps import import_dump
from ceir.network.models import ClassificationRun, DeviceFlag, DeviceState, OperatorImport
from ceir.registry.models import Registration
from ceir.registry.service import import_declarations
from tests.factories import make_imei, register_device
from tests.network.helpers import filler, write_dump

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DAY1, DAY2, DAY3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)
UNREGISTERED = make_imei("35467819", 700_001)
DECLARED = make_imei("35467819", 700_002)  # notified on day 1, declared before day 2
CLONED = make_imei("35467819", 700_003)
ROAMER = make_imei("35467819", 700_004)


def day_rows(day: dt.date) -> list[tuple[str, str, str]]:
    clones = [(CLONED, f"401029{n:09d}", f"7702{n:07d}") for n in range(7)]
    odd = [
        (UNREGISTERED, "401020000007001", "77010007001"),
        (UNREGISTERED, "250011234567890", "79161234567"),
        (DECLARED, "401020000007002", "77010007002"),
        (ROAMER, "250019999999999", "79169999999"),
    ]
    # Day 2 brings devices no other day shows, and leaves one out.
    extra = filler(5, start=60) if day == DAY2 else [odd.pop()] if day == DAY1 else []
    return [*filler(60), *clones, *odd, *extra]


@dataclass
class Days:
    """Two days of ceir against one database and data folder; each step in process or CLI."""

    url: str
    folder: Path

    @property
    def settings(self) -> Settings:
        return Settings(database_url=self.url, data_dir=self.folder / "var")

    def seed(self) -> None:
        with db.session_scope(db.get_engine(self.url)) as session:
            for imei, _imsi, _msisdn in [*filler(65), (CLONED, "", "")]:
                register_device(session, [imei])
        for day in (DAY1, DAY2, DAY3):
            write_dump(self.folder, "kcell", day, day_rows(day))
        with (self.folder / "declarations.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                [
                    "declaration_number",
                    "declaration_date",
                    "importer_bin",
                    "brand",
                    "model",
                    "imei1",
                ]
            )
            writer.writerow(["D-7", "2026-11-01", "960440000220", "Apple", "iPhone 17", DECLARED])

    def dump(self, day: dt.date) -> Path:
        return self.folder / f"kcell_{day:%Y%m%d}_{day:%Y%m%d}.csv.gz"

    # (name, the step in process, the same step as the CLI)
    def steps(self) -> list[tuple[str, Callable[[], object], list[str]]]:
        declarations = self.folder / "declarations.csv"
        return [
            ("import1", lambda: self._import(DAY1), self._import_cli(DAY1)),
            ("classify1", lambda: self._classify(DAY1), self._classify_cli(DAY1)),
            ("declarations", self._declarations, ["registry", "import", str(declarations)]),
            ("import2", lambda: self._import(DAY2), self._import_cli(DAY2)),
            ("classify2", lambda: self._classify(DAY2), self._classify_cli(DAY2)),
            ("import3", lambda: self._import(DAY3), self._import_cli(DAY3)),
            ("classify3", lambda: self._classify(DAY3), self._classify_cli(DAY3)),
            ("rerun3", lambda: self._classify(DAY3), self._classify_cli(DAY3)),
        ]

    def _classify_cli(self, day: dt.date) -> list[str]:
        return ["network", "classify", "--date", day.isoformat()]

    def _import_cli(self, day: dt.date) -> list[str]:
        return ["network", "import", "--operator", "kcell", str(self.dump(day))]

    def _import(self, day: dt.date) -> None:
        with db.session_scope(db.get_engine(self.url)) as session:
            import_dump(
                session, self.dump(day), operator="kcell", actor="t", settings=self.settings
            )

    def _classify(self, day: dt.date) -> None:
        with db.session_scope(db.get_engine(self.url)) as session:
            classify(session, run_date=day, actor="t", settings=self.settings)

    def _declarations(self) -> None:
        with db.session_scope(db.get_engine(self.url)) as session:
            import_declarations(session, self.folder / "declarations.csv", actor="t")

    def killed(self, args: list[str], boundary: str) -> None:
        env = {
            **os.environ,
            "CEIR_DATABASE_URL": self.url,
            "CEIR_DATA_DIR": str(self.folder / "var"),
            "CEIR_FAULT_AT": boundary,
        }
        done = subprocess.run(
            [sys.executable, "-m", "ceir.cli", *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr)

    def outcome(self) -> dict[str, object]:
        """Everything a crash could have lost or doubled (run ids aside: a crash may use one)."""
        db.dispose_engines()
        with db.session_scope(db.get_engine(self.url)) as session:
            states = sorted(
                (s.imei, s.state, s.reasons, s.first_noncompliant, s.block_date, s.blocked_on)
                for s in session.scalars(select(DeviceState))
            )
            flags = sorted((f.imei, f.flag, f.since) for f in session.scalars(select(DeviceFlag)))
            registrations = session.scalar(select(func.count()).select_from(Registration))
            loaded = session.scalar(
                select(func.count())
                .select_from(OperatorImport)
                .where(OperatorImport.status == "loaded")
            )
            last_run = session.scalar(
                select(func.max(ClassificationRun.id)).where(
                    ClassificationRun.finished_at.is_not(None)
                )
            )
        with duckdb.connect(str(self.settings.network_store), read_only=True) as con:
            sightings = con.execute("SELECT * FROM sightings ORDER BY ALL").fetchall()
        lists = {
            f"{p.parent.name}/{p.name}": p.read_bytes()
            for p in sorted((self.settings.lists_dir / str(last_run)).glob("*/*.csv.gz"))
        }
        db.dispose_engines()
        return {
            "states": states,
            "flags": flags,
            "registrations": registrations,
            "loaded_imports": loaded,
            "sightings": sightings,
            "lists": lists,
        }


# boundary -> (the step killed there, whether it is run again). A kill after an import's last
# commit is a success whose process died: the after_db_commit boundary of classification covers
# it, once re-run and once left done (the next day's run must find the day whole).
BOUNDARIES = {
    "declarations_import.before_commit": ("declarations", True),
    "network_import.before_store_commit": ("import2", True),
    "network_import.after_store_commit": ("import2", True),
    "classify.before_store_commit": ("classify2", True),
    "classify.after_store_commit": ("classify2", True),
    "classify.after_db_commit": ("classify2", True),
    "classify.after_db_commit/left done": ("classify2", False),
}


@pytest.fixture(scope="module")
def uninterrupted(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("uninterrupted")
    shutil.copy(sqlite_template, folder / "ceir.db")
    days = Days(f"sqlite:///{folder / 'ceir.db'}", folder)
    days.seed()
    for _name, step, _args in days.steps():
        step()
    outcome = days.outcome()
    assert outcome["flags"] and outcome["states"] and len(outcome["lists"]) == 24
    return outcome


@pytest.mark.parametrize("boundary", list(BOUNDARIES))
def test_a_kill_at_a_commit_boundary_then_the_step_again_loses_and_doubles_nothing(
    boundary: str, database_url: str, tmp_path: Path, uninterrupted: dict[str, object]
) -> None:
    days = Days(database_url, tmp_path)
    days.seed()
    killed_step, again = BOUNDARIES[boundary]
    for name, step, args in days.steps():
        if name == killed_step:
            db.dispose_engines()
            days.killed(args, boundary.split("/")[0])
            if not again:
                continue
        step()

    outcome = days.outcome()
    for key, value in uninterrupted.items():
        assert outcome[key] == value, key
