"""`ceir officers`: accounts are made with a prompted or piped password, never an argument."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ceir.cli import app
from ceir.db import utcnow
from ceir.review.models import Officer

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("cli_env")
PASSWORD = "a long and secret passphrase"


def test_create_list_disable_and_unlock_an_officer(db_session: Session) -> None:
    created = runner.invoke(
        app,
        [
            "officers",
            "create",
            "Aliya",
            "--name",
            "Aliya Nurlanovna",
            "--role",
            "reviewer",
            "--role",
            "supervisor",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert created.exit_code == 0, created.output
    officer = db_session.scalars(select(Officer)).one()
    assert (officer.username, officer.roles) == ("aliya", "reviewer supervisor")
    assert officer.password_hash.startswith("$argon2id$")

    listed = runner.invoke(app, ["officers", "list"])
    assert "aliya" in listed.output and "supervisor" in listed.output
    assert "argon2" not in listed.output

    db_session.execute(update(Officer).values(locked_until=utcnow(), failed_logins=3))
    db_session.commit()
    assert runner.invoke(app, ["officers", "unlock", "aliya"]).exit_code == 0
    assert runner.invoke(app, ["officers", "disable", "aliya"]).exit_code == 0
    db_session.expire_all()
    officer = db_session.scalars(select(Officer)).one()
    assert (officer.locked_until, officer.failed_logins, officer.active) == (None, 0, False)


def test_the_password_is_prompted_twice_and_must_match(db_session: Session) -> None:
    differ = runner.invoke(
        app,
        ["officers", "create", "bolat", "--name", "Bolat", "--role", "auditor"],
        input=PASSWORD + "\n" + PASSWORD + "x\n",
    )
    assert differ.exit_code == 2
    assert db_session.scalars(select(Officer)).all() == []


def test_no_password_argument_and_no_short_password() -> None:
    as_argument = runner.invoke(
        app, ["officers", "create", "bolat", "--name", "B", "--role", "auditor", "--password", "x"]
    )
    assert as_argument.exit_code == 2
    short = runner.invoke(
        app,
        ["officers", "create", "bolat", "--name", "B", "--role", "auditor", "--password-stdin"],
        input="too short\n",
    )
    assert short.exit_code == 1
    assert "invalid_input" in short.output  # one line, no traceback


def test_set_password_lets_a_locked_out_officer_back_in(db_session: Session) -> None:
    import datetime as dt

    from ceir.review.officers import authenticate

    runner.invoke(
        app,
        ["officers", "create", "dana", "--name", "Dana", "--role", "reviewer", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    db_session.execute(
        update(Officer).values(locked_until=utcnow() + dt.timedelta(hours=1), failed_logins=5)
    )
    db_session.commit()
    new = "another long passphrase, renewed"
    result = runner.invoke(app, ["officers", "set-password", "dana", "--password-stdin"], input=new)
    assert result.exit_code == 0, result.output
    db_session.expire_all()
    assert authenticate(db_session, "dana", PASSWORD, utcnow(), "test") is None
    assert authenticate(db_session, "dana", new, utcnow(), "test") is not None
    weak = runner.invoke(app, ["officers", "set-password", "dana", "--password-stdin"], input="x")
    assert weak.exit_code != 0
