"""The `ceir` command line: each command parses its arguments and calls one service function."""

from __future__ import annotations

import csv
import getpass
import gzip
import importlib
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from typer.core import TyperGroup

from ceir import faults
from ceir.check.service import check_table
from ceir.config import get_settings
from ceir.db import get_engine, session_scope
from ceir.errors import CeirError, FileRejected
from ceir.importing import ImportReport
from ceir.importing import Progress as ProgressCallback

if TYPE_CHECKING:
    from typer._click.core import Command, Context  # Typer ships its own copy of Click

# Command groups that live in their domain's package, by name. Each is imported only when it is
# called (or help lists them all): `ceir check` then starts without loading Alembic, FastAPI and
# the back office (over half a second of a million-IMEI check).
DOMAIN_APPS = {
    "network": "ceir.network.cli",
    "eir": "ceir.eir.cli",
    "keys": "ceir.apikeys.cli",
    "borders": "ceir.borders.cli",
    "sms": "ceir.sms.cli",
    "officers": "ceir.review.cli",
    "partners": "ceir.partners.cli",
}


# Exit codes (docs/operations.md): 0 done, 1 input refused, 2 usage (missing file, bad option).
EXIT_REFUSED = 1
EXIT_USAGE = 2
# What a file that is not what its command reads raises on the way (bad bytes, broken archives).
UNREADABLE = (
    UnicodeDecodeError,
    csv.Error,
    gzip.BadGzipFile,
    zipfile.BadZipFile,
    EOFError,
    pa.ArrowInvalid,
)


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class _CommandsOnDemand(TyperGroup):
    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in DOMAIN_APPS if n not in self.commands)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in DOMAIN_APPS and cmd_name not in self.commands:
            module = importlib.import_module(DOMAIN_APPS[cmd_name])
            group = typer.main.get_group(module.app)  # a group even with one command
            group.name = cmd_name
            self.add_command(group, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: Context) -> object:
        """A user's mistake, in any command: one line and an exit code, never a traceback."""
        try:
            return super().invoke(ctx)
        except CeirError as exc:
            err_console.print(f"[red]{exc.code}:[/red] {exc.detail}", highlight=False)
            raise typer.Exit(EXIT_REFUSED) from exc
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
            err_console.print(f"[red]{exc.strerror}:[/red] {exc.filename}", highlight=False)
            raise typer.Exit(EXIT_USAGE) from exc
        except UNREADABLE as exc:
            err_console.print(f"[red]Cannot read the file:[/red] {_reason(exc)}", highlight=False)
            raise typer.Exit(EXIT_REFUSED) from exc


app = typer.Typer(
    cls=_CommandsOnDemand,
    help="ceir: Central Equipment Identity Register of Kazakhstan.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tac_app = typer.Typer(help="Device models by TAC (GSMA TAC database).", no_args_is_help=True)
registry_app = typer.Typer(help="Registry of legally imported devices.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tac_app, name="tac")
app.add_typer(registry_app, name="registry")

console = Console()
err_console = Console(stderr=True)

AcceptGood = Annotated[
    bool,
    typer.Option(
        "--accept-good",
        help="Load the good rows and write the bad ones to --rejects, "
        "instead of refusing the whole file.",
    ),
]
Rejects = Annotated[
    Path | None,
    typer.Option("--rejects", help="Where to write refused rows with their reasons (CSV)."),
]
Actor = Annotated[
    str | None,
    typer.Option(
        "--actor", help="Who is loading the file, for the audit log (default: cli:<user>)."
    ),
]


def _actor(actor: str | None) -> str:
    return actor or f"cli:{getpass.getuser()}"


@contextmanager
def _file_progress(label: str) -> Iterator[ProgressCallback]:
    with Progress(
        TextColumn(label),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _print_report(report: ImportReport, *, shown: int = 20) -> None:
    table = Table(title=f"{report.filename}", show_header=False)
    for name, value in (
        ("rows", report.rows_total),
        ("accepted", report.rows_accepted),
        ("already loaded", report.rows_skipped),
        ("rejected", report.rows_rejected),
        ("seconds", f"{report.seconds:.2f}"),
    ):
        table.add_row(name, str(value))
    console.print(table)
    for error in report.errors[:shown]:
        err_console.print(f"  {error}", markup=False, highlight=False)
    if len(report.errors) > shown:
        err_console.print(f"  … and {report.rows_rejected - shown} more bad rows")


def _run_import(
    kind: str, path: Path, actor: str | None, accept_good: bool, rejects: Path | None
) -> None:
    from ceir.registry.service import import_declarations
    from ceir.tac.service import import_tac_file

    importer = import_tac_file if kind == "tac" else import_declarations
    if not path.is_file():
        err_console.print(f"[red]No such file:[/red] {path}")
        raise typer.Exit(2)
    if accept_good and rejects is None:
        rejects = path.with_suffix(".rejects.csv")
    try:
        with _file_progress(f"Reading {path.name}") as progress, session_scope() as session:
            report = importer(
                session,
                path,
                actor=_actor(actor),
                accept_good=accept_good,
                rejects_path=rejects,
                progress=progress,
            )
            faults.point(f"{kind}_import.before_commit")
        faults.point(f"{kind}_import.after_commit")
    except FileRejected as exc:
        err_console.print(f"[red]Refused:[/red] {exc.detail}")
        _print_report(exc.report)  # type: ignore[arg-type]
        raise typer.Exit(1) from exc
    _print_report(report)
    if rejects and report.rows_rejected:
        err_console.print(f"Refused rows written to {rejects}")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the database schema (SQLite file by default, or CEIR_DATABASE_URL)."""
    from alembic.util import CommandError

    from ceir import migrate

    try:
        migrate.upgrade(revision=revision)
    except CommandError as exc:
        err_console.print(f"[red]Cannot upgrade:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from exc
    console.print(f"Database at revision {revision}: {_safe_url()}")


def _safe_url() -> str:
    return get_engine().url.render_as_string(hide_password=True)


@tac_app.command("import")
def tac_import(
    file: Path, accept_good: AcceptGood = False, rejects: Rejects = None, actor: Actor = None
) -> None:
    """Load a GSMA TAC export (comma or pipe separated); known TACs are updated in place."""
    _run_import("tac", file, actor, accept_good, rejects)


@registry_app.command("import")
def registry_import(
    file: Path, accept_good: AcceptGood = False, rejects: Rejects = None, actor: Actor = None
) -> None:
    """Register the devices of a customs declarations CSV (one device a row, imei1..imeiN)."""
    _run_import("declarations", file, actor, accept_good, rejects)


@app.command()
def check(
    imeis: Annotated[list[str] | None, typer.Argument(help="IMEIs to check")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="A file with one IMEI a line")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write results as CSV here")
    ] = None,
) -> None:
    """Check IMEIs against the registry: registered, not registered or invalid, and the model."""
    queries = pa.array(imeis or [], pa.string())
    if file:
        queries = pa.concat_arrays([queries, _lines_of(file)])
    if not len(queries):
        err_console.print("Give IMEIs as arguments or --file.")
        raise typer.Exit(2)
    with session_scope() as session:
        results = check_table(session, queries)
    if output or results.num_rows > 50:
        _write_results(results, output)
    else:
        _print_results(results)


def _lines_of(file: Path) -> pa.Array:
    """The non-blank lines of a text file, trimmed, as Arrow strings (no Python string a line)."""
    text = file.read_text(encoding="utf-8-sig")
    lines = pc.utf8_trim_whitespace(pc.split_pattern(pa.array([text]), "\n").flatten())
    return lines.filter(pc.greater(pc.utf8_length(lines), 0))


def _write_results(results: pa.Table, output: Path | None) -> None:
    pa_csv.write_csv(results, str(output) if output else sys.stdout.buffer)
    if output:
        counts = results.column("verdict").value_counts().to_pylist()
        summary = ", ".join(
            f"{c['values']} {c['counts']}" for c in sorted(counts, key=lambda c: str(c["values"]))
        )
        err_console.print(f"{results.num_rows} IMEIs checked ({summary}); results in {output}")


def _print_results(results: pa.Table) -> None:
    table = Table("IMEI", "verdict", "brand / model", "registered", "reason")
    for column in table.columns:
        column.overflow = "fold"  # a narrow terminal wraps a cell rather than cutting it
    table.columns[0].no_wrap = True  # but an IMEI is copied whole: never split it
    colours = {"registered": "green", "not_registered": "yellow", "invalid": "red"}
    for row in results.to_pylist():
        registered = f"{row['source']} {row['registered_at'][:10]}" if row["source"] else ""
        model = " ".join(filter(None, (row["brand"], row["marketing_name"], row["model"])))
        verdict = row["verdict"]
        table.add_row(
            row["imei"] or row["query"],
            f"[{colours.get(verdict, 'white')}]{verdict}[/]",
            model,
            registered,
            row["reason"] or row["signals"] or "",
        )
    console.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Run the web application (public check, APIs) with uvicorn."""
    import uvicorn

    console.print(f"ceir is serving at http://{host}:{port}/  (API docs at /docs)")
    uvicorn.run(
        "ceir.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        # uvicorn's 5 s: on a busy machine a worker still importing was killed and started again
        # in a loop (each worker also builds the public check's index at start).
        timeout_worker_healthcheck=60,
    )


@app.command()
def demo(
    devices: Annotated[int, typer.Option(help="How many demo devices to generate")] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data")] = 7,
) -> None:
    """Fill the database with a realistic demo data set (idempotent: run it again safely)."""
    from ceir import migrate
    from ceir.demo import load_demo

    migrate.upgrade()
    summary = load_demo(get_settings().data_dir / "demo", devices=devices, seed=seed, actor="demo")
    console.print(
        f"Demo data loaded: {summary.registered} registered devices, "
        f"{summary.tac_models} TAC models."
    )
    console.print("Try these IMEIs:")
    for label, imei in summary.examples.items():
        console.print(f"  {label:<16} {imei}")
    if summary.notified:
        console.print(
            f"A day of Kcell traffic was classified: {summary.notified} devices notified."
        )
    if summary.citizen:
        iin, phone = summary.citizen
        console.print(
            f"Citizen sign-in at /citizen: IIN {iin}, phone {phone}; "
            "read the SMS code with `ceir sms outbox`."
        )
    if summary.officer:
        username, password = summary.officer
        console.print(
            f"Officers' back office at /officers: {username} / {password} (made now, shown once)"
        )
    elif summary.officer_exists:
        console.print(
            f"Officers' back office at /officers: {summary.officer_exists}; its password was "
            f"shown by the first run. Set a new one with "
            f"`ceir officers set-password {summary.officer_exists}`."
        )


def main() -> None:
    try:
        app()
    except CeirError as exc:
        err_console.print(f"[red]{exc.code}:[/red] {exc.detail}")
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
