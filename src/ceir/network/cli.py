"""`ceir network …`: operators' dumps and subscribers, classification runs, status."""

from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer
from rich.console import Console
from rich.table import Column, Table

from ceir import faults
from ceir.config import get_settings
from ceir.db import session_scope
from ceir.errors import FileRejected
from ceir.network import service
from ceir.network.classify import RunHeld, classify, confirm_held_run, dismiss_held_run
from ceir.network.dumps import DumpReport, import_dump
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
            faults.point("network_import.after_db_commit")
        except FileRejected as exc:
            failed += 1
            err_console.print(f"[red]Refused[/red] {path.name}: {exc.detail}")
            _print_samples(exc.report.samples)  # type: ignore[attr-defined]
            continue
        console.print(
            f"{path.name}: {report.status}, {report.rows_total:,} rows, "
            f"{report.distinct_imeis:,} distinct IMEIs, {report.seconds:.1f} s"
        )
        _print_bad_rows(report)
    if failed:
        raise typer.Exit(1)


def _print_bad_rows(report: DumpReport) -> None:
    """An accepted file may still hold bad rows (under the thresholds): say how many, and where."""
    counted = {
        name: check["count"]
        for name, check in report.checks.items()
        if isinstance(check, dict) and check.get("share") is not None and check["count"]
    }
    if not counted:
        return
    total = ", ".join(f"{name} {count:,}" for name, count in counted.items())
    plural = "s" if sum(counted.values()) > 1 else ""
    console.print(f"  {sum(counted.values()):,} row{plural} with problems ({total}); samples:")
    _print_samples(report.samples)


def _print_samples(samples: list[dict[str, Any]], shown: int = 10) -> None:
    for sample in samples[:shown]:
        err_console.print(f"  line {sample['line']}: {_why(sample)}", markup=False)
    if len(samples) > shown:
        err_console.print(f"  … and more (the report lists {len(samples)})")


def _why(sample: dict[str, Any]) -> str:
    """The reason a sample row of a dump is bad, as the import's report words it."""
    return str(sample.get("reason", "see the report"))


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
        dt.date | None,
        typer.Option("--date", help="The day classified, YYYY-MM-DD", parser=_day),
    ] = None,
    confirm_run: Annotated[
        int | None,
        typer.Option("--confirm-run", help="Let through run ID, held by the safety brake"),
    ] = None,
    dismiss_run: Annotated[
        int | None,
        typer.Option("--dismiss-run", help="Refuse run ID, held by the safety brake"),
    ] = None,
    supervisor: Annotated[
        str | None,
        typer.Option(
            "--supervisor", help="The supervisor (officer) confirming or dismissing a held run"
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Why a held run is dismissed (kept in the audit log)"),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Evaluate every device seen, not only those whose inputs changed"
        ),
    ] = False,
) -> None:
    """Classify the devices seen up to DATE and write every operator's lists.

    A run that would newly notify or block too many of an operator's devices is held before
    anything reaches the lists; a supervisor lets it through with --confirm-run ID --supervisor,
    or refuses it (a damaged file) with --dismiss-run ID --supervisor NAME --reason TEXT.
    Devices seen again with nothing new are not evaluated again (the outcome is the same);
    --full evaluates them all.
    """
    if sum(option is not None for option in (date, confirm_run, dismiss_run)) != 1:
        raise typer.BadParameter("give one of --date, --confirm-run or --dismiss-run")
    if (confirm_run is not None or dismiss_run is not None) and not supervisor:
        raise typer.BadParameter("a held run needs --supervisor NAME (an officer's username)")
    if dismiss_run is not None and not (reason or "").strip():
        raise typer.BadParameter("--dismiss-run needs --reason TEXT (why the run is refused)")
    if dismiss_run is not None:
        with session_scope() as session:
            set_aside = dismiss_held_run(
                session,
                run_id=dismiss_run,
                supervisor=str(supervisor),
                reason=str(reason),
                actor=_actor(),
            )
        console.print(
            f"Run {dismiss_run} dismissed: nothing of it reached the lists. Set aside: "
            f"{', '.join(set_aside) or 'no file'}; import the corrected files and run the day "
            "again with --date.",
            markup=False,
        )
        return
    try:
        with session_scope() as session:
            if confirm_run is not None:
                report = confirm_held_run(
                    session, run_id=confirm_run, supervisor=str(supervisor), actor=_actor()
                )
            else:
                assert date is not None
                report = classify(session, run_date=date, actor=_actor(), full=full)
    except RunHeld as exc:
        err_console.print(f"Held: {exc.detail}", markup=False, style="red")
        raise typer.Exit(3) from exc
    run_date = report.run_date
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
    # Two tables: at 80 columns one with every figure would cut or wrap them.
    imports = Table(
        Column("operator", no_wrap=True),
        Column("last import (UTC)", no_wrap=True),
        Column("period", no_wrap=True),
        Column("rows", justify="right", no_wrap=True),
        Column("refused", justify="right", no_wrap=True),
        title="Newest import of each operator; dumps refused in the last 30 days",
    )
    lists = Table(
        Column("operator", no_wrap=True),
        Column("notified", justify="right", no_wrap=True),
        Column("blocked", justify="right", no_wrap=True),
        title="Rows of each operator's own newest lists",
    )
    for row in status.operators:
        imports.add_row(
            row.operator,
            (row.last_import or "—").removesuffix(" UTC"),  # the header says UTC
            row.last_period or "—",
            f"{row.last_rows:,}" if row.last_rows is not None else "—",
            str(row.refused_recently),
        )
        lists.add_row(row.operator, f"{row.notified:,}", f"{row.blocked:,}")
    console.print(imports)
    console.print(lists)
    if status.last_run:
        unblocked = status.operators[0].unblocked_last_run if status.operators else 0
        console.print(
            f"Last classification: run {status.last_run[0]} for {status.last_run[1]}; "
            f"{unblocked:,} devices unblocked on every network"
        )


@app.command("public-key")
def public_key_command() -> None:
    """Print the Ed25519 public key operators use to verify list manifests."""
    console.print(public_key_pem(get_settings()).decode(), end="", highlight=False)
