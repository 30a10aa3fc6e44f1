"""The "this was not me" page in a real browser on a 360 px phone, in Russian and in Kazakh."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ceir import db, migrate
from ceir.citizens import service
from ceir.citizens.identity_models import IdentityAct
from ceir.config import Settings
from ceir.registry.service import find_registration
from ceir.sms.models import SmsMessage
from ceir.web.app import create_app
from tests.browser import PHONE, chromium, serve, small_tap_targets
from tests.factories import add_subscriber, add_tac, add_trip, make_iin, make_imei
from tests.untranslated import english_words

pytestmark = pytest.mark.browser

TAC = "35467819"
TODAY = dt.date.today()
LEFT, CAME_BACK = TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=10)
IIN = make_iin(serial=810)
RU_NUMBER, KK_NUMBER = "77015558101", "77755558102"
LINK = re.compile(r"https?://[^/\s]+(/citizen/n/[A-Za-z0-9_-]{22})")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Engine]]:
    """Two personal imports filed with one IIN that has a Russian and a Kazakh number."""
    path = tmp_path_factory.mktemp("identity-browser") / "ceir.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    engine = db.get_engine(url)
    settings = Settings(database_url=url, data_dir=path.parent)
    settings.citizens.secret_key = "browser-test"
    with db.session_factory(engine)() as session:
        add_tac(session, TAC, "Apple", "A3101", marketing_name="iPhone 17")
        add_subscriber(session, RU_NUMBER, IIN, language="ru")
        add_subscriber(session, KK_NUMBER, IIN, operator="beeline", language="kk")
        add_trip(session, IIN, LEFT, CAME_BACK)
        for serial in (1, 2):
            service.file_registration(
                session,
                service.Applicant(IIN, RU_NUMBER),
                imei1=make_imei(TAC, serial),
                imei2=None,
                brand="Apple",
                model="iPhone 17",
                entered_on=CAME_BACK,
                settings=settings,
            )
        session.commit()
    with serve(create_app(settings, engine)) as base:
        yield base, engine
    db.dispose_engines()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


def _link(engine: Engine, msisdn: str, nth: int) -> str:
    with Session(engine) as session:
        texts = session.scalars(
            select(SmsMessage.text)
            .where(SmsMessage.msisdn == msisdn, SmsMessage.purpose == "identity_use")
            .order_by(SmsMessage.id)
        ).all()
    found = LINK.search(texts[nth])
    assert found, texts[nth]
    return found.group(1)


def _fits(page: object) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("number", "nth", "lang", "question", "button", "thanks"),
    [
        (RU_NUMBER, 0, "ru", "Это были вы?", "Это был не я", "Спасибо"),
        (KK_NUMBER, 1, "kk", "Бұл сіз бе едіңіз?", "Бұл мен емеспін", "Рақмет"),
    ],
)
def test_the_holder_of_a_number_says_it_was_not_them_on_a_phone(
    browser: object,
    server: tuple[str, Engine],
    number: str,
    nth: int,
    lang: str,
    question: str,
    button: str,
    thanks: str,
) -> None:
    from playwright.sync_api import Browser, expect

    base, engine = server
    assert isinstance(browser, Browser)
    context = browser.new_context(viewport=PHONE, locale="en")  # the SMS's language wins
    page = context.new_page()
    try:
        path = _link(engine, number, nth)
        page.goto(f"{base}{path}")
        expect(page.get_by_role("heading", level=1)).to_have_text(question)
        assert page.locator("html").get_attribute("lang") == lang
        expect(page.locator("main")).to_contain_text("Apple iPhone 17")
        _fits(page)
        assert small_tap_targets(page) == []
        assert english_words(page.content()) == []
        page.screenshot(path=f"/tmp/ceir-not-me-{lang}-360.png", full_page=True)

        page.get_by_role("button", name=button).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(thanks)
        _fits(page)
        assert english_words(page.content()) == []
        page.screenshot(path=f"/tmp/ceir-not-me-{lang}-done-360.png", full_page=True)
        with Session(engine) as session:
            act = session.scalars(select(IdentityAct).order_by(IdentityAct.id)).all()[nth]
            assert (act.status, act.disputed_by) == ("disputed", number)
            assert find_registration(session, make_imei(TAC, nth + 1)[:14]) is None

        page.goto(f"{base}{path}")  # used: it works once
        expect(page.get_by_role("heading", level=1)).not_to_have_text(question)
        _fits(page)
        assert english_words(page.content()) == []
    finally:
        context.close()
