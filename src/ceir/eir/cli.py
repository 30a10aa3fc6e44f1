"""`ceir eir`: run the real-time equipment identity check, and build its index by hand."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from multiprocessing.context import SpawnProcess
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ceir.config import get_settings
from ceir.db import get_engine, session_scope
from ceir.eir.index import IndexHolder, latest_snapshot, write_snapshot
from ceir.eir.snapshots import build_from_database

if TYPE_CHECKING:
    from ceir.eir.node import NodeSettings

app = typer.Typer(
    help="Real-time equipment identity check (N5g-eir over HTTP, S13 over Diameter).",
    no_args_is_help=True,
)
console = Console()

# Requests in flight get this long to be answered after SIGTERM/SIGINT; the whole stop takes
# under 5 s (docs/operations.md).
GRACE_SECONDS = 3


@app.command()
def build() -> None:
    """Build the index from the database now and write it as a snapshot to the EIR folder."""
    settings = get_settings()
    started = time.perf_counter()
    with session_scope() as session:
        index = build_from_database(session)
    path = write_snapshot(settings.eir_dir, index)
    seconds = time.perf_counter() - started
    console.print(
        f"{len(index):,} devices (journal up to {index.journal_id}) written to {path} "
        f"in {seconds:.1f} s"
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port of the N5g-eir API")] = 8080,
    workers: Annotated[int, typer.Option(help="HTTP worker processes")] = 2,
    diameter_port: Annotated[
        int | None, typer.Option(help="Also answer S13 ECR over Diameter on this port")
    ] = None,
) -> None:
    """Serve GET /n5g-eir-eic/v1/equipment-status, /healthz and /metrics from an in-memory index."""
    import uvicorn

    settings = get_settings()
    # Workers memory-map one snapshot file and so share its pages; without a snapshot, building
    # it once here spares every worker from reading the whole database.
    if latest_snapshot(settings.eir_dir) is None:
        console.print("No snapshot yet: building the index from the database ...")
        build()
    metrics_dir = Path(tempfile.mkdtemp(prefix="ceir-eir-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # read by the workers at import
    diameter: SpawnProcess | None = None
    # SIGTERM's default action ends this process without running `finally`, and uvicorn (one
    # worker) re-raises the signal once it has stopped: the Diameter process was left listening.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        if diameter_port is not None:
            diameter = _start_diameter(host, diameter_port)
        console.print(
            f"N5g-eir at http://{host}:{port}/n5g-eir-eic/v1/equipment-status "
            f"({workers} workers)"
            + (f", Diameter S13 on {host}:{diameter_port}" if diameter_port is not None else "")
        )
        options = _http_options(host, port)
        if workers == 1:
            uvicorn.run(**options)
        else:
            _supervise_http_workers(options, workers, diameter)
    finally:
        if diameter is not None:
            diameter.terminate()  # it says goodbye (DPR) to its peers and closes
            diameter.join(GRACE_SECONDS)
            if diameter.is_alive():
                diameter.kill()
                diameter.join()
        shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
def node(
    source: Annotated[
        str, typer.Option(help="The centre's base URL, e.g. https://ceir.example.kz")
    ],
    key_file: Annotated[
        Path, typer.Option(help="File holding the operator's API key (scope eir:sync)")
    ],
    public_key: Annotated[
        Path, typer.Option(help="The list-signing public key (PEM) that signs the index")
    ],
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port of the N5g-eir API")] = 8080,
    diameter_port: Annotated[
        int | None, typer.Option(help="Also answer S13 ECR over Diameter on this port")
    ] = None,
    folder: Annotated[
        Path | None, typer.Option(help="Where verified snapshots are kept (default: data dir)")
    ] = None,
    poll_seconds: Annotated[float, typer.Option(min=0.1, help="Journal poll interval")] = 1.0,
    snapshot_seconds: Annotated[
        float, typer.Option(min=1, help="How often to look for a newer snapshot")
    ] = 30.0,
    stale_seconds: Annotated[
        float, typer.Option(min=1, help="Alarm when no sync succeeded for this long")
    ] = 60.0,
) -> None:
    """Run N5g-eir (and S13) with no database, from the centre's signed snapshot and journal."""
    from ceir.eir.node import NodeSettings, load_public_key

    settings = get_settings()
    try:
        api_key = key_file.read_text(encoding="ascii").strip()
    except OSError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    except UnicodeDecodeError as exc:
        console.print(f"[red]{key_file}: not an API key (ceir_<id>_<secret>)[/red]")
        raise typer.Exit(1) from exc
    try:
        verify_key = load_public_key(public_key)
    except OSError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    except (ValueError, TypeError) as exc:
        console.print(f"[red]{public_key}: not an Ed25519 public key in PEM[/red]")
        raise typer.Exit(1) from exc
    node_settings = NodeSettings(
        source=source.rstrip("/"),
        api_key=api_key,
        public_key=verify_key,
        folder=folder or settings.data_dir / "eir-node",
        poll_seconds=poll_seconds,
        snapshot_seconds=snapshot_seconds,
        stale_seconds=stale_seconds,
    )
    console.print(
        f"EIR node: N5g-eir on http://{host}:{port}"
        + (f", S13 on {host}:{diameter_port}" if diameter_port is not None else "")
        + f", index from {node_settings.source}"
    )
    asyncio.run(_run_node(node_settings, host, port, diameter_port))


async def _run_node(
    node_settings: NodeSettings, host: str, port: int, diameter_port: int | None
) -> None:
    """One process, one event loop: HTTP and S13 share the index the sync thread keeps."""
    import uvicorn
    from prometheus_client import REGISTRY

    from ceir.eir.diameter import serve_diameter
    from ceir.eir.http import EirApp
    from ceir.eir.node import NodeSync

    settings = get_settings()
    holder = IndexHolder()
    app = EirApp(settings, None, holder)
    sync = NodeSync(holder, node_settings, registry=app.metrics.registry)
    app.refresher = sync
    app.metrics.also.append(REGISTRY)  # S13 answers and peers
    if not sync.load_local():
        # Never answer from nothing: wait for a first verified snapshot.
        while True:
            await asyncio.to_thread(sync.cycle)
            if holder.current.name != "empty":
                break
            await asyncio.sleep(node_settings.poll_seconds)
    sync.start()
    diameter = (
        asyncio.create_task(serve_diameter(host, diameter_port, lambda: holder, settings))
        if diameter_port is not None
        else None
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            http="httptools",
            loop="none",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=GRACE_SECONDS,
        )
    )
    try:
        await server.serve()
    finally:
        if diameter is not None:
            diameter.cancel()  # it says goodbye (DPR) to its peers and closes
            with contextlib.suppress(asyncio.CancelledError):
                await diameter
        sync.stop()


def _http_options(host: str, port: int) -> dict[str, Any]:
    return {
        "app": "ceir.eir.http:create_app",
        "factory": True,
        "host": host,
        "port": port,
        "http": "httptools",
        "loop": "uvloop",
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": GRACE_SECONDS,
    }


def _supervise_http_workers(
    options: dict[str, Any], workers: int, diameter: SpawnProcess | None
) -> None:
    """Run `workers` uvicorn processes on one listening socket until SIGTERM or SIGINT.

    uvicorn's own manager stops its workers one after the other and only then returns, so the
    Diameter process was told last: 5-6 s under load. Here a stop reaches every worker and the
    Diameter process at once; each closes its listener straight away and answers what it has
    already received (GRACE_SECONDS at most), so both ports are free within the 5 s promised.
    A worker that dies is replaced.
    """
    import uvicorn

    listener = uvicorn.Config(**options).bind_socket()
    spawn = multiprocessing.get_context("spawn")
    parent = os.getpid()

    def start() -> SpawnProcess:
        worker = spawn.Process(
            target=_run_http_worker, args=(options, listener, parent), name="ceir-eir-http"
        )
        worker.start()
        return worker

    stopping = threading.Event()
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda _signum, _frame: stopping.set())
    running = [start() for _ in range(workers)]
    try:
        while not stopping.wait(0.2):
            running = [w if w.is_alive() else start() for w in running]
    finally:
        listener.close()
        everyone = running + ([diameter] if diameter is not None else [])
        for process in everyone:
            if process.is_alive():
                process.terminate()  # SIGTERM: stop listening, finish requests in flight
        deadline = time.monotonic() + GRACE_SECONDS + 1
        for process in everyone:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


def _run_http_worker(options: dict[str, Any], listener: socket.socket, parent: int) -> None:
    """One HTTP worker on the supervisor's socket; it stops, too, if the supervisor is killed."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(**options))

    def watch_parent() -> None:
        while not server.should_exit:
            if os.getppid() != parent:  # an orphan would keep the port from the next start
                server.should_exit = True
            time.sleep(1)

    threading.Thread(target=watch_parent, daemon=True).start()
    server.run(sockets=[listener])


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)  # a requested stop is a clean one


def _start_diameter(host: str, port: int) -> SpawnProcess:
    """The one Diameter listener, in a process of its own with its own index and refresher."""
    process = multiprocessing.get_context("spawn").Process(
        target=_run_diameter,
        args=(host, port, os.getpid()),
        name="ceir-eir-diameter",
        daemon=True,
    )
    process.start()
    return process


def _run_diameter(host: str, port: int, parent: int) -> None:
    from ceir.eir.service import IndexRefresher, initial_index

    settings = get_settings()
    engine = get_engine(settings.effective_database_url)
    holder = IndexHolder(initial_index(engine, settings))
    refresher = IndexRefresher(holder, engine, settings).start()
    try:
        asyncio.run(_serve_diameter_until_stopped(host, port, holder, parent))
    finally:
        refresher.stop()


async def _serve_diameter_until_stopped(
    host: str, port: int, holder: IndexHolder, parent: int
) -> None:
    """Serve S13 until SIGTERM or SIGINT, or until the parent is gone (killed with -9)."""
    from ceir.eir.diameter import serve_diameter

    task = asyncio.create_task(serve_diameter(host, port, lambda: holder, get_settings()))
    loop = asyncio.get_running_loop()
    for stop in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop, task.cancel)
    while not task.done():
        await asyncio.wait({task}, timeout=1)
        if os.getppid() != parent:  # an orphan would keep the port from the next start
            task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


if __name__ == "__main__":
    app()
