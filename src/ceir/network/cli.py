"""`ceir network …`: operators' dumps and subscribers, classification runs, status."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from ceir.config import get_settings
from ceir.db import session_scope
from ceir.errors import FileRejected
from ceir.network import service
from ceir.network.classify import classify
from ceir.network.dumps import import_dump
from ceir.network.signing import public_key_pem
from ceir.network.subscribers import import_subscribers

app = typer.Typer(help="Network enforcement: dumps, classification, lists.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

Operator = Annotated[str, typer.Option("--operator", "-o", help="kcell, beeline, tele2, altel")]


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@app.command("import")
def import_command(files: list[Path], operator: Operator) -> None:
    """Import an operator's dumps (CSV, .csv.gz or .zip named <operator>_<from>_<to>)."""
    failed = 0
    for path in files:
        try:
            with session_scope() as session:
                report = import_dump(session, path, operator=operator, actor=_actor())
        except FileRejected as exc:
            failed += 1
            err_console.print(f"[red]Refused[/red] {path.name}: {exc.detail}")
            for sample in exc.report.samples[:10]:  # type: ignore[attr-defined]
                err_console.print(f"  {json.dumps(sample, ensure_ascii=False)}", markup=False)
            continue
        console.print(
            f"{path.name}: {report.status}, {report.rows_total:,} rows, "
            f"{report.distinct_imeis:,} distinct IMEIs, {report.seconds:.1f} s"
        )
    if failed:
        raise typer.Exit(1)


@app.command("subscribers")
def subscribers_command(file: Path, operator: Operator) -> None:
    """Replace an operator's subscriber snapshot (msisdn,iin,since[,language])."""
    try:
        with session_scope() as session:
            report = import_subscribers(session, file, operator=operator, actor=_actor())
    except FileRejected as exc:
        err_console.print(f"[red]Refused[/red] {file.name}: {exc.detail}")
        for error in exc.report.errors[:20]:  # type: ignore[attr-defined]
            err_console.print(f"  {error}", markup=False)
        raise typer.Exit(1) from exc
    except duckdb.InvalidInputException as exc:  # not a CSV at all (binary, another encoding)
        reason = str(exc).splitlines()[1:2] or [str(exc)]
        err_console.print(f"[red]Refused[/red] {file.name}: {reason[0]}", markup=False)
        raise typer.Exit(1) from exc
    console.print(
        f"{file.name}: {report.rows_loaded:,} subscribers of {operator}, {report.seconds:.1f} s"
    )


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a day YYYY-MM-DD ({exc})") from exc


@app.command("classify")
def classify_command(
    date: Annotated[
        dt.date, typer.Option("--date", help="The day classified, YYYY-MM-DD", parser=_day)
    ],
) -> None:
    """Classify the devices seen up to DATE and write every operator's lists."""
    run_date = date
    with session_scope() as session:
        report = classify(session, run_date=run_date, actor=_actor())
    table = Table(title=f"Run {report.run_id} for {run_date}", show_header=False)
    for name, value in report.counts.items():
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    steps = ", ".join(f"{name} {seconds:.1f}" for name, seconds in report.step_seconds.items())
    table.add_row("seconds", f"{report.seconds:.1f} ({steps})")
    console.print(table)
    console.print(f"Lists in {get_settings().lists_dir / str(report.run_id)}")


@app.command("status")
def status_command() -> None:
    """Per operator: the last import, refusals, and devices notified, blocked and unblocked."""
    with session_scope() as session:
        status = service.status(session)
    table = Table(
        "operator",
        "last import",
        "period",
        "rows",
        "refused (30 d)",
        "notified",
        "blocked",
        "unblocked (last run)",
    )
    for row in status.operators:
        table.add_row(
            row.operator,
            row.last_import or "—",
            row.last_period or "—",
            f"{row.last_rows:,}" if row.last_rows is not None else "—",
            str(row.refused_recently),
            f"{row.notified:,}",
            f"{row.blocked:,}",
            f"{row.unblocked_last_run:,}",
        )
    console.print(table)
    if status.last_run:
        console.print(f"Last classification: run {status.last_run[0]} for {status.last_run[1]}")


@app.command("public-key")
def public_key_command() -> None:
    """Print the Ed25519 public key operators use to verify list manifests."""
    console.print(public_key_pem(get_settings()).decode(), end="", highlight=False)
