"""axe-core in the browser: the main pages of buyers, citizens and officers, at 360 px, ru and kk.

axe-core comes pinned with the `axe-playwright-python` package (its axe.min.js, nothing fetched):
every rule that axe runs by default (WCAG 2.x A and AA, and its best practices) must pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ceir import db, migrate
from ceir.config import OfficerSettings, Settings
from ceir.network.models import BlockPause
from ceir.review import officers
from ceir.sms import service as sms
from ceir.web.app import create_app
from tests.browser import PHONE, chromium, serve
from tests.factories import (
    OFFICER_PASSWORD,
    TINY_PDF,
    add_application_document,
    add_application_in_review,
    add_device_state,
    add_officer,
    add_subscriber,
    add_tac,
    make_iin,
    make_imei,
    register_device,
)

pytestmark = pytest.mark.browser

TAC = "35693803"
REGISTERED, BLOCKED, NOTIFIED, APPEALED = (make_imei(TAC, n) for n in (1, 2, 3, 4))
CITIZEN = (make_iin(serial=900), "77015550009")
TYPO = REGISTERED[:-1] + str((int(REGISTERED[-1]) + 1) % 10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Engine]]:
    hasher = pytest.MonkeyPatch()
    hasher.setattr(officers, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    hasher.setattr(officers, "_dummy_hash", [])
    path = tmp_path_factory.mktemp("axe") / "ceir.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    engine = db.get_engine(url)
    settings = Settings(
        database_url=url, data_dir=path.parent, officers=OfficerSettings(secure_cookies=False)
    )
    settings.citizens.secret_key = "axe-test"
    with db.session_factory(engine)() as session:
        add_tac(session, TAC, "Samsung", "SM-S928B", marketing_name="Galaxy S24 Ultra")
        register_device(session, [REGISTERED], "Samsung", "SM-S928B")
        add_device_state(session, BLOCKED, "blocked")
        add_device_state(session, NOTIFIED, "notified")
        add_device_state(session, APPEALED, "blocked")
        add_subscriber(session, CITIZEN[1], CITIZEN[0])
        add_officer(session, "aliya", ["reviewer", "supervisor"])
        application = add_application_in_review(
            session, public_id="AXE00001", imei=APPEALED, kind="appeal"
        )
        session.add(
            BlockPause(
                imei=APPEALED[:14],
                reason="appeal",
                reference="AXE00001",
                created_at=application.created_at,
            )
        )
        session.commit()
        add_application_document(session, settings.documents_dir, application)
    with serve(create_app(settings, engine)) as base:
        yield base, engine
    db.dispose_engines()
    hasher.undo()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:3])
        for v in results.response["violations"]
    ]


def _check(page: Any, url: str, found: dict[str, list[str]]) -> None:
    page.goto(url)
    page.wait_for_load_state("load")
    problems = _violations(page)
    if problems:
        found[url] = problems


def _sign_in_citizen(page: Any, base: str, engine: Engine) -> None:
    page.goto(f"{base}/citizen/sign-in")
    page.locator("#iin").fill(CITIZEN[0])
    page.locator("#phone").fill(CITIZEN[1])
    page.locator("form.citizen-form button[type=submit]").click()
    page.wait_for_url("**/citizen/code")
    with Session(engine) as session:
        text = sms.latest(session, limit=1, msisdn=CITIZEN[1])[0].text
    code = re.search(r"\b(\d{6})\b", text)
    assert code
    page.locator("#code").fill(code.group(1))
    page.locator("form.citizen-form button[type=submit]").click()
    page.wait_for_url("**/citizen/applications")


def _sign_in_officer(page: Any, base: str) -> None:
    page.goto(f"{base}/officers/sign-in")
    page.locator("#username").fill("aliya")
    page.locator("#password").fill(OFFICER_PASSWORD)
    page.locator("#password").press("Enter")
    page.wait_for_url("**/officers/queue")


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_the_main_pages_have_no_accessibility_violations(
    browser: Any, server: tuple[str, Engine], tmp_path: Path, lang: str
) -> None:
    base, engine = server
    found: dict[str, list[str]] = {}
    context = browser.new_context(viewport=PHONE, locale=lang)
    page = context.new_page()
    try:
        public = ["", REGISTERED, BLOCKED, NOTIFIED, APPEALED, TYPO, make_imei("99123456", 7)]
        for imei in public:
            _check(page, f"{base}/?lang={lang}" + (f"&imei={imei}" if imei else ""), found)
        _check(page, f"{base}/statistics?lang={lang}", found)
        _check(page, f"{base}/citizen/sign-in?lang={lang}", found)

        _sign_in_citizen(page, base, engine)
        for path in ("applications", "devices", "applications/new/registration"):
            _check(page, f"{base}/citizen/{path}?lang={lang}", found)
        appeal = f"{base}/citizen/applications/new/appeal?lang={lang}"
        _check(page, appeal, found)
        # The appeal sent back with a mistake and its document kept.
        receipt = tmp_path / "receipt.pdf"
        receipt.write_bytes(TINY_PDF)
        page.locator("#imei").fill(BLOCKED)
        page.locator("#receipt").set_input_files(str(receipt))
        page.locator("#appeal button[type=submit]").last.click()
        page.locator("#receipt-kept").wait_for()
        problems = _violations(page)
        if problems:
            found["appeal with a mistake"] = problems

        _check(page, f"{base}/officers/sign-in?lang={lang}", found)
        _sign_in_officer(page, base)
        _check(page, f"{base}/officers/queue?lang={lang}", found)
        _check(page, f"{base}/officers/cases/AXE00001?lang={lang}", found)
    finally:
        context.close()
    assert found == {}


def test_axe_does_find_a_violation_when_there_is_one(
    browser: Any, server: tuple[str, Engine]
) -> None:
    """The check above can fail: a field stripped of its label is caught."""
    base, _engine = server
    context = browser.new_context(viewport=PHONE, locale="ru")
    page = context.new_page()
    try:
        page.goto(f"{base}/?lang=ru")
        assert _violations(page) == []
        page.evaluate("document.querySelectorAll('label').forEach(l => l.remove())")
        assert any(v.startswith("label ") for v in _violations(page))
    finally:
        context.close()
