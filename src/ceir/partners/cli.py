"""`ceir partners …`: importers' and shops' verification fees (ledger, statements, payments)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ceir.config import get_settings
from ceir.db import session_scope
from ceir.partners import fees

app = typer.Typer(help="Partners: importers and shops.", no_args_is_help=True)
fees_app = typer.Typer(
    help="Verification fees (1 MRP per registered device).", no_args_is_help=True
)
app.add_typer(fees_app, name="fees")
console = Console()

Partner = Annotated[str, typer.Option("--partner", "-p", help="the API key owner")]


@fees_app.command("ledger")
def ledger_command(
    partner: Annotated[str | None, typer.Option("--partner", "-p")] = None,
) -> None:
    """Devices registered and fees per partner and month, with what is unpaid."""
    settings = get_settings()
    with session_scope() as session:
        rows = fees.ledger_of(session, partner)
        table = Table("partner", "month", "devices", "amount, tenge", "unpaid, tenge", "limit")
        for row in rows:
            table.add_row(
                str(row["partner"]),
                str(row["month"]),
                f"{row['devices']:,}",
                f"{row['amount']:,}",
                f"{row['unpaid']:,}",
                f"{fees.limit_of(settings, str(row['partner'])):,}",
            )
    console.print(table)


@fees_app.command("mark-paid")
def mark_paid_command(
    partner: Partner,
    month: Annotated[str, typer.Argument(help="YYYY-MM")],
    actor: Annotated[str | None, typer.Option(help="who recorded the payment")] = None,
) -> None:
    """Record that a partner paid a month's statement: its held imports may go ahead."""
    with session_scope() as session:
        marked = fees.mark_paid(session, partner, month, actor=actor or f"cli:{getpass.getuser()}")
        unpaid = fees.unpaid_of(session, partner)
    console.print(f"{partner} {month}: {marked} entries marked paid; unpaid now {unpaid:,} tenge")


@fees_app.command("statement")
def statement_command(
    partner: Partner,
    month: Annotated[str, typer.Argument(help="YYYY-MM")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="CSV file")] = None,
) -> None:
    """A partner's monthly statement as CSV (to a file, or to the terminal)."""
    with session_scope() as session:
        text = fees.statement_csv(fees.statement(session, partner, month))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"Wrote {output}")
