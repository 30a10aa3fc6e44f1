"""API keys: issued once, stored hashed, scoped, revocable; the `keys` command line."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ceir.apikeys import cli
from ceir.apikeys.models import ApiKey
from ceir.apikeys.service import (
    SCOPE_CHECK,
    SCOPE_DUMPS_WRITE,
    SCOPE_LISTS_READ,
    authenticate,
    create_key,
    list_keys,
    revoke,
)
from ceir.audit.models import AuditEvent
from ceir.db import session_factory
from ceir.errors import InvalidInput, NotFound

NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
runner = CliRunner()


def _operator_key(db: Session, owner: str = "kcell") -> tuple[ApiKey, str]:
    key, plaintext = create_key(
        db,
        owner_kind="operator",
        owner=owner,
        scopes={SCOPE_LISTS_READ},
        label="kcell list puller",
        created_by="test",
        now=NOW,
    )
    db.commit()
    return key, plaintext


def test_a_key_is_shown_once_and_stored_only_as_the_hash_of_its_secret(
    db_session: Session, engine: Engine
) -> None:
    key, plaintext = _operator_key(db_session)

    prefix, key_id, secret = plaintext.split("_", 2)
    assert (prefix, key_id) == ("ceir", key.key_id)
    assert len(key_id) == 12 and len(secret) >= 43
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert key.secret_hash not in (plaintext, secret)
    with engine.connect() as conn:
        stored = [
            str(value)
            for table in ("api_keys", "audit_events")
            for row in conn.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
            for value in row
        ]
    assert not [value for value in stored if secret in value or plaintext in value]


def test_creating_a_key_is_audited_without_its_secret(db_session: Session) -> None:
    key, _ = _operator_key(db_session)

    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "apikey.create")).one()
    assert (event.actor, event.object_id) == ("test", key.key_id)
    assert event.details == {
        "owner_kind": "operator",
        "owner": "kcell",
        "scopes": ["lists:read"],
        "label": "kcell list puller",
    }


def test_the_key_authenticates_and_a_wrong_or_malformed_one_does_not(db_session: Session) -> None:
    key, plaintext = _operator_key(db_session)

    assert authenticate(db_session, plaintext, NOW) is key
    for wrong in (
        plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"),
        f"ceir_{key.key_id}_",
        f"ceir_{key.key_id}",
        plaintext.replace("ceir_", "xxxx_", 1),
        "ceir_000000000000_" + plaintext.split("_", 2)[2],
        "",
        "Bearer",
    ):
        assert authenticate(db_session, wrong, NOW) is None, wrong


def test_last_use_is_written_at_most_once_a_minute(db_session: Session) -> None:
    key, plaintext = _operator_key(db_session)

    authenticate(db_session, plaintext, NOW)
    authenticate(db_session, plaintext, NOW + dt.timedelta(seconds=59))
    assert key.last_used_at == NOW
    authenticate(db_session, plaintext, NOW + dt.timedelta(seconds=60))
    assert key.last_used_at == NOW + dt.timedelta(seconds=60)


def test_a_revoked_key_no_longer_authenticates_and_revoking_twice_changes_nothing(
    db_session: Session,
) -> None:
    key, plaintext = _operator_key(db_session)

    revoke(db_session, key.key_id, "officer", NOW)
    revoke(db_session, key.key_id, "officer", NOW + dt.timedelta(days=1))
    db_session.commit()

    assert authenticate(db_session, plaintext, NOW) is None
    assert key.revoked_at == NOW
    revocations = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "apikey.revoke")
    ).all()
    assert [(e.actor, e.object_id) for e in revocations] == [("officer", key.key_id)]
    with pytest.raises(NotFound):
        revoke(db_session, "nosuchkey000", "officer", NOW)


@pytest.mark.parametrize(
    ("owner_kind", "owner", "scopes", "complaint"),
    [
        ("operator", "megafon", {SCOPE_LISTS_READ}, "Unknown operator 'megafon'"),
        ("operator", "kcell", {SCOPE_CHECK}, "not for operator keys"),
        ("operator", "kcell", {"admin"}, "not for operator keys"),
        ("operator", "kcell", set(), "at least one scope"),
        ("partner", "shop", {SCOPE_DUMPS_WRITE}, "not for partner keys"),
        ("robot", "kcell", {SCOPE_LISTS_READ}, "Owner kind must be one of"),
    ],
)
def test_keys_are_issued_only_to_known_operators_with_their_kind_of_scope(
    db_session: Session, owner_kind: str, owner: str, scopes: set[str], complaint: str
) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        create_key(
            db_session,
            owner_kind=owner_kind,
            owner=owner,
            scopes=scopes,
            label="x",
            created_by="test",
        )


def test_keys_are_listed_by_owner(db_session: Session) -> None:
    kcell, _ = _operator_key(db_session, "kcell")
    beeline, _ = _operator_key(db_session, "beeline")

    assert list_keys(db_session) == [kcell, beeline]
    assert list_keys(db_session, owner_kind="operator", owner="beeline") == [beeline]
    assert list_keys(db_session, owner_kind="partner") == []


@pytest.mark.usefixtures("cli_env")
def test_keys_command_line_creates_lists_and_revokes(engine: Engine) -> None:
    created = runner.invoke(
        cli.app,
        [
            "create",
            "--owner-kind",
            "operator",
            "--owner",
            "kcell",
            "--scope",
            "lists:read",
            "--scope",
            "dumps:write",
            "--label",
            "Kcell DPI team",
            "--actor",
            "admin:aigerim",
        ],
    )
    assert created.exit_code == 0, created.output
    plaintext = created.stdout.strip()
    assert plaintext.startswith("ceir_")
    assert "cannot be shown again" in created.stderr
    key_id = plaintext.split("_", 2)[1]

    listed = runner.invoke(cli.app, ["list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert key_id in listed.stdout and "Kcell DPI team" in listed.stdout
    assert plaintext.split("_", 2)[2] not in listed.stdout

    revoked = runner.invoke(cli.app, ["revoke", key_id])
    assert revoked.exit_code == 0, revoked.output
    with session_factory(engine)() as session:
        assert authenticate(session, plaintext, NOW) is None
        assert session.scalars(select(ApiKey)).one().created_by == "admin:aigerim"


@pytest.mark.usefixtures("cli_env")
def test_keys_command_line_refuses_an_unknown_operator() -> None:
    result = runner.invoke(
        cli.app,
        [
            *("create", "--owner-kind", "operator", "--owner", "megafon"),
            *("--scope", "lists:read", "--label", "x"),
        ],
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidInput)
