"""The central side of EIR nodes: the signed manifest of the newest snapshot and journal pages.

An EIR node in an operator's core pulls the newest snapshot file (named by a manifest signed with
the list-signing key, which binds the file's SHA-256) and then the journal of single changes since
that snapshot, in pages whose bodies are signed too. The node verifies every signature with the
public key before it uses a byte, so a node never serves data the centre did not sign.

What a node may see: the index maps 14-digit IMEI keys to a national code (allowed, blocked,
stolen, under appeal, ...) and holds nothing about subscribers, owners or operators. Every operator
must block the same stolen and unregistered devices, so every operator's key sees the whole index.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ceir.config import Settings
from ceir.eir import journal
from ceir.eir.index import SNAPSHOT_PREFIX, latest_snapshot, load_snapshot, write_snapshot
from ceir.eir.snapshots import build_from_database
from ceir.network import signing
from ceir.network.models import ClassificationRun

JOURNAL_PAGE = 10_000
JOURNAL_PAGE_MAX = 100_000
SIGNATURE_HEADER = "Ceir-Signature"  # base64 Ed25519 signature of the response body

_digests: dict[tuple[str, int, int], str] = {}  # (name, mtime_ns, size) -> sha256 hex
_build_lock = threading.Lock()


@dataclass(frozen=True)
class SnapshotManifest:
    name: str
    sha256: str
    size: int
    journal_id: int
    built_at: str

    def to_bytes(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True, separators=(",", ":")).encode()


def file_sha256(path: Path) -> str:
    """The file's SHA-256, computed once per version of the file (a 30 M index is 270 MB)."""
    stat = path.stat()
    cache_key = (path.name, stat.st_mtime_ns, stat.st_size)
    digest = _digests.get(cache_key)
    if digest is None:
        hasher = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                hasher.update(chunk)
        digest = _digests[cache_key] = hasher.hexdigest()
    return digest


def newest_snapshot(db: Session, settings: Settings) -> Path:
    """The newest snapshot file; the first node to ask on a fresh centre has one built."""
    with _build_lock:
        path = latest_snapshot(settings.eir_dir)
        if path is None:
            path = write_snapshot(settings.eir_dir, build_from_database(db))
    return path


def manifest(db: Session, settings: Settings) -> SnapshotManifest:
    path = newest_snapshot(db, settings)
    index = load_snapshot(path)  # memory-mapped: only the metadata is read
    return SnapshotManifest(
        name=path.name,
        sha256=file_sha256(path),
        size=path.stat().st_size,
        journal_id=index.journal_id,
        built_at=index.built_at.isoformat(),
    )


def snapshot_path(settings: Settings, name: str) -> Path | None:
    """A snapshot file by name, or None (a name that is not one of ours names nothing)."""
    if not (name.startswith(SNAPSHOT_PREFIX) and name.endswith(".arrow")) or "/" in name:
        return None
    path = settings.eir_dir / name
    return path if path.is_file() else None


def journal_page(
    db: Session, after: int, limit: int, gaps: Sequence[tuple[int, int]] = ()
) -> bytes:
    """Entries after `after` and in `gaps`, oldest first, and the newest id the centre has (for
    the lag)."""
    entries = journal.since(db, after, limit=limit, gaps=gaps)
    body = {
        "after": after,
        "entries": [[i, k, int(c)] for i, k, c in entries],
        "last_id": journal.last_id(db),
        "more": len(entries) == limit,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def signature_header(settings: Settings, body: bytes) -> dict[str, str]:
    return {SIGNATURE_HEADER: base64.b64encode(signing.sign(settings, body)).decode()}


CENTRAL_METRICS = (
    "ceir_eir_central_snapshot_age_seconds",
    "ceir_eir_central_journal_id",
    "ceir_list_run_seconds",
    "ceir_list_run_finished_timestamp_seconds",
)


class CentralCollector:
    """Prometheus metrics of the centre read at scrape time: what nodes will be fed, and how
    long the newest classification run (which makes the lists and the snapshot) took."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Names only: without this, registering would query the database at once.
        for name in CENTRAL_METRICS:
            yield GaugeMetricFamily(name, "")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        newest = latest_snapshot(self.settings.eir_dir)
        age = GaugeMetricFamily(
            "ceir_eir_central_snapshot_age_seconds",
            "Age of the newest real-time index snapshot on the centre (absent: none yet)",
        )
        if newest is not None:
            stamp = newest.name.removeprefix(SNAPSHOT_PREFIX).removesuffix(".arrow")
            built = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.UTC)
            age.add_metric([], (dt.datetime.now(dt.UTC) - built).total_seconds())
        yield age
        with Session(self.engine) as db:
            last_journal = journal.last_id(db)
            run = db.execute(
                select(ClassificationRun.started_at, ClassificationRun.finished_at)
                .where(ClassificationRun.finished_at.is_not(None))
                .order_by(ClassificationRun.finished_at.desc())
                .limit(1)
            ).first()
        yield GaugeMetricFamily(
            "ceir_eir_central_journal_id", "Newest real-time journal entry", value=last_journal
        )
        seconds = GaugeMetricFamily(
            "ceir_list_run_seconds", "Duration of the newest finished classification run"
        )
        finished = GaugeMetricFamily(
            "ceir_list_run_finished_timestamp_seconds",
            "Unix time the newest classification run finished",
        )
        if run is not None and run.finished_at is not None:
            started_at, finished_at = run.started_at, run.finished_at
            seconds.add_metric([], (finished_at - started_at).total_seconds())
            finished.add_metric([], finished_at.timestamp())
        yield seconds
        yield finished
