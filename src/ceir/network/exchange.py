"""What operators exchange with ceir over the API: the list files they pull, the dumps they push."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ceir.config import Settings
from ceir.errors import NotFound
from ceir.network.models import ClassificationRun, ListFile

MAX_RUNS_PAGE = 100


@dataclass(frozen=True, slots=True)
class PublishedRun:
    run: ClassificationRun
    files: list[ListFile]


@dataclass(frozen=True, slots=True)
class RunsPage:
    runs: list[PublishedRun]
    next_before: int | None  # pass as `before` for the next (older) page; None on the last one


def list_runs(
    db: Session, operator: str, *, limit: int = 20, before: int | None = None
) -> RunsPage:
    """Finished runs that made files for `operator`, newest first, each with those files."""
    limit = max(1, min(limit, MAX_RUNS_PAGE))
    query = (
        select(ClassificationRun)
        .where(ClassificationRun.finished_at.is_not(None))
        .where(
            exists().where(ListFile.run_id == ClassificationRun.id, ListFile.operator == operator)
        )
        .order_by(ClassificationRun.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(ClassificationRun.id < before)
    runs = list(db.scalars(query))
    next_before = runs[limit - 1].id if len(runs) > limit else None
    return RunsPage(_with_files(db, operator, runs[:limit]), next_before)


def get_run(db: Session, operator: str, run_id: int | None = None) -> PublishedRun:
    """One published run of `operator` (the newest when `run_id` is None), or NotFound."""
    page = list_runs(db, operator, limit=1, before=None if run_id is None else run_id + 1)
    if not page.runs or (run_id is not None and page.runs[0].run.id != run_id):
        which = "yet" if run_id is None else str(run_id)
        raise NotFound(f"No published run {which} for {operator}.")
    return page.runs[0]


def _with_files(db: Session, operator: str, runs: list[ClassificationRun]) -> list[PublishedRun]:
    if not runs:
        return []
    files = db.scalars(
        select(ListFile)
        .where(ListFile.run_id.in_([r.id for r in runs]), ListFile.operator == operator)
        .order_by(ListFile.id)
    )
    by_run: dict[int, list[ListFile]] = {r.id: [] for r in runs}
    for file in files:
        by_run[file.run_id].append(file)
    return [PublishedRun(run, by_run[run.id]) for run in runs]


def list_file_path(
    db: Session, settings: Settings, operator: str, run_id: int, name: str
) -> tuple[ListFile, Path]:
    """The recorded file `name` of a published run and where it lies, or NotFound.

    The path is built only from the recorded row, never from the name asked for, and must stay
    inside the run's directory: a request cannot reach any other file.
    """
    missing = NotFound(f"No file {name!r} in run {run_id} for {operator}.")
    get_run(db, operator, run_id)
    if not name.isprintable():  # PostgreSQL refuses NUL in text: it would be a 500, not a 404
        raise missing
    row = db.scalar(
        select(ListFile).where(
            ListFile.run_id == run_id, ListFile.operator == operator, ListFile.name == name
        )
    )
    if row is None:
        raise missing
    directory = (settings.lists_dir / str(row.run_id) / row.operator).resolve()
    path = (directory / row.name).resolve()
    if path.parent != directory or not path.is_file():
        raise missing
    return row, path


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sanitise_filename(name: str) -> str:
    """A harmless file name from what a client sent: its last path part, plain characters only."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")[:200]
    return cleaned or "dump"


def inbox_path(settings: Settings, operator: str, filename: str) -> Path:
    """A fresh place for a pushed dump that keeps its (sanitised) name.

    The name carries the operator and period (`kcell_20261101_20261130.zip`), which the import
    reads, so uniqueness comes from a directory of its own rather than from a prefix.
    """
    directory = settings.data_dir / "inbox" / operator / uuid.uuid4().hex
    directory.mkdir(parents=True)
    return directory / sanitise_filename(filename)
