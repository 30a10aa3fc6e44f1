"""The statistics page in a real browser on a phone-sized screen: SVG charts, in ru and kk."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from ceir import db, migrate
from ceir.config import Settings, StatsSettings
from ceir.network.models import DeviceNumber, DeviceStateChange, Subscriber
from ceir.stats import service
from ceir.stats.deps import get_stats_settings
from ceir.web.app import create_app
from tests.browser import PHONE, chromium, serve
from tests.factories import add_decided_application, add_run, make_imei, register_device

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn on a free port over a migrated SQLite file with a few weeks of activity."""
    path = tmp_path_factory.mktemp("stats-browser") / "ceir.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    engine = db.get_engine(url)
    today = service.local_day(dt.datetime.now(dt.UTC))
    with db.session_factory(engine)() as session:
        serial = 0
        for back in range(20):
            day = dt.datetime.now(dt.UTC) - dt.timedelta(days=back)
            for source in ("importer_declaration", "personal_import"):
                for _ in range(2 + back % 3):
                    serial += 1
                    register_device(
                        session, [make_imei(serial=serial)], source=source, registered_at=day
                    )
        for back in range(0, 20, 7):
            run = add_run(session, today - dt.timedelta(days=back))
            run.counts = {
                "notified": 100 + back,
                "blocked": 40 + back,
                "newly_blocked": 5,
                "unblocked": 3,
            }
        # Blocks for not being registered this month, on kcell, and appeals against some.
        for n in range(4):
            imei, msisdn = make_imei("35467819", 950_000 + n), f"7701{950_000 + n:07d}"
            session.add(
                Subscriber(
                    msisdn=msisdn,
                    iin="900101300011",
                    operator="kcell",
                    updated_at=dt.datetime.now(dt.UTC),
                )
            )
            session.add(DeviceNumber(imei=imei[:14], msisdn=msisdn, run_id=1))
            session.add(
                DeviceStateChange(
                    run_id=1,
                    imei=imei[:14],
                    old_state="notified",
                    new_state="blocked",
                    reasons="not_registered",
                    on_date=today,
                )
            )
            if n < 2:
                appeal = add_decided_application(
                    session,
                    public_id=f"BR-{n}",
                    kind="appeal",
                    status="approved",
                    created_at=dt.datetime.now(dt.UTC),
                    decided_at=dt.datetime.now(dt.UTC),
                    imei=imei,
                )
                appeal.msisdn = msisdn
        session.commit()
    with engine.begin() as conn:
        for back in range(20):
            for verdict, n in (("registered", 3 + back % 4), ("not_registered", 2)):
                for _ in range(n):
                    service.record_check(conn, verdict, today - dt.timedelta(days=back))
    app = create_app(Settings(database_url=url, data_dir=path.parent), engine)
    app.dependency_overrides[get_stats_settings] = lambda: StatsSettings(suppression_threshold=2)

    with serve(app) as base:
        yield base
    db.dispose_engines()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


@pytest.mark.parametrize(
    ("lang", "heading", "registrations_title", "checks_title"),
    [
        (
            "ru",
            "Статистика",
            "Зарегистрировано устройств в день, по основаниям",
            "Доля публичных проверок, выявивших незарегистрированное устройство",
        ),
        (
            "kk",
            "Статистика",
            "Күніне тіркелген құрылғылар, негіздері бойынша",
            "Тіркелмеген құрылғыны анықтаған жария тексерулердің үлесі",
        ),
    ],
)
def test_phone_user_sees_the_statistics_charts(
    browser: object,
    base_url: str,
    lang: str,
    heading: str,
    registrations_title: str,
    checks_title: str,
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, locale=lang)
    page = context.new_page()
    try:
        page.goto(f"{base_url}/statistics?lang={lang}")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)

        charts = page.locator("svg.stats-chart__svg")
        assert charts.count() == 7
        # Every chart is an image named by its own title and described by its <desc>.
        expect(page.get_by_role("img", name=registrations_title)).to_be_visible()
        expect(page.get_by_role("img", name=checks_title)).to_be_visible()
        titles = charts.locator("title").all_text_contents()
        assert registrations_title in titles and checks_title in titles
        # Drawn, not empty: lines for registrations and enforcement, bars for checks.
        assert page.locator("#chart-registrations svg path").count() >= 2
        assert page.locator("#chart-enforcement-lists svg path").count() >= 2
        assert page.locator("#chart-checks rect.stats-chart__bar").count() >= 15
        box = page.locator("#chart-registrations svg path").first.bounding_box()
        assert box is not None and box["width"] > 30 and box["height"] > 10
        # The data table opens under its chart and scrolls inside its box, not the page.
        page.locator("#chart-registrations summary").click()
        expect(page.locator("#chart-registrations table")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # Blocks and appeals by reason: this month's table is open, and scrolls in its box.
        reasons = page.locator("details.stats-reasons").first
        expect(reasons.locator("table")).to_be_visible()
        row = reasons.locator("tbody tr", has=page.locator("code", has_text="not_registered"))
        expect(row.locator("td")).to_have_text(["kcell", "<2", "4", "2", "2", "<2", "<2"])
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=f"/tmp/ceir-statistics-360-{lang}.png", full_page=True)
    finally:
        context.close()
