"""`ceir borders …`: load border-crossing files."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.console import Console

from ceir.borders.service import import_crossings_file
from ceir.db import session_scope
from ceir.errors import FileRejected

app = typer.Typer(help="Border-crossing records from the border service.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


@app.command("import")
def import_command(files: list[Path]) -> None:
    """Load crossings files: CSV (record_id,iin,direction,crossed_at,checkpoint,country) or JSON
    lines (.jsonl). Each file is atomic; a record already loaded is skipped."""
    failed = 0
    for path in files:
        if not path.is_file():
            err_console.print(f"[red]No such file:[/red] {path}")
            raise typer.Exit(2)
        try:
            with session_scope() as session:
                report = import_crossings_file(session, path, actor=f"cli:{getpass.getuser()}")
        except FileRejected as exc:
            failed += 1
            err_console.print(f"[red]Refused[/red] {path.name}: {exc.detail}")
            for error in exc.report.errors[:20]:  # type: ignore[attr-defined]
                err_console.print(f"  {error}", markup=False, highlight=False)
            continue
        console.print(
            f"{path.name}: {report.rows_accepted} loaded, {report.rows_skipped} already loaded, "
            f"{report.rows_total} records, {report.seconds:.2f} s"
        )
    if failed:
        raise typer.Exit(1)
