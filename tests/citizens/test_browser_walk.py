"""Citizens' pages in a real browser on a phone-sized screen (Debian's chromium via Playwright)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ceir import db, migrate
from ceir.citizens.service import decide_application
from ceir.config import Settings
from ceir.sms import service as sms
from ceir.web.app import create_app
from tests.browser import PHONE, chromium, serve, small_tap_targets
from tests.factories import (
    TINY_PDF,
    add_device_state,
    add_owned_device,
    add_subscriber,
    add_tac,
    add_trip,
    make_iin,
    make_imei,
)

pytestmark = pytest.mark.browser

TAC = "35467819"
TODAY = dt.date.today()
LEFT, CAME_BACK = TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=10)
TRAVELLER = (make_iin(serial=500), "77015550001")
BLOCKED_OWNER = (make_iin(serial=600), "77015550002")
OWNER = (make_iin(serial=700), "77015550003")
APPELLANT = (make_iin(serial=800), "77015550004")
OWNED_PHONE = make_imei(TAC, 9)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Engine]]:
    path = tmp_path_factory.mktemp("citizens-browser") / "ceir.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    engine = db.get_engine(url)
    with db.session_factory(engine)() as session:
        add_tac(session, TAC, "Apple", "A3101", marketing_name="iPhone 17")
        add_owned_device(session, OWNER[0], [OWNED_PHONE])
        for iin, msisdn in (TRAVELLER, BLOCKED_OWNER, OWNER, APPELLANT):
            add_subscriber(session, msisdn, iin)
        add_trip(session, TRAVELLER[0], LEFT, CAME_BACK)
        for serial in (2, 3, 4):
            add_device_state(
                session, make_imei(TAC, serial), "blocked", first_noncompliant=CAME_BACK
            )
    settings = Settings(database_url=url, data_dir=path.parent)
    settings.citizens.secret_key = "browser-test"
    app = create_app(settings, engine)
    with serve(app) as base:
        yield base, engine
    db.dispose_engines()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


def _outbox(engine: Engine, msisdn: str) -> str:
    with Session(engine) as session:
        return sms.latest(session, limit=1, msisdn=msisdn)[0].text


def _fits(page: object) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # type: ignore[attr-defined]


def _sign_in(page: object, base: str, engine: Engine, iin: str, msisdn: str) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.goto(f"{base}/citizen/sign-in?lang=en")
    _fits(page)
    page.get_by_label("IIN").fill(iin)
    page.get_by_label("Phone number").fill("+7 " + msisdn[1:])
    page.get_by_role("button", name="Get a code").click()
    page.wait_for_url("**/citizen/code")
    code = re.search(r"\b(\d{6})\b", _outbox(engine, msisdn))
    assert code
    page.get_by_label("Code from the SMS").fill(code.group(1))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/citizen/applications")


def test_traveller_registers_a_phone_whose_trip_is_on_record(
    browser: object, server: tuple[str, Engine]
) -> None:
    from playwright.sync_api import Browser, expect

    base, engine = server
    assert isinstance(browser, Browser)
    context = browser.new_context(viewport=PHONE, locale="en")
    page = context.new_page()
    try:
        _sign_in(page, base, engine, *TRAVELLER)
        page.get_by_role("link", name="Register a device").first.click()
        page.get_by_label("IMEI (15 digits)").fill(make_imei(TAC, 1))
        page.get_by_label("Brand").fill("Apple")
        page.get_by_label("Model").fill("iPhone 17")
        page.get_by_label("Day you came back with the device").fill(CAME_BACK.isoformat())
        _fits(page)
        page.get_by_role("button", name="Submit").click()
        expect(page.locator(".application-status")).to_contain_text("Approved")
        _fits(page)
        page.screenshot(path="/tmp/ceir-citizen-registered-360.png", full_page=True)
        assert small_tap_targets(page) == []  # the account's navigation among them
        page.goto(f"{base}/citizen/devices?lang=ru")
        expect(page.locator("input[type=radio]").first).to_be_visible()
        assert small_tap_targets(page) == []
        page.screenshot(path="/tmp/ceir-citizen-devices-ru.png")
        page.goto(f"{base}/?lang=en&imei={make_imei(TAC, 1)}")
        expect(page.get_by_role("heading", level=2)).to_contain_text("Registered")
    finally:
        context.close()


def test_blocked_owner_appeals_and_hears_of_each_decision(
    browser: object, server: tuple[str, Engine], tmp_path: Path
) -> None:
    from playwright.sync_api import Browser, expect

    base, engine = server
    assert isinstance(browser, Browser)
    boarding_pass = tmp_path / "boarding-pass.pdf"
    boarding_pass.write_bytes(TINY_PDF)
    context = browser.new_context(viewport=PHONE, locale="en")
    page = context.new_page()
    try:
        _sign_in(page, base, engine, *BLOCKED_OWNER)
        public_ids = []
        for serial in (2, 3):
            page.goto(f"{base}/citizen/applications/new/appeal")
            page.get_by_label("IMEI (15 digits)").fill(make_imei(TAC, serial))
            page.get_by_label("Day you came back with the device").fill(CAME_BACK.isoformat())
            page.get_by_label("Boarding pass").set_input_files(str(boarding_pass))
            _fits(page)
            page.get_by_role("button", name="Submit").click()
            expect(page.locator(".application-status")).to_contain_text("Under review")
            public_ids.append(page.url.rsplit("/", 1)[1])

        with Session(engine) as session:
            decide_application(
                session,
                public_ids[0],
                approve=True,
                reason="documents_confirm_trip",
                note=None,
                actor="officer:test",
            )
            decide_application(
                session,
                public_ids[1],
                approve=False,
                reason="no_proof_of_trip",
                note=None,
                actor="officer:test",
            )
            session.commit()

        page.goto(f"{base}/?lang=en&imei={make_imei(TAC, 2)}")
        # The registration shows at once. The verdict stays "Blocked" until the next
        # classification run clears the device's state: the check lets a block outrank a
        # registration (ceir.check.service.with_enforcement), which is not the citizens' to change.
        expect(page.locator(".result")).to_contain_text("an approved appeal")
        page.goto(f"{base}/citizen/applications/{public_ids[1]}")
        expect(page.locator(".application-status")).to_contain_text("Rejected")
        expect(page.locator("main")).to_contain_text("do not prove")
        _fits(page)
        page.screenshot(path="/tmp/ceir-citizen-rejected-360.png", full_page=True)
        assert public_ids[1] in _outbox(engine, BLOCKED_OWNER[1])
        page.goto(f"{base}/citizen/applications")
        expect(page.locator(".application-list li")).to_have_count(2)
    finally:
        context.close()


def test_reporting_ones_own_phone_lost_asks_first_and_names_the_consequence(
    browser: object, server: tuple[str, Engine]
) -> None:
    from playwright.sync_api import Browser, expect

    base, engine = server
    assert isinstance(browser, Browser)
    context = browser.new_context(viewport=PHONE, locale="ru")
    page = context.new_page()
    try:
        _sign_in(page, base, engine, *OWNER)
        page.goto(f"{base}/citizen/devices?lang=ru")
        radios = page.locator("input[name=kind]")
        assert radios.count() == 2
        assert not radios.nth(0).is_checked() and not radios.nth(1).is_checked()
        # Stolen without the police report number: refused, and what was chosen stays.
        page.get_by_label("Украден").check()
        page.get_by_role("button", name="Сообщить о потере или краже").click()
        expect(page.locator("#form-error")).to_contain_text("номер")
        assert page.get_by_label("Украден").is_checked()
        # Lost: one tap asks first, naming what will happen, and blocks nothing yet.
        page.get_by_label("Утерян").check()
        page.get_by_role("button", name="Сообщить о потере или краже").click()
        confirm = page.locator("form.confirm")
        expect(confirm).to_contain_text("заблокирован")
        expect(confirm).to_contain_text(OWNED_PHONE)
        assert confirm.locator("h3").evaluate("e => e === document.activeElement")
        box = confirm.bounding_box()
        assert box is not None and box["y"] < PHONE["height"]  # in view on the phone
        assert "Заявлено утерянным" not in page.content()
        _fits(page)
        assert small_tap_targets(page) == []
        page.get_by_role("button", name="Да, заблокировать телефон").click()
        expect(page.locator(".status--rejected")).to_contain_text("Заявлено утерянным")
    finally:
        context.close()


def test_a_slow_upload_shows_progress_and_a_mistake_keeps_the_document(
    browser: object, server: tuple[str, Engine], tmp_path: Path
) -> None:
    from playwright.sync_api import Browser, expect

    base, engine = server
    assert isinstance(browser, Browser)
    receipt = tmp_path / "receipt.pdf"
    receipt.write_bytes(TINY_PDF + b"%" * 300_000)  # 300 KB: seconds on a slow 3G uplink
    context = browser.new_context(viewport=PHONE, locale="ru")
    page = context.new_page()
    try:
        _sign_in(page, base, engine, *APPELLANT)
        page.goto(f"{base}/citizen/applications/new/appeal?lang=ru")
        page.locator("#imei").fill(make_imei(TAC, 4))
        page.locator("#receipt").set_input_files(str(receipt))  # the day of entry forgotten
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 150,
                "downloadThroughput": 200_000,
                "uploadThroughput": 60_000,
            },
        )
        page.get_by_role("button", name="Отправить").click()
        progress = page.locator("progress")
        expect(progress).to_be_visible()
        page.wait_for_function(
            "() => { const p = document.querySelector('progress');"
            " return p && p.value > 0 && p.value < 100; }"
        )
        expect(page.locator("[data-progress-text]")).to_contain_text("Отправлено")
        # The form comes back with its mistake, and the document is kept on the server.
        expect(page.locator("#entered_on-error")).to_be_visible(timeout=60_000)
        expect(page.locator("#receipt-kept")).to_contain_text("receipt.pdf")
        assert page.locator("#form-error").evaluate("e => e === document.activeElement")
        _fits(page)
        assert small_tap_targets(page) == []
        page.screenshot(path="/tmp/ceir-citizen-appeal-kept-360.png", full_page=True)
        page.evaluate("document.querySelector('label[for=entered_on]').scrollIntoView()")
        page.screenshot(path="/tmp/ceir-citizen-appeal-kept-ru.png")  # docs/screenshots
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        page.locator("#entered_on").fill(CAME_BACK.isoformat())
        page.get_by_role("button", name="Отправить").click()
        expect(page.locator(".application-status")).to_contain_text("На рассмотрении")
        expect(page.locator("main")).to_contain_text("receipt")
    finally:
        context.close()
