"""The check page in a real browser on a phone-sized screen (Debian's chromium via Playwright)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ceir import db, migrate
from ceir.config import Settings
from ceir.web.app import create_app
from tests.browser import PHONE, chromium, serve, small_tap_targets
from tests.factories import add_tac, register_device

pytestmark = pytest.mark.browser

IMEI = "356938035643809"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served by uvicorn on a free local port over a migrated SQLite file."""
    path = tmp_path_factory.mktemp("browser") / "ceir.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    engine = db.get_engine(url)
    with db.session_factory(engine)() as session:
        add_tac(session, IMEI[:8], "Samsung", "SM-S928B", marketing_name="Galaxy S24 Ultra")
        register_device(session, [IMEI], "Samsung", "SM-S928B")
    app = create_app(Settings(database_url=url, data_dir=path.parent), engine)

    with serve(app) as base:
        yield base
    db.dispose_engines()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


@pytest.mark.parametrize(
    ("lang", "label", "button", "verdict", "screenshot"),
    [
        ("ru", "IMEI (15 цифр)", "Проверить", "Зарегистрирован", "/tmp/ceir-check-360.png"),
        ("kk", "IMEI (15 цифр)", "Тексеру", "Тіркелген", "/tmp/ceir-check-360-kk.png"),
    ],
)
def test_phone_user_checks_a_registered_imei(
    browser: object,
    base_url: str,
    lang: str,
    label: str,
    button: str,
    verdict: str,
    screenshot: str,
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, locale=lang)
    page = context.new_page()
    try:
        page.goto(f"{base_url}/?lang={lang}")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        page.get_by_label(label).fill(IMEI)
        page.get_by_role("button", name=button).click()
        page.wait_for_url(f"**imei={IMEI}**")

        expect(page.get_by_role("heading", level=2)).to_contain_text(verdict)
        expect(page.locator(".result")).to_contain_text("Galaxy S24 Ultra")
        expect(page.locator(".result")).to_contain_text("SM-S928B")
        expect(page.get_by_label(label)).to_have_value(IMEI)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=screenshot, full_page=True)
    finally:
        context.close()


def test_invalid_imei_fits_the_phone_screen(browser: object, base_url: str) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    page = context.new_page()
    try:
        # An unbroken 64-character paste must wrap instead of widening the page.
        page.goto(f"{base_url}/?lang=en&imei={'9' * 64}")
        expect(page.get_by_role("heading", level=2)).to_contain_text("Invalid IMEI")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.goto(f"{base_url}/?lang=en&imei=356938035643800")
        expect(page.locator(".result")).to_contain_text("it should be 9")
        page.screenshot(path="/tmp/ceir-check-360-invalid.png", full_page=True)
    finally:
        context.close()


TALL_PHONE = {"width": 360, "height": 780}


@pytest.mark.parametrize(
    ("lang", "label", "button", "verdict", "screenshot"),
    [
        ("ru", "IMEI (15 цифр)", "Проверить", "Неверный IMEI", "check-typo-ru.png"),
        ("kk", "IMEI (15 цифр)", "Тексеру", "Жарамсыз IMEI", None),
        ("ru", "IMEI (15 цифр)", "Проверить", "Вероятно, поддельный IMEI", "check-fake-ru.png"),
        ("ru", "IMEI (15 цифр)", "Проверить", "Зарегистрирован", "check-registered-ru.png"),
    ],
)
def test_the_verdict_is_on_screen_after_tapping_check(
    browser: object,
    base_url: str,
    lang: str,
    label: str,
    button: str,
    verdict: str,
    screenshot: str | None,
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    imei = {
        "Зарегистрирован": IMEI,
        "Вероятно, поддельный IMEI": "991234560000073",
    }.get(verdict, IMEI[:-1] + "0")
    context = browser.new_context(viewport=TALL_PHONE, device_scale_factor=1, locale=lang)
    page = context.new_page()
    try:
        page.goto(f"{base_url}/?lang={lang}")
        page.get_by_label(label).fill(imei)
        page.get_by_role("button", name=button).click()
        page.wait_for_url(f"**imei={imei}**")
        title = page.get_by_role("heading", level=2).first
        expect(title).to_contain_text(verdict)
        box = title.bounding_box()
        assert box is not None
        assert box["y"] >= 0 and box["y"] + box["height"] <= TALL_PHONE["height"], box
        advice = page.locator(".result__advice").bounding_box()
        assert advice is not None and advice["y"] < TALL_PHONE["height"], advice
        if screenshot:
            page.screenshot(path=f"/tmp/ceir-{screenshot}")  # docs/screenshots come from these
    finally:
        context.close()


def test_api_docs_load_with_no_network_beyond_the_server(browser: object, base_url: str) -> None:
    from playwright.sync_api import Browser, Route, expect

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport=PHONE)
    elsewhere: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(base_url):
            route.continue_()
        else:  # a locked-down network: nothing but the server answers
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    try:
        page.goto(f"{base_url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("ceir")
        expect(page.get_by_text("/api/v1/imei/{imei}").first).to_be_visible()
        assert elsewhere == []
    finally:
        context.close()


@pytest.mark.parametrize(
    "path",
    [
        f"/?lang=ru&imei={IMEI}",
        "/?lang=kk&imei=991234560000073",
        "/citizen/sign-in?lang=ru",
        "/statistics?lang=kk",
        "/no-such-page?lang=ru",
    ],
)
def test_every_link_and_control_is_a_44_pixel_tap_target(
    browser: object, base_url: str, path: str
) -> None:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto(base_url + path)
        assert small_tap_targets(page) == []
    finally:
        context.close()
