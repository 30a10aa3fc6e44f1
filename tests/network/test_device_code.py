"""The device's code: its Python rule and its SQL twin agree on every combination of facts."""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3

import duckdb
from sqlalchemy.orm import Session

from ceir.eir.snapshots import build_from_database
from ceir.network.enforcement import (
    CODE_SQL,
    DeviceCode,
    DeviceFacts,
    codes_now,
    device_code,
    load_facts,
)
from ceir.network.models import BlockPause, DeviceStateName, StolenDevice
from ceir.network.rules import Condition
from tests.factories import add_device_state, make_imei, register_device

# Each condition that the rule treats on its own, and two it treats alike ("other").
REASONS = [
    Condition.STOLEN.value,
    Condition.NOT_REGISTERED.value,
    Condition.DUPLICATE.value,
    Condition.UNKNOWN_TAC.value,
]
STATES = [None, *(s.value for s in DeviceStateName)]


def every_reasons() -> list[str]:
    """Every subset of REASONS in every order, joined as a run stores them."""
    return [
        "|".join(order)
        for size in range(len(REASONS) + 1)
        for order in itertools.permutations(REASONS, size)
    ]


def every_facts() -> list[DeviceFacts]:
    return [
        DeviceFacts(registered, stolen, paused, state, reasons)
        for registered, stolen, paused in itertools.product([False, True], repeat=3)
        for state in STATES
        for reasons in every_reasons()
    ]


def as_rows(facts: list[DeviceFacts]) -> list[tuple[int, bool, bool, bool, str | None, str]]:
    return [(n, f.registered, f.stolen, f.paused, f.state, f.reasons) for n, f in enumerate(facts)]


def test_sql_twin_agrees_with_the_rule_in_duckdb() -> None:
    facts = every_facts()
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE facts (n INTEGER, registered BOOLEAN, stolen BOOLEAN, paused BOOLEAN, "
        "state VARCHAR, reasons VARCHAR)"
    )
    con.executemany("INSERT INTO facts VALUES (?, ?, ?, ?, ?, ?)", as_rows(facts))
    sql_codes = dict(con.execute(f"SELECT n, {CODE_SQL} FROM facts").fetchall())  # noqa: S608

    disagreements = [
        (f, DeviceCode(sql_codes[n]), device_code(f))
        for n, f in enumerate(facts)
        if sql_codes[n] != device_code(f)
    ]
    assert len(facts) == 8 * len(STATES) * 65
    assert disagreements == []


def test_sql_twin_agrees_with_the_rule_in_sqlite() -> None:
    facts = every_facts()
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE facts (n, registered, stolen, paused, state, reasons)")
    con.executemany("INSERT INTO facts VALUES (?, ?, ?, ?, ?, ?)", as_rows(facts))
    sql_codes = dict(con.execute(f"SELECT n, {CODE_SQL} FROM facts").fetchall())  # noqa: S608

    assert [n for n, f in enumerate(facts) if sql_codes[n] != device_code(f)] == []


def test_the_order_of_severity() -> None:
    blocked = DeviceFacts(state="blocked", reasons="duplicate")
    assert device_code(DeviceFacts(stolen=True, paused=True, state="blocked")) is DeviceCode.STOLEN
    assert device_code(DeviceFacts(paused=True, state="blocked")) is DeviceCode.UNDER_APPEAL
    assert device_code(DeviceFacts(state="notified", reasons="duplicate")) is DeviceCode.NOTIFIED
    assert (
        device_code(DeviceFacts(state="blocked", reasons="not_registered"))
        is DeviceCode.BLOCKED_UNREGISTERED
    )
    assert device_code(blocked) is DeviceCode.BLOCKED
    assert device_code(DeviceFacts(registered=True)) is DeviceCode.ALLOWED


def test_a_registration_or_a_cancelled_report_since_the_run_cures_its_own_reason() -> None:
    registered_since = DeviceFacts(registered=True, state="blocked", reasons="not_registered")
    found_since = DeviceFacts(registered=True, state="blocked", reasons="stolen")
    clone = DeviceFacts(registered=True, state="blocked", reasons="not_registered|duplicate")
    assert device_code(registered_since) is DeviceCode.ALLOWED
    assert device_code(found_since) is DeviceCode.ALLOWED
    assert device_code(clone) is DeviceCode.BLOCKED
    # Unregistered with nothing else against it: notified, as an unknown device is.
    assert device_code(DeviceFacts(state="blocked", reasons="stolen")) is DeviceCode.NOTIFIED


def test_load_facts_reads_what_the_tables_hold(db_session: Session) -> None:
    now = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    registered, stolen, paused, unknown = (make_imei("35467819", 810_000 + n) for n in range(4))
    register_device(db_session, [registered])
    add_device_state(db_session, registered, reasons="not_registered|duplicate")
    db_session.add(StolenDevice(imei=stolen[:14], reported_at=now, source="police"))
    db_session.add(BlockPause(imei=paused[:14], reason="appeal", created_at=now))
    add_device_state(db_session, paused, "notified")

    facts = load_facts(db_session, [registered[:14], stolen[:14], paused[:14], unknown[:14]])

    assert facts == {
        registered[:14]: DeviceFacts(True, False, False, "blocked", "not_registered|duplicate"),
        stolen[:14]: DeviceFacts(stolen=True),
        paused[:14]: DeviceFacts(paused=True, state="notified", reasons="not_registered"),
        unknown[:14]: DeviceFacts(),
    }


def test_a_snapshot_built_from_the_database_answers_as_the_journal_would(
    db_session: Session,
) -> None:
    """Both read the same facts through the same rule, so a rebuilt index never undoes a
    journal entry (say, an appeal approved since the last run)."""
    now = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    keys: list[str] = []
    serial = 820_000
    for is_registered, is_stolen, is_paused in itertools.product([False, True], repeat=3):
        for state, reasons in [
            (None, ""),
            *itertools.product(
                ["notified", "blocked"],
                ["not_registered", "stolen", "stolen|not_registered", "duplicate"],
            ),
        ]:
            serial += 1
            imei = make_imei("35467819", serial)
            keys.append(imei[:14])
            if is_registered:
                register_device(db_session, [imei])
            if is_stolen:
                db_session.add(StolenDevice(imei=imei[:14], reported_at=now, source="police"))
            if is_paused:
                db_session.add(BlockPause(imei=imei[:14], reason="appeal", created_at=now))
            if state is not None:
                add_device_state(db_session, imei, state, reasons=reasons)
    db_session.commit()

    index = build_from_database(db_session)
    journal = dict(codes_now(db_session, keys))

    known = {k: code for k, code in journal.items() if index.code_of(int(k)) is not None}
    assert {k: index.code_of(int(k)) for k in known} == known
    # Only devices nothing at all is known of are left to the policy's "unknown" answer.
    facts = load_facts(db_session, keys)
    assert all(
        not (f.registered or f.stolen or f.state) for k, f in facts.items() if k not in known
    )
