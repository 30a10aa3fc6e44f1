"""The public check from memory answers exactly as the database does, changes included at once."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.check.memory import MemoryCheck
from ceir.check.service import check_imei
from ceir.citizens.stolen import ReportKind, report_by_police
from ceir.config import Settings
from ceir.db import read_engine
from ceir.network.models import BlockPause, StolenDevice
from ceir.registry import service as registry
from ceir.registry.models import Registration, RegistrationSource
from ceir.web.app import create_app
from tests.factories import (
    add_application_in_review,
    add_device_state,
    add_run,
    add_tac,
    make_imei,
    register_device,
)

KNOWN, UNKNOWN = "35467819", "99000001"
NOW = dt.datetime(2026, 11, 2, 8, 30, 15, 123456, tzinfo=dt.UTC)


def imei(serial: int, tac: str = KNOWN) -> str:
    return make_imei(tac, serial)


def devices_in_every_state(session: Session) -> dict[str, str]:
    """One IMEI (or typed query) per case the check tells apart."""
    add_tac(session, KNOWN, "Apple", "A3523", "iPhone 17 Pro")
    register_device(session, [imei(1), imei(2)], registered_at=NOW)  # registered, second IMEI
    register_device(session, [imei(3, UNKNOWN)], registered_at=NOW)  # registered, unknown TAC
    for state, serial, reasons in (
        ("notified", 10, "not_registered"),
        ("blocked", 11, "not_registered"),
        ("blocked", 12, "duplicate"),
        ("blocked", 13, "not_registered"),  # paused by an appeal below
        ("notified", 14, "not_registered"),  # registration under review below
        ("blocked", 15, "unknown_tac|not_registered"),
    ):
        add_device_state(session, imei(serial), state, reasons=reasons)
    # Registered since the run that blocked it: the registration cures "not registered".
    register_device(session, [imei(16)], registered_at=NOW)
    add_device_state(session, imei(16), "blocked", reasons="not_registered")
    # Registered, but blocked as a clone: the state still stands.
    register_device(session, [imei(17)], registered_at=NOW)
    add_device_state(session, imei(17), "blocked", reasons="duplicate")
    # Registered twice (a revocation, then again): the latest registration in force shows.
    device = register_device(session, [imei(18)], registered_at=NOW)
    session.add(
        Registration(
            device_id=device.id,
            source=RegistrationSource.PERSONAL_IMPORT.value,
            registered_at=NOW + dt.timedelta(days=3),
            actor="test",
        )
    )
    revoked = register_device(session, [imei(19)], registered_at=NOW)
    session.execute(
        update(Registration).where(Registration.device_id == revoked.id).values(revoked_at=NOW)
    )
    for key in (imei(20)[:14], imei(1)[:14]):  # stolen: one not registered, one registered
        session.add(StolenDevice(imei=key, reported_at=NOW, reference="KUI-1", source="police"))
    session.add(BlockPause(imei=imei(13)[:14], reason="appeal", reference="A-13", created_at=NOW))
    session.commit()
    add_application_in_review(session, public_id="APPEAL13", imei=imei(13), kind="appeal")
    add_application_in_review(session, public_id="PERSONAL14", imei=imei(14))
    add_application_in_review(session, public_id="PERSONAL21", imei=imei(21))  # never seen
    return {
        "registered": imei(1),
        "second imei": imei(2),
        "second imei as PEI": f"imeisv-{imei(2)[:14]}01",
        "registered, unknown TAC": imei(3, UNKNOWN),
        "not registered": imei(30),
        "not registered, unknown TAC": imei(31, UNKNOWN),
        "notified": imei(10),
        "blocked, not registered": imei(11),
        "blocked, clone": imei(12),
        "paused by appeal": imei(13),
        "notified, registration under review": imei(14),
        "blocked, unknown TAC": imei(15),
        "registered since its block": imei(16),
        "registered, blocked clone": imei(17),
        "registered twice": imei(18),
        "registration revoked": imei(19),
        "stolen": imei(20),
        "stolen, registered": imei(1),
        "registration under review": imei(21),
        "invalid check digit": imei(1)[:14] + str((int(imei(1)[14]) + 1) % 10),
        "letters": "35467819ABCDEF1",
        "junk": "000000000000000",
        "empty": " ",
    }


def memory_check(engine: Engine) -> MemoryCheck:
    memory = MemoryCheck(read_engine(engine))
    memory.rebuild()
    return memory


def test_memory_answers_every_state_as_the_database(engine: Engine, db_session: Session) -> None:
    queries = devices_in_every_state(db_session)
    memory = memory_check(engine)

    with read_engine(engine).connect() as conn:
        memory.poll(conn)
        for case, query in queries.items():
            from_database = check_imei(conn, query)
            assert memory.check(conn, query) == from_database, case
            if from_database.imei is not None:
                assert memory.answer(query, _parsed(query)) is not None, f"{case}: not from memory"


def test_json_and_page_are_the_same_from_memory_and_from_the_database(
    settings: Settings, engine: Engine, db_session: Session
) -> None:
    queries = devices_in_every_state(db_session)
    from_memory = create_app(settings, engine)
    from_memory.state.check_memory.rebuild()
    from_database = create_app(settings.model_copy(update={"check_from_memory": False}), engine)
    memory_client, database_client = TestClient(from_memory), TestClient(from_database)

    for case, query in queries.items():
        for lang in ("ru", "kk", "en"):
            path = f"/api/v1/imei/{query}?lang={lang}"
            assert memory_client.get(path).json() == database_client.get(path).json(), case
        page = f"/?imei={query}&lang=en"
        assert memory_client.get(page).text == database_client.get(page).text, case


def test_a_change_after_the_index_is_in_the_next_answer(
    settings: Settings, engine: Engine, db_session: Session
) -> None:
    devices_in_every_state(db_session)
    app = create_app(settings.model_copy(update={"check_staleness_seconds": 0}), engine)
    app.state.check_memory.rebuild()
    client = TestClient(app)
    newcomer, reported, blocked = imei(40), imei(30), imei(11)
    assert client.get(f"/api/v1/imei/{newcomer}").json()["verdict"] == "not_registered"
    assert client.get(f"/api/v1/imei/{reported}").json()["verdict"] == "not_registered"

    _register_and_report_stolen(db_session, newcomer, reported, "KUI-2026-7")
    register_device(db_session, [blocked], registered_at=NOW)  # a registry write, no journal
    db_session.commit()

    registered = client.get(f"/api/v1/imei/{newcomer}?lang=en").json()
    assert registered["verdict"] == "registered"
    assert registered["registration"]["source"] == "personal_import"
    assert client.get(f"/api/v1/imei/{reported}").json()["verdict"] == "stolen"
    assert client.get(f"/api/v1/imei/{blocked}").json()["verdict"] == "registered"
    with read_engine(engine).connect() as conn:
        for query in (newcomer, reported, blocked):
            assert app.state.check_memory.check(conn, query) == check_imei(conn, query)


def _register_and_report_stolen(
    db_session: Session, newcomer: str, reported: str, police_reference: str
) -> None:
    """An officer registers one IMEI and the police report another stolen (not committed)."""
    registry.register_device(
        db_session,
        imei_keys=[newcomer[:14]],
        source=RegistrationSource.PERSONAL_IMPORT,
        actor="officer",
        evidence={},
        now=NOW,
    )
    report_by_police(
        db_session,
        reported,
        kind=ReportKind.STOLEN,
        police_reference=police_reference,
        actor="police",
        now=NOW,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_registration_and_a_police_report_show_within_the_staleness_bound(
    settings: Settings, engine: Engine, db_session: Session
) -> None:
    devices_in_every_state(db_session)
    app = create_app(settings, engine)
    bound = app.state.settings.check_staleness_seconds
    assert 0 < bound <= 1  # what docs/operations.md promises
    clock = app.state.check_memory.clock = Clock()
    app.state.check_memory.rebuild()
    client = TestClient(app)
    newcomer, reported = imei(40), imei(30)
    assert client.get(f"/api/v1/imei/{newcomer}").json()["verdict"] == "not_registered"

    _register_and_report_stolen(db_session, newcomer, reported, "KUI-2026-8")
    db_session.commit()
    clock.now += bound / 4
    early = client.get(f"/api/v1/imei/{newcomer}").json()["verdict"]
    if engine.dialect.name == "sqlite":
        assert early == "registered"  # SQLite's data version: at once
    else:
        assert early == "not_registered"  # answered as of the poll a moment ago, no round trip

    clock.now += bound  # the last poll is now older than the bound
    assert client.get(f"/api/v1/imei/{newcomer}").json()["verdict"] == "registered"
    assert client.get(f"/api/v1/imei/{reported}").json()["verdict"] == "stolen"


def test_a_classification_run_sends_every_check_to_the_database_until_rebuilt(
    engine: Engine, db_session: Session
) -> None:
    devices_in_every_state(db_session)
    memory = MemoryCheck(read_engine(engine), background=False)
    memory.rebuild()
    notified = imei(10)
    assert memory.answer(notified, _parsed(notified)) is not None

    add_run(db_session)  # what a run writes (states) the journal does not carry
    add_device_state(db_session, imei(32), "notified")
    with read_engine(engine).connect() as conn:
        memory.poll(conn)
        assert memory.answer(notified, _parsed(notified)) is None
        assert memory.check(conn, imei(32)) == check_imei(conn, imei(32))
        memory.rebuild()
        assert memory.check(conn, imei(32)) == check_imei(conn, imei(32))
        assert memory.answer(imei(32), _parsed(imei(32))) is not None


def test_rate_limit_still_applies_to_checks_from_memory(
    settings: Settings, engine: Engine, db_session: Session
) -> None:
    register_device(db_session, [imei(1)])
    app = create_app(settings.model_copy(update={"public_rate_limit_per_minute": 2}), engine)
    app.state.check_memory.rebuild()
    client = TestClient(app)

    statuses = [client.get(f"/api/v1/imei/{imei(1)}").status_code for _ in range(3)]
    page = [client.get(f"/?imei={imei(1)}").status_code for _ in range(1)]

    assert statuses == [200, 200, 429]
    assert page == [429]


def _parsed(query: str) -> identifiers.Imei:
    return identifiers.parse_imei(query)
