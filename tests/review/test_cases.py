"""The queue, the case file and its documents, as officers see them; every view is audited."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from ceir.config import Settings
from ceir.network.models import DeviceStateChange
from tests.factories import (
    add_application_document,
    add_application_in_review,
    add_device_state,
    add_tac,
    add_trip,
    make_iin,
    make_imei,
    register_device,
)
from tests.review.conftest import Desk

CASE_LINK = re.compile(r'href="/officers/cases/([A-Z0-9]+)"')


def _ago(**delta: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(**delta)


def test_queue_lists_the_oldest_first_with_the_waiting_time(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    add_application_in_review(db_session, public_id="MIDDLE01", created_at=_ago(days=1, hours=2))
    add_application_in_review(db_session, public_id="OLDEST01", created_at=_ago(days=3, hours=5))
    add_application_in_review(db_session, public_id="NEWEST01", created_at=_ago(minutes=20))
    add_application_in_review(db_session, public_id="DECIDED1", status="approved")

    page = desk("aliya").get("/officers/queue")

    assert CASE_LINK.findall(page.text) == ["OLDEST01", "MIDDLE01", "NEWEST01"]
    waits = re.findall(r'<dd class="waiting">([^<]+)</dd>', page.text)
    assert waits == ["3 d 5 h", "1 d 2 h", "less than an hour"]


def test_queue_filters_by_kind_status_assignment_and_age(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    aliya = desk("aliya")
    add_application_in_review(db_session, public_id="IMPORT01", created_at=_ago(days=10))
    add_application_in_review(
        db_session, public_id="APPEAL01", kind="appeal", created_at=_ago(days=2)
    )
    add_application_in_review(
        db_session, public_id="MINE0001", assigned_to=aliya.officer_id, created_at=_ago(days=1)
    )
    add_application_in_review(db_session, public_id="REJECT01", status="rejected")

    def ids(query: str) -> list[str]:
        return CASE_LINK.findall(aliya.get(f"/officers/queue?{query}").text)

    assert ids("") == ["IMPORT01", "APPEAL01", "MINE0001"]
    assert ids("kind=appeal") == ["APPEAL01"]
    assert ids("assigned=me") == ["MINE0001"]
    assert ids("assigned=nobody") == ["IMPORT01", "APPEAL01"]
    assert ids("older_than_days=5") == ["IMPORT01"]
    assert ids("status=rejected") == ["REJECT01"]
    assert aliya.get("/officers/queue?kind=bogus").status_code == 422


def test_case_page_shows_device_network_history_crossings_and_documents(
    desk: Callable[..., Desk], db_session: Session, settings: Settings
) -> None:
    iin, imei = make_iin(serial=42), make_imei("35467819", 77)
    add_tac(db_session, "35467819", "Apple", "A3523", marketing_name="iPhone 17 Pro")
    add_device_state(db_session, imei, "blocked")
    db_session.add(
        DeviceStateChange(
            run_id=1,
            imei=imei[:14],
            old_state=None,
            new_state="notified",
            reasons="not_registered",
            on_date=dt.date(2026, 10, 20),
        )
    )
    db_session.commit()
    add_trip(db_session, iin, dt.date(2026, 10, 2), dt.date(2026, 10, 14))
    add_trip(db_session, iin, dt.date(2025, 1, 2), dt.date(2025, 1, 9), prefix="OLD")
    application = add_application_in_review(db_session, public_id="CASE0001", iin=iin, imei=imei)
    document = add_application_document(db_session, settings.documents_dir, application)

    page = desk("aliya").get("/officers/cases/CASE0001")

    assert page.status_code == 200
    text = page.text
    assert iin in text and imei[:14] in text
    assert "iPhone 17 Pro" in text
    network = text[text.find("h-network") : text.find("h-crossings")]
    assert "notified" in network, network
    assert "exit from Kazakhstan" in text and "2026-10-02" in text and "2026-10-14" in text
    assert "2025-01-02" not in text  # a trip far outside the stated period is not shown
    assert f'href="/officers/documents/{document.id}"' in text
    assert "boarding pass.pdf" in text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_every_case_view_is_audited(desk: Callable[..., Desk], db_session: Session) -> None:
    add_application_in_review(db_session, public_id="CASE0001")
    aliya = desk("aliya")

    aliya.get("/officers/cases/CASE0001")
    aliya.get("/officers/cases/CASE0001")

    views = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "officer.view_case")
    ).all()
    assert [(v.actor, v.object_type, v.object_id) for v in views] == [
        ("officer:aliya", "application", "CASE0001")
    ] * 2


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("ru", ["Пересечения границы", "Заявитель", "Одобрить"]),
        ("kk", ["Шекарадан өту", "Өтініш беруші", "Мақұлдау"]),
        ("en", ["Border crossings", "Applicant", "Approve"]),
    ],
)
def test_case_page_speaks_russian_kazakh_and_english(
    desk: Callable[..., Desk], db_session: Session, lang: str, words: list[str]
) -> None:
    add_application_in_review(db_session, public_id="CASE0001")
    page = desk("aliya").get(f"/officers/cases/CASE0001?lang={lang}")
    assert f'<html lang="{lang}">' in page.text
    for word in words:
        assert word in page.text


def test_documents_are_served_inline_with_their_type_and_nosniff_and_audited(
    desk: Callable[..., Desk], db_session: Session, settings: Settings
) -> None:
    application = add_application_in_review(db_session, public_id="CASE0001")
    document = add_application_document(db_session, settings.documents_dir, application)

    answer = desk("aliya").get(f"/officers/documents/{document.id}")

    assert answer.status_code == 200
    assert answer.content.startswith(b"%PDF-")
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"].startswith("inline;")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "officer.view_document")
    ).one()
    assert (event.actor, event.object_id) == ("officer:aliya", document.id)
    assert event.details == {"application": "CASE0001"}


def test_a_document_of_an_unexpected_type_is_only_downloaded(
    desk: Callable[..., Desk], db_session: Session, settings: Settings
) -> None:
    application = add_application_in_review(db_session, public_id="CASE0001")
    document = add_application_document(
        db_session,
        settings.documents_dir,
        application,
        b"<script>alert(1)</script>",
        content_type="text/html",
        filename='x".html',
    )

    answer = desk("aliya").get(f"/officers/documents/{document.id}")

    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("document_id", ["..%2F..%2Fceir.db", "0" * 31, "Z" * 32])
def test_document_ids_that_ceir_never_makes_are_not_found(
    desk: Callable[..., Desk], document_id: str
) -> None:
    assert desk("aliya").get(f"/officers/documents/{document_id}").status_code == 404


@pytest.mark.parametrize(
    ("lang", "sentence", "condition"),
    [
        ("ru", "Указанная марка или модель не совпадает с записью GSMA", "не зарегистрирован"),
        ("kk", "Көрсетілген бренд немесе модель GSMA жазбасымен сәйкес емес", "тіркелмеген"),
    ],
)
def test_the_automatic_check_reads_as_sentences_with_their_evidence(
    desk: Callable[..., Desk], db_session: Session, lang: str, sentence: str, condition: str
) -> None:
    imei = make_imei("35467819", 78)
    add_device_state(db_session, imei, "blocked")
    application = add_application_in_review(db_session, public_id="CASE0002", imei=imei)
    application.auto_check = {
        "confirmed": False,
        "findings": ["tac_mismatch"],
        "crossings": [],
        "entered_at": "2026-10-14T20:30:00+00:00",
        "first_seen": None,
        "first_seen_source": "device_states.first_noncompliant",
        "tac": {"tac": "35467819", "brand": "Apple", "model": "A3523", "finding": "tac_mismatch"},
    }
    db_session.commit()
    text = desk("aliya").get(f"/officers/cases/CASE0002?lang={lang}").text
    check = text[text.find('class="findings"') : text.find("h-network")]
    assert sentence in check
    assert "Apple A3523" in check and "Apple iPhone 17" in check  # the evidence beside it
    for internal in ("tac_mismatch", "first_seen_source", "confirmed", "{"):
        assert internal not in check, internal
    network = text[text.find("h-network") : text.find("h-crossings")]
    assert condition in network and "not_registered" not in network


def test_queue_cards_say_why_each_case_waits(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    add_application_in_review(db_session, public_id="CASE0003")  # no entry on record
    text = desk("aliya").get("/officers/queue?lang=ru").text
    card = text[text.find("CASE0003") :]
    assert "Почему ждёт" in card
    assert "Въезда в Казахстан около указанного дня в записях нет." in card


def test_the_case_history_names_decision_reasons_in_the_officers_language(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    from ceir.citizens.service import decide_application

    add_application_in_review(db_session, public_id="CASE0004")
    decide_application(
        db_session,
        "CASE0004",
        approve=True,
        reason="purchase_abroad_confirmed",
        note=None,
        actor="officer:aliya",
    )
    db_session.commit()
    aliya = desk("aliya")
    for lang, words in (("ru", "Покупка устройства за рубежом"), ("kk", "шетелде сатып алынғаны")):
        text = aliya.get(f"/officers/cases/CASE0004?lang={lang}").text
        assert words in text and "purchase_abroad_confirmed" not in text, lang


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_the_case_file_and_queue_show_no_internal_codes(
    desk: Callable[..., Desk], db_session: Session, settings: Settings, lang: str
) -> None:
    """A paused block, a registration, the automatic check's entries, a document: all in words."""
    from ceir.citizens.models import ApplicationEvent
    from ceir.network.models import BlockPause
    from tests.untranslated import english_words, other_language_phrases

    imei = make_imei("35467819", 79)
    add_device_state(db_session, imei, "blocked")
    register_device(db_session, [imei], source="personal_import")
    application = add_application_in_review(
        db_session, public_id="CASE0005", imei=imei, kind="appeal"
    )
    at = application.created_at
    db_session.add_all(
        [
            BlockPause(imei=imei[:14], reason="appeal", reference="CASE0005", created_at=at),
            ApplicationEvent(
                application_id=application.id,
                at=at,
                actor="system:auto-check",
                status="in_review",
                note="no_entry_in_period",
            ),
        ]
    )
    db_session.commit()
    add_application_document(db_session, settings.documents_dir, application)
    aliya = desk("aliya", "reviewer", "supervisor")
    allowed = {"CASE0005", "aliya"}  # the case's id and the officer's user name
    for path in ("/officers/cases/CASE0005", "/officers/queue"):
        html = aliya.get(f"{path}?lang={lang}").text
        # Codes such as `appeal`, `personal_import`, `system:auto-check` are Latin words too.
        assert english_words(html, allowed) == [], path
        assert other_language_phrases(html, lang) == [], path


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_the_audit_log_has_no_untranslated_words(
    desk: Callable[..., Desk], db_session: Session, lang: str
) -> None:
    from tests.untranslated import english_words, other_language_phrases

    add_application_in_review(db_session, public_id="CASE0006")
    desk("aliya").get("/officers/cases/CASE0006")  # something in the log
    html = desk("audrey", "auditor").get(f"/officers/audit?lang={lang}").text
    assert "officer.view_case" in html  # the log's own codes, searchable as they are
    assert english_words(html, {"aliya", "audrey"}) == []
    assert other_language_phrases(html, lang) == []
