"""Open data of blocks and appeals by reason, operator and month: how often each reason was
overturned on appeal, small counts withheld, on the API and the statistics page."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ceir.config import StatsSettings
from ceir.db import utcnow
from ceir.network.models import DeviceNumber, DeviceStateChange, Subscriber
from ceir.stats.deps import get_stats_settings
from tests.factories import add_decided_application, make_iin, make_imei

THRESHOLD = 3
PERIOD = "from=2026-10-15&to=2026-11-20"  # months are published whole: October and November


@pytest.fixture
def client(app_client: TestClient) -> Iterator[TestClient]:
    app_client.app.dependency_overrides[get_stats_settings] = lambda: StatsSettings(  # type: ignore[attr-defined]
        suppression_threshold=THRESHOLD, cache_seconds=0
    )
    yield app_client
    app_client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def _device(db: Session, serial: int, operator: str, history: list[tuple[str, str, str]]) -> str:
    imei = make_imei("35467819", 940_000 + serial)
    msisdn = f"7701{940_000 + serial:07d}"
    db.add(Subscriber(msisdn=msisdn, iin=make_iin(), operator=operator, updated_at=utcnow()))
    db.add(DeviceNumber(imei=imei[:14], msisdn=msisdn, run_id=1))
    old = None
    for day, state, reasons in history:
        db.add(
            DeviceStateChange(
                run_id=1,
                imei=imei[:14],
                old_state=old,
                new_state=state,
                reasons=reasons,
                on_date=dt.date.fromisoformat(day),
            )
        )
        old = state
    db.commit()
    return imei


@pytest.fixture
def blocks(db_session: Session) -> list[str]:
    """Seven kcell devices notified on 2 October and blocked on 5 November, for not being
    registered; six appealed, three appeals approved and three rejected; a few odd ones."""
    path = [
        ("2026-10-02", "notified", "not_registered"),
        ("2026-10-09", "notified", "not_registered|duplicate"),  # no new notification
        ("2026-11-05", "blocked", "not_registered|duplicate"),
    ]
    imeis = [_device(db_session, n, "kcell", path) for n in range(7)]
    _device(db_session, 7, "beeline", [("2026-11-06", "blocked", "unknown_tac")])
    for n, imei in enumerate(imeis[:6]):
        appeal = add_decided_application(
            db_session,
            public_id=f"AP-{n}",
            kind="appeal",
            status="approved" if n < 3 else "rejected",
            created_at=dt.datetime(2026, 11, 10, 6, tzinfo=dt.UTC),
            decided_at=dt.datetime(2026, 11, 12, 6, tzinfo=dt.UTC),
            imei=imei,
        )
        appeal.msisdn = f"7701{940_000 + n:07d}"
    db_session.commit()
    return imeis


def _rows(client: TestClient) -> dict[tuple[str, str, str], dict[str, str]]:
    answer = client.get(f"/api/v1/statistics/reasons.csv?{PERIOD}")
    assert answer.status_code == 200, answer.text
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(rows[0]) == [
        "month",
        "reason",
        "operator",
        "notified",
        "blocked",
        "appeals",
        "overturned",
        "upheld",
        "overturned_share",
        "suppressed",
    ]
    return {(r["month"], r["reason"], r["operator"]): r for r in rows}


def test_blocks_appeals_and_overturns_are_counted_per_reason_operator_and_month(
    client: TestClient, blocks: list[str]
) -> None:
    rows = _rows(client)

    october = rows[("2026-10", "not_registered", "kcell")]
    assert (october["notified"], october["blocked"]) == ("7", "")
    november = rows[("2026-11", "not_registered", "kcell")]
    assert {k: november[k] for k in ("blocked", "appeals", "overturned", "upheld")} == {
        "blocked": "7",
        "appeals": "6",
        "overturned": "3",
        "upheld": "3",
    }
    assert november["overturned_share"] == "0.5"
    assert november["suppressed"] == "true"  # no device newly notified that month: withheld
    beeline = rows[("2026-11", "unknown_tac", "beeline")]
    assert beeline["blocked"] == "" and beeline["suppressed"] == "true"  # 1 device
    # Every combination is a row, so that a missing row gives nothing away.
    assert len(rows) == 2 * 5 * 5 and ("2026-10", "stolen", "unknown") in rows


def test_a_share_is_withheld_when_either_outcome_is(
    client: TestClient, blocks: list[str], db_session: Session
) -> None:
    from ceir.citizens.models import Application

    db_session.query(Application).filter(Application.public_id == "AP-5").delete()
    db_session.commit()
    november = _rows(client)[("2026-11", "not_registered", "kcell")]
    assert (november["upheld"], november["overturned_share"]) == ("", "")


def test_the_statistics_page_shows_the_reasons_in_each_language(
    client: TestClient, blocks: list[str]
) -> None:
    for lang, heading, reason in (
        ("ru", "Блокировки и апелляции по причинам", "не зарегистрировано"),
        ("kk", "Себептері бойынша бұғаттаулар мен шағымдар", "тіркелмеген"),
        ("en", "Blocks and appeals by reason", "not registered"),
    ):
        page = client.get(f"/statistics?lang={lang}&{PERIOD}").text
        assert heading in page
        row = re.search(
            r"<code>not_registered</code></th><td>kcell</td>((?:<td>[^<]*</td>)+)", page
        )
        assert row is not None, lang
        cells = re.findall(r"<td>([^<]*)</td>", row.group(1))
        assert cells[1:5] == ["7", "6", "3", "3"]
        assert reason in page.split('id="reasons-heading"')[1]
        assert "beeline" not in page  # its only row is withheld: left out
