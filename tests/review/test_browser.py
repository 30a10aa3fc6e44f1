"""An officer on a phone-sized screen signs in and approves the oldest case (Debian's chromium)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from ceir import db, migrate
from ceir.config import OfficerSettings, Settings
from ceir.review import officers
from ceir.web.app import create_app
from tests.browser import PHONE, chromium, serve, small_tap_targets
from tests.factories import OFFICER_PASSWORD, add_application_in_review, add_officer

pytestmark = pytest.mark.browser


@pytest.fixture
def base_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(
        officers, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    monkeypatch.setattr(officers, "_dummy_hash", [])
    url = f"sqlite:///{tmp_path / 'ceir.db'}"
    migrate.upgrade(url)
    engine = db.get_engine(url)
    now = dt.datetime.now(dt.UTC)
    with db.session_factory(engine)() as session:
        add_officer(session, "aliya", ["reviewer"], full_name="Aliya Nurlanovna")
        add_application_in_review(
            session, public_id="OLDEST01", created_at=now - dt.timedelta(days=4)
        )
        add_application_in_review(
            session, public_id="NEWER001", created_at=now - dt.timedelta(hours=3)
        )
    # Plain HTTP on 127.0.0.1: the one place where the Secure flag is switched off.
    settings = Settings(
        database_url=url, data_dir=tmp_path, officers=OfficerSettings(secure_cookies=False)
    )
    app = create_app(settings, engine)
    with serve(app) as base:
        yield base
    db.dispose_engines()


def test_officer_approves_the_oldest_case_on_a_phone(base_url: str) -> None:
    from playwright.sync_api import expect

    with chromium() as browser:
        context = browser.new_context(viewport=PHONE, device_scale_factor=1, locale="ru-RU")
        page = context.new_page()
        try:
            page.goto(f"{base_url}/officers/queue")
            page.wait_for_url("**/officers/sign-in**")
            expect(page.get_by_role("heading", level=1)).to_have_text("Вход для сотрудников")
            page.get_by_label("Имя пользователя").fill("aliya")
            page.get_by_label("Пароль").fill(OFFICER_PASSWORD)
            page.get_by_role("button", name="Войти").click()
            page.wait_for_url("**/officers/queue")

            cases = page.locator(".cards .card__title a")
            expect(cases).to_have_count(2)
            expect(cases.first).to_have_text("Заявка OLDEST01")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert small_tap_targets(page) == []
            cases.first.click()

            page.wait_for_url("**/officers/cases/OLDEST01")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert small_tap_targets(page) == []
            approve = page.locator("form", has=page.locator("input[value=approve]"))
            approve.get_by_label("Причина").select_option("documents_confirm_trip")
            approve.get_by_label("Комментарий (его видит гражданин)").fill("Документы в порядке.")
            page.screenshot(path="/tmp/ceir-officer-case-360.png", full_page=True)
            approve.get_by_role("button", name="Одобрить").click()

            page.wait_for_url("**/officers/queue?done=OLDEST01")
            expect(page.get_by_role("status")).to_contain_text("OLDEST01")
            expect(cases).to_have_count(1)
            expect(cases.first).to_have_text("Заявка NEWER001")
            page.screenshot(path="/tmp/ceir-officer-queue-360.png", full_page=True)
        finally:
            context.close()
