"""`ceir officers`: create, list, disable, unlock the back office's accounts, set passwords."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ceir.db import session_scope, utcnow
from ceir.review import officers
from ceir.review.models import Role

app = typer.Typer(help="Officers of the back office and their roles.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

Actor = Annotated[
    str | None,
    typer.Option("--actor", help="Who does this, for the audit log (default: cli:<user>)."),
]
ROLE_NAMES = ", ".join(r.value for r in Role)


def _actor(actor: str | None) -> str:
    return actor or f"cli:{getpass.getuser()}"


def _read_password(from_stdin: bool) -> str:
    """From a prompt, typed twice; or the first line of standard input for scripts.

    Never from an argument: arguments end up in shell history and in every `ps` listing.
    """
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = typer.prompt("Password", hide_input=True)
    again = typer.prompt("Password again", hide_input=True)
    if password != again:
        err_console.print("[red]The passwords differ.[/red]")
        raise typer.Exit(2)
    return str(password)


@app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Sign-in name: Latin letters, digits, . _ -")],
    name: Annotated[str, typer.Option("--name", help="Full name, shown to colleagues")],
    role: Annotated[list[str], typer.Option("--role", help=f"Repeat for each role: {ROLE_NAMES}")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input"),
    ] = False,
    actor: Actor = None,
) -> None:
    """Create an officer; the password (12 characters or more) is asked for, never an argument."""
    password = _read_password(password_stdin)
    with session_scope() as session:
        officer = officers.create_officer(
            session, username, name, password, role, _actor(actor), utcnow()
        )
        console.print(f"Officer {officer.username} created with roles: {officer.roles}")


@app.command("list")
def list_() -> None:
    """Officers with their roles and state (never their password hashes)."""
    now = utcnow()
    with session_scope() as session:
        accounts = officers.list_officers(session)
        table = Table("username", "name", "roles", "active", "locked until", "created")
        for column in table.columns:
            column.overflow = "fold"
        table.columns[0].no_wrap = True  # a user name is typed back into commands: keep it whole
        for officer in accounts:
            locked = (
                officer.locked_until
                if officer.locked_until and officer.locked_until > now
                else None
            )
            table.add_row(
                officer.username,
                escape(officer.full_name),
                officer.roles,
                "yes" if officer.active else "no",
                locked.isoformat(timespec="minutes") if locked else "",
                officer.created_at.date().isoformat(),
            )
    console.print(table)


@app.command("disable")
def disable(username: str, actor: Actor = None) -> None:
    """Disable an officer at once: they cannot sign in and their sessions end."""
    with session_scope() as session:
        officers.disable_officer(session, username, _actor(actor), utcnow())
    console.print(f"Officer {username} disabled; their sessions are ended.")


@app.command("unlock")
def unlock(username: str, actor: Actor = None) -> None:
    """Lift the lock that repeated wrong passwords put on an account."""
    with session_scope() as session:
        officers.unlock_officer(session, username, _actor(actor))
    console.print(f"Officer {username} unlocked.")


@app.command("set-password")
def set_password(
    username: str,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input"),
    ] = False,
    actor: Actor = None,
) -> None:
    """Give an officer a new password (asked for, never an argument); unlocks the account and
    ends its sessions."""
    password = _read_password(password_stdin)
    with session_scope() as session:
        officers.set_password(session, username, password, _actor(actor), utcnow())
    console.print(f"Password of {username} set; the account is unlocked.")
