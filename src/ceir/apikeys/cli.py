"""`ceir keys`: issue, list and revoke API keys of operators and partners."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ceir.apikeys.service import ALL_SCOPES, create_key, list_keys, revoke
from ceir.db import session_scope, utcnow

app = typer.Typer(help="API keys of operators and partners.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

Actor = Annotated[
    str | None,
    typer.Option("--actor", help="Who does this, for the audit log (default: cli:<user>)."),
]


def _actor(actor: str | None) -> str:
    return actor or f"cli:{getpass.getuser()}"


@app.command("create")
def create(
    owner_kind: Annotated[str, typer.Option("--owner-kind", help="operator or partner")],
    owner: Annotated[str, typer.Option("--owner", help="Operator code (kcell, ...) or partner")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", help=f"Repeat for each scope: {', '.join(sorted(ALL_SCOPES))}"),
    ],
    label: Annotated[str, typer.Option("--label", help="What the key is for, who holds it")],
    rate_per_minute: Annotated[int | None, typer.Option(help="Requests a minute")] = None,
    daily_quota: Annotated[int | None, typer.Option(help="Requests a day")] = None,
    actor: Actor = None,
) -> None:
    """Issue a key; it is printed once, here, and cannot be shown again."""
    with session_scope() as session:
        key, plaintext = create_key(
            session,
            owner_kind=owner_kind,
            owner=owner,
            scopes=set(scope),
            label=label,
            created_by=_actor(actor),
            rate_per_minute=rate_per_minute,
            daily_quota=daily_quota,
        )
    err_console.print(
        f"[bold yellow]API key {key.key_id} for {key.owner_kind} {key.owner} "
        f"({key.scopes}). Store it now in a secret store: it is not kept and "
        "cannot be shown again.[/bold yellow]"
    )
    # The key alone on standard output, so a script can capture it.
    console.print(plaintext, markup=False, highlight=False, soft_wrap=True)


@app.command("list")
def list_(
    owner_kind: Annotated[str | None, typer.Option("--owner-kind")] = None,
    owner: Annotated[str | None, typer.Option("--owner")] = None,
) -> None:
    """Keys with their owners, scopes and use (never their secrets)."""
    with session_scope() as session:
        keys = list_keys(session, owner_kind=owner_kind, owner=owner)
    table = Table("key id", "owner", "scopes", "label", "created", "last used", "revoked")
    table.columns[0].no_wrap = True  # the id is what people copy: never break it
    for column in table.columns:
        column.overflow = "fold"  # a narrow terminal wraps a cell rather than cutting it
    for key in keys:
        table.add_row(
            key.key_id,
            f"{key.owner_kind}:{key.owner}",
            key.scopes,
            escape(key.label),
            escape(f"{key.created_at:%Y-%m-%d %H:%M} by {key.created_by}"),
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "",
            f"[red]{key.revoked_at:%Y-%m-%d %H:%M}[/red]" if key.revoked_at else "",
        )
    Console().print(table)  # made now, so it measures the terminal (or COLUMNS) of this run


@app.command("revoke")
def revoke_(
    key_id: Annotated[str, typer.Argument(help="The key id (the 12 characters after ceir_)")],
    actor: Actor = None,
) -> None:
    """Revoke a key; requests with it are refused from this moment."""
    with session_scope() as session:
        key = revoke(session, key_id, _actor(actor), utcnow())
    console.print(f"API key {key.key_id} of {key.owner_kind} {key.owner} is revoked.")
