"""Public statistics: open data match the database, small counts are withheld, no one is named."""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ceir.config import StatsSettings
from ceir.stats import service
from ceir.stats.charts import Series, build
from ceir.stats.deps import get_stats_settings
from ceir.stats.models import CheckCount
from tests.factories import (
    add_application_in_review,
    add_decided_application,
    add_run,
    make_iin,
    make_imei,
    register_device,
)

ALMATY = ZoneInfo("Asia/Almaty")
THRESHOLD = 3
START, END = dt.date(2026, 10, 5), dt.date(2026, 10, 18)  # two whole weeks, Monday to Sunday
PERIOD = f"from={START}&to={END}"


@pytest.fixture
def client(app_client: TestClient) -> Iterator[TestClient]:
    """The app with a threshold small enough for a handful of rows, and no cache."""
    app_client.app.dependency_overrides[get_stats_settings] = lambda: StatsSettings(  # type: ignore[attr-defined]
        suppression_threshold=THRESHOLD, cache_seconds=0
    )
    yield app_client
    app_client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, minute, tzinfo=dt.UTC)


@dataclass
class World:
    """What the test put in the database, to recompute every published number from."""

    registrations: list[tuple[dt.datetime, str]] = field(default_factory=list)
    applications: list[tuple[str, str, dt.datetime, dt.datetime | None]] = field(
        default_factory=list
    )
    runs: list[tuple[int, dt.date, dict[str, int]]] = field(default_factory=list)
    imeis: list[str] = field(default_factory=list)
    iins: list[str] = field(default_factory=list)


@pytest.fixture
def world(db_session: Session) -> World:
    w = World()
    plan = [
        (at(6, 4), "importer_declaration", 5),
        (at(6, 10), "customs", 2),  # below the threshold
        (at(7, 3), "personal_import", 3),
        (at(7, 20, 30), "amnesty", 4),  # 01:30 on the 8th in Almaty: counts on the 8th
        (at(8, 2), "amnesty", 1),
        (at(12, 8), "appeal", 1),
        (at(20, 8), "importer_declaration", 6),  # after the period
    ]
    serial = 0
    for registered_at, source, count in plan:
        for _ in range(count):
            serial += 1
            imei = make_imei(serial=serial)
            register_device(db_session, [imei], source=source, registered_at=registered_at)
            w.registrations.append((registered_at, source))
            w.imeis.append(imei)

    decided = [
        # kind, status, filed, decided (hours later)
        *[("appeal", "approved", at(6, 5), h) for h in (2, 10, 30, 50)],
        ("appeal", "rejected", at(7, 5), 20),
        ("personal_import", "approved", at(8, 5), 0.1),
        ("personal_import", "rejected", at(9, 5), 70),
        *[("personal_import", "approved", at(13, 5), h) for h in (1, 3, 5)],
    ]
    for n, (kind, status, filed, hours) in enumerate(decided):
        iin = make_iin(serial=100 + n * 7)
        imei = make_imei(serial=5000 + n)
        decided_at = filed + dt.timedelta(hours=hours)
        add_decided_application(
            db_session,
            public_id=f"S{n:03d}",
            kind=kind,
            status=status,
            created_at=filed,
            decided_at=decided_at,
            iin=iin,
            imei=imei,
        )
        w.applications.append((kind, status, filed, decided_at))
        w.iins.append(iin)
        w.imeis.append(imei)
    for n in range(4):
        iin, imei = make_iin(serial=900 + n * 7), make_imei(serial=6000 + n)
        add_application_in_review(
            db_session,
            public_id=f"O{n:03d}",
            kind="appeal",
            created_at=at(14, 6),
            iin=iin,
            imei=imei,
        )
        w.applications.append(("appeal", "in_review", at(14, 6), None))
        w.iins.append(iin)
        w.imeis.append(imei)

    for run_date, counts, finished in [
        (
            dt.date(2026, 10, 6),
            {
                "notified": 1200,
                "blocked": 300,
                "newly_notified": 50,
                "newly_blocked": 2,
                "unblocked": 7,
                "resolved": 0,
            },
            True,
        ),
        (
            dt.date(2026, 10, 7),
            {
                "notified": 1190,
                "blocked": 310,
                "newly_notified": 11,
                "newly_blocked": 12,
                "unblocked": 2,
                "resolved": 9,
            },
            True,
        ),
        (dt.date(2026, 10, 8), {"notified": 1, "blocked": 1}, False),  # still running
    ]:
        run = add_run(db_session, run_date, finished=finished)
        run.counts = {**counts, "devices_evaluated": 99_999}
        db_session.commit()
        if finished:
            w.runs.append((run.id, run_date, counts))
    return w


def read_csv(client: TestClient, dataset: str, query: str = PERIOD) -> list[dict[str, str]]:
    response = client.get(f"/api/v1/statistics/{dataset}.csv?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def published(value: float) -> str:
    return str(value) if value >= THRESHOLD else ""


def days() -> list[dt.date]:
    return [START + dt.timedelta(n) for n in range((END - START).days + 1)]


def test_registrations_csv_matches_the_database(client: TestClient, world: World) -> None:
    counts = Counter((r.astimezone(ALMATY).date(), s) for r, s in world.registrations)
    sources = ["importer_declaration", "customs", "personal_import", "appeal", "amnesty"]
    expected = [
        {
            "date": day.isoformat(),
            "source": source,
            "registrations": published(counts[(day, source)]),
            "suppressed": "false" if counts[(day, source)] >= THRESHOLD else "true",
        }
        for day in days()
        for source in sources
    ]
    assert read_csv(client, "registrations") == expected
    # The late amnesty registrations of the 7th (UTC) fall on the 8th in Almaty.
    assert counts[(dt.date(2026, 10, 8), "amnesty")] == 5


def test_applications_csv_matches_the_database(client: TestClient, world: World) -> None:
    counts: Counter[tuple[dt.date, str, str]] = Counter()
    for kind, status, filed, decided_at in world.applications:
        counts[(filed.astimezone(ALMATY).date(), kind, "filed")] += 1
        if decided_at is not None:
            counts[(decided_at.astimezone(ALMATY).date(), kind, status)] += 1
    expected = [
        {
            "date": day.isoformat(),
            "kind": kind,
            "event": event,
            "applications": published(counts[(day, kind, event)]),
            "suppressed": "false" if counts[(day, kind, event)] >= THRESHOLD else "true",
        }
        for day in days()
        for kind in ("personal_import", "appeal")
        for event in ("filed", "approved", "rejected")
    ]
    assert read_csv(client, "applications") == expected


def test_median_decision_times_match_and_small_weeks_are_withheld(
    client: TestClient, world: World
) -> None:
    hours: dict[tuple[dt.date, str], list[float]] = {}
    for kind, _status, filed, decided_at in world.applications:
        if decided_at is None:
            continue
        day = decided_at.astimezone(ALMATY).date()
        week = day - dt.timedelta(day.weekday())
        hours.setdefault((week, kind), []).append((decided_at - filed).total_seconds() / 3600)
    rows = read_csv(client, "decision_times")
    assert [(r["week_start"], r["kind"]) for r in rows] == [
        (week.isoformat(), kind)
        for week in (dt.date(2026, 10, 5), dt.date(2026, 10, 12))
        for kind in ("personal_import", "appeal")
    ]
    for row in rows:
        values = hours.get((dt.date.fromisoformat(row["week_start"]), row["kind"]), [])
        if len(values) >= THRESHOLD:
            assert row["decisions"] == str(len(values))
            assert float(row["median_hours"]) == round(statistics.median(values), 1)
            assert row["suppressed"] == "false"
        else:
            assert row["decisions"] == row["median_hours"] == ""
            assert row["suppressed"] == "true"
    shown = {(r["week_start"], r["kind"]): r["median_hours"] for r in rows}
    assert shown[("2026-10-05", "appeal")] == "20.0"  # 2, 10, 20, 30, 50 hours
    assert shown[("2026-10-05", "personal_import")] == ""  # two decisions only


def test_enforcement_csv_has_every_finished_run(client: TestClient, world: World) -> None:
    measures = list(service.ENFORCEMENT_MEASURES)
    expected = [
        {
            "run_date": run_date.isoformat(),
            "run_id": str(run_id),
            "measure": measure,
            "devices": published(counts.get(measure, 0)),
            "suppressed": "false" if counts.get(measure, 0) >= THRESHOLD else "true",
        }
        for run_id, run_date, counts in world.runs
        for measure in measures
    ]
    assert read_csv(client, "enforcement") == expected


def test_json_has_the_same_rows_as_the_csv(client: TestClient, world: World) -> None:
    for dataset in service.DATASETS:
        body = client.get(f"/api/v1/statistics/{dataset}.json?{PERIOD}").json()
        assert body["dataset"] == dataset
        assert body["suppression_threshold"] == THRESHOLD
        assert (body["from"], body["to"]) == (START.isoformat(), END.isoformat())
        rows = read_csv(client, dataset)
        assert len(body["rows"]) == len(rows)
        for json_row, csv_row in zip(body["rows"], rows, strict=True):
            assert list(json_row) == body["columns"] == list(csv_row)
            for column, value in json_row.items():
                if value is None:
                    assert csv_row[column] == ""
                    assert json_row["suppressed"] is True
                elif isinstance(value, bool):
                    assert csv_row[column] == str(value).lower()
                else:
                    assert csv_row[column] == str(value)


def test_counts_below_the_default_threshold_are_withheld(
    app_client: TestClient, world: World
) -> None:
    app_client.app.dependency_overrides[get_stats_settings] = lambda: StatsSettings(  # type: ignore[attr-defined]
        cache_seconds=0
    )
    body = app_client.get(f"/api/v1/statistics/registrations.json?{PERIOD}").json()
    assert body["suppression_threshold"] == 10
    assert all(r["registrations"] is None and r["suppressed"] for r in body["rows"])
    enforcement = app_client.get(f"/api/v1/statistics/enforcement.json?{PERIOD}").json()["rows"]
    shown = {(r["run_date"], r["measure"]): r["devices"] for r in enforcement}
    assert shown[("2026-10-06", "notified")] == 1200
    assert shown[("2026-10-06", "unblocked")] is None  # 7 devices
    assert shown[("2026-10-07", "newly_blocked")] == 12
    page = app_client.get(f"/statistics?lang=en&{PERIOD}")
    assert "&lt;10" in page.text
    assert "1,200" in page.text


def test_no_personal_data_in_any_output(client: TestClient, world: World) -> None:
    outputs = [client.get(f"/statistics?lang={lang}&{PERIOD}").text for lang in ("ru", "kk", "en")]
    for dataset in service.DATASETS:
        for extension in ("csv", "json"):
            outputs.append(client.get(f"/api/v1/statistics/{dataset}.{extension}?{PERIOD}").text)
    text = "\n".join(outputs)
    for imei in world.imeis:
        assert imei not in text
        assert imei[:14] not in text
    for iin in world.iins:
        assert iin not in text
    assert "77011234567" not in text


def test_public_checks_are_counted_by_verdict_without_the_imei(
    client: TestClient, db_session: Session
) -> None:
    registered = make_imei(serial=1)
    register_device(db_session, [registered])
    for imei in [registered] * 3 + [make_imei(serial=2)] * 4 + ["123"]:
        assert client.get(f"/api/v1/imei/{imei}").status_code == 200
    assert client.get(f"/?imei={make_imei(serial=3)}").status_code == 200
    client.app.state.check_tally.flush(client.app.state.engine)  # type: ignore[attr-defined]

    today = dt.datetime.now(ALMATY).date()
    rows = db_session.execute(select(CheckCount.day, CheckCount.verdict, CheckCount.count)).all()
    assert sorted(rows) == [
        (today, "invalid", 1),
        (today, "not_registered", 5),
        (today, "registered", 3),
    ]
    [row] = read_csv(client, "checks", f"from={today}&to={today}")
    assert row == {
        "date": today.isoformat(),
        "checks": "8",
        "unregistered": "5",
        "share": str(round(5 / 8, 4)),
        "suppressed": "false",
    }


def test_share_is_withheld_when_it_would_give_away_a_small_count(
    client: TestClient, engine: Engine
) -> None:
    day = dt.date(2026, 10, 6)
    with engine.begin() as conn:
        for verdict, n in (("registered", 20), ("not_registered", 2)):
            for _ in range(n):
                service.record_check(conn, verdict, day)
    [row] = read_csv(client, "checks", f"from={day}&to={day}")
    assert row == {
        "date": "2026-10-06",
        "checks": "22",
        "unregistered": "",
        "share": "",
        "suppressed": "true",
    }


def test_concurrent_checks_all_count(engine: Engine) -> None:
    day = dt.date(2026, 10, 6)

    def count_many() -> None:
        for _ in range(25):
            with engine.begin() as conn:
                service.record_check(conn, "registered", day)

    threads = [threading.Thread(target=count_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        assert conn.scalar(select(CheckCount.count).where(CheckCount.day == day)) == 200


def test_a_period_that_ends_before_it_starts_is_refused(app_client: TestClient) -> None:
    response = app_client.get("/api/v1/statistics/checks.json?from=2026-10-10&to=2026-10-01")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_period"
    assert app_client.get("/api/v1/statistics/people.csv").status_code == 422


def test_default_period_is_the_last_90_days() -> None:
    period = service.make_period(dt.date(2026, 11, 25))
    assert (period.start, period.end) == (dt.date(2026, 8, 28), dt.date(2026, 11, 25))
    assert len(period.days) == 90


def test_a_withheld_value_breaks_the_line_and_draws_no_bar() -> None:
    common = {
        "title": "t",
        "desc": "d",
        "x_label": "x",
        "y_label": "y",
        "categories": ["a", "b", "c", "d", "e"],
        "format_value": lambda v: f"{v:g}",
        "withheld": "<3",
    }
    line = build(id="l", kind="line", series=[Series("s", "S", [5, 6, None, 8, None])], **common)
    assert line.lines[0].path.count("M") == 2
    assert line.lines[0].dots == [(line.lines[0].dots[0][0], line.lines[0].dots[0][1])]
    assert line.cells[2] == ["<3"]
    bars = build(id="b", kind="bar", series=[Series("s", "S", [5, None, 8, None, 1])], **common)
    assert len(bars.bars) == 3
    assert [t.label for t in bars.y_ticks] == ["0", "2.5", "5", "7.5", "10"]
