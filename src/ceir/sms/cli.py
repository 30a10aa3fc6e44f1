"""`ceir sms …`: read the outbox, send again what the SMSC did not take."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from ceir.config import get_settings
from ceir.db import get_engine, session_scope
from ceir.sms import service

app = typer.Typer(help="SMS sent by ceir (sign-in codes, decisions).", no_args_is_help=True)
console = Console()
ALMATY = ZoneInfo("Asia/Almaty")


@app.command("outbox")
def outbox(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 20,
    msisdn: Annotated[str | None, typer.Option("--to", help="Only to this number (E.164).")] = None,
) -> None:
    """List the latest messages (in development the outbox is where sign-in codes arrive)."""
    with session_scope() as session:
        messages = service.latest(session, limit=limit, msisdn=msisdn)
        table = Table("id", "time (Almaty)", "to", "purpose", "gateway", "status", "text")
        table.columns[2].no_wrap = True  # a phone number is copied whole
        for m in messages:
            status = "sent" if m.sent_at else (f"error: {m.error}" if m.error else "pending")
            table.add_row(
                str(m.id),
                m.created_at.astimezone(ALMATY).strftime("%Y-%m-%d %H:%M:%S"),
                m.msisdn,
                m.purpose,
                m.gateway,
                status,
                m.text,
            )
    console.print(table)


@app.command("retry")
def retry() -> None:
    """Send again the messages the gateway has not taken yet."""
    settings = get_settings()
    with session_scope() as session:
        ids = service.unsent(session)
    sent = service.deliver(get_engine(), ids, settings) if ids else 0
    console.print(f"{sent} of {len(ids)} unsent messages sent.")
