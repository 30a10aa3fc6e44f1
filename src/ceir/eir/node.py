"""An EIR node: the real-time check in an operator's core, fed from the centre over HTTP.

The node has no database. A thread pulls the signed manifest of the centre's newest snapshot,
downloads the file (conditional and resumable), verifies the manifest's signature with the
list-signing public key and the file's SHA-256 before use, and swaps it in atomically; between
snapshots it applies signed journal pages every `poll_seconds`. When the centre is unreachable
the node keeps answering from its last good index and reports its staleness (metric, log,
/healthz "degraded") once it passes `stale_seconds`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from prometheus_client import CollectorRegistry, Counter, Gauge

from ceir.eir.index import SNAPSHOT_PREFIX, IndexHolder, load_snapshot
from ceir.eir.index import DeviceCode as DeviceCode

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Ceir-Signature"  # as ceir.eir.sync sends it
MANIFEST_SUFFIX = ".manifest"
CHUNK_BYTES = 1 << 20
KEEP_SNAPSHOTS = 2


class SyncRefused(Exception):
    """Data from the centre that fails its signature or its digest: never used."""


@dataclass(frozen=True)
class NodeSettings:
    source: str  # the centre's base URL, e.g. https://ceir.example.kz
    api_key: str
    public_key: Ed25519PublicKey
    folder: Path  # verified snapshots and their signed manifests
    poll_seconds: float = 1.0
    snapshot_seconds: float = 30.0  # how often to ask whether a newer snapshot exists
    stale_seconds: float = 60.0
    timeout_seconds: float = 10.0


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError(f"{path} is not an Ed25519 public key")
    return key


class NodeMetrics:
    def __init__(self, registry: CollectorRegistry, sync: NodeSync) -> None:
        def gauge(name: str, doc: str, value: Any) -> None:
            Gauge(name, doc, registry=registry).set_function(value)

        gauge(
            "ceir_eir_node_snapshot_age_seconds",
            "Age of the snapshot in service (since the centre built it)",
            lambda: time.time() - sync.holder.current.built_at.timestamp(),
        )
        gauge(
            "ceir_eir_node_staleness_seconds",
            "Seconds since the last successful sync with the centre",
            sync.staleness,
        )
        gauge(
            "ceir_eir_node_last_sync_timestamp_seconds",
            "Unix time of the last successful sync (0: never)",
            lambda: sync.last_success,
        )
        gauge(
            "ceir_eir_node_journal_lag_entries",
            "Journal entries the centre had at the last poll that this node has not applied",
            lambda: max(0, sync.central_journal_id - sync.holder.journal_id),
        )
        gauge("ceir_eir_node_journal_id", "Last journal id applied", lambda: sync.holder.journal_id)
        gauge(
            "ceir_eir_node_devices",
            "Devices in the snapshot in service",
            lambda: len(sync.holder.current),
        )
        gauge(
            "ceir_eir_node_stale",
            "1 when staleness is past the configured limit (the alarm)",
            lambda: 1.0 if sync.is_stale() else 0.0,
        )
        self.failures = Counter(
            "ceir_eir_node_sync_failures",
            "Failed syncs with the centre by reason",
            ["reason"],
            registry=registry,
        )
        self.swaps = Counter(
            "ceir_eir_node_snapshot_swaps", "Snapshots verified and swapped in", registry=registry
        )


class NodeSync:
    """Keeps a holder current from the centre; usable as EirApp's refresher (`last_error`)."""

    def __init__(
        self,
        holder: IndexHolder,
        settings: NodeSettings,
        *,
        registry: CollectorRegistry | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.holder = holder
        self.settings = settings
        self.client = client or httpx.Client(
            base_url=settings.source, timeout=settings.timeout_seconds
        )
        self.client.headers["Authorization"] = f"Bearer {settings.api_key}"
        if settings.source.startswith("http://") and not settings.source.startswith(
            ("http://127.", "http://localhost", "http://testserver")
        ):
            log.warning("the centre is reached without TLS: the API key crosses the network")
        self.started = time.time()
        self.last_success = 0.0
        self.central_journal_id = 0
        self.sync_error: str | None = None
        self._last_snapshot_check = 0.0
        self._alarmed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.metrics = NodeMetrics(registry or CollectorRegistry(), self)

    # --- state -------------------------------------------------------------------------------

    def staleness(self) -> float:
        return time.time() - (self.last_success or self.started)

    def is_stale(self) -> bool:
        return self.staleness() > self.settings.stale_seconds

    @property
    def last_error(self) -> str | None:
        """What makes /healthz say "degraded": staleness past the limit, or no index at all."""
        if self.holder.current.name == "empty":
            return f"no verified snapshot yet ({self.sync_error or 'waiting for the centre'})"
        if self.is_stale():
            return f"stale: no sync with the centre for {self.staleness():.0f} s"
        return None

    def details(self) -> dict[str, Any]:
        return {
            "staleness_seconds": round(self.staleness(), 1),
            "stale_after_seconds": self.settings.stale_seconds,
            "central_journal_id": self.central_journal_id,
            "sync_error": self.sync_error,
        }

    # --- start-up ----------------------------------------------------------------------------

    def load_local(self) -> bool:
        """Serve the newest snapshot this node verified before (a restart while the centre is
        down); its manifest's signature and the file's digest are checked again."""
        folder = self.settings.folder
        for path in sorted(folder.glob(f"{SNAPSHOT_PREFIX}*.arrow"), reverse=True):
            try:
                manifest = self._verified(path.with_name(path.name + MANIFEST_SUFFIX))
                if _sha256(path) != manifest["sha256"]:
                    raise SyncRefused(f"{path.name} does not match its manifest")
            except (OSError, ValueError, SyncRefused) as exc:
                log.warning("ignoring local snapshot %s: %s", path.name, exc)
                continue
            self.holder.swap(load_snapshot(path))
            return True
        return False

    def _verified(self, manifest_path: Path) -> dict[str, Any]:
        raw = manifest_path.read_bytes()
        signature = manifest_path.with_name(manifest_path.name + ".sig").read_bytes()
        self._verify(raw, base64.b64encode(signature).decode())
        manifest: dict[str, Any] = json.loads(raw)
        return manifest

    # --- one cycle -----------------------------------------------------------------------------

    def sync_once(self) -> None:
        """Check for a newer snapshot when due, then apply the journal; raises on failure.

        The journal is applied even when the snapshot step failed (a snapshot replaced between
        manifest and download, say): the node is then still current, only its arrays are older.
        """
        now = time.monotonic()
        failed: Exception | None = None
        if (
            self.holder.current.name == "empty"
            or now - self._last_snapshot_check >= self.settings.snapshot_seconds
        ):
            try:
                self.sync_snapshot()
                self._last_snapshot_check = now
            except Exception as exc:
                if self.holder.current.name == "empty":
                    raise
                failed = exc
        self.sync_journal()
        self.last_success = time.time()
        if failed is not None:
            raise failed

    def sync_snapshot(self) -> bool:
        """Swap in the centre's newest snapshot if it is not the one in service."""
        response = self.client.get("/api/v1/eir/snapshot")
        response.raise_for_status()
        raw = response.content
        self._verify(raw, response.headers.get(SIGNATURE_HEADER))
        manifest = json.loads(raw)
        name = str(manifest["name"])
        if not name.startswith(SNAPSHOT_PREFIX) or "/" in name or name.startswith("."):
            raise SyncRefused(f"unexpected snapshot name {name!r}")
        if name == self.holder.current.name:
            return False
        folder = self.settings.folder
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        if not (target.exists() and _sha256(target) == manifest["sha256"]):
            self._download(name, manifest["sha256"], folder / f".{name}.partial")
        (folder / f"{name}{MANIFEST_SUFFIX}.sig").write_bytes(
            base64.b64decode(response.headers[SIGNATURE_HEADER])
        )
        (folder / f"{name}{MANIFEST_SUFFIX}").write_bytes(raw)
        index = load_snapshot(target)
        self.holder.swap(index)  # one reference: requests in flight finish on the old index
        self.metrics.swaps.inc()
        log.info("snapshot %s in service: %d devices", name, len(index))
        for old in sorted(folder.glob(f"{SNAPSHOT_PREFIX}*.arrow"))[:-KEEP_SNAPSHOTS]:
            for path in (old, old.with_name(old.name + MANIFEST_SUFFIX)):
                path.unlink(missing_ok=True)
            old.with_name(old.name + MANIFEST_SUFFIX + ".sig").unlink(missing_ok=True)
        return True

    def _download(self, name: str, sha256: str, partial: Path) -> None:
        """Fetch into `partial`, resuming what an earlier attempt left; rename once verified."""
        etag = f'"{sha256}"'
        have = partial.stat().st_size if partial.exists() else 0
        headers = {"Range": f"bytes={have}-", "If-Range": etag} if have else {}
        with self.client.stream("GET", f"/api/v1/eir/snapshots/{name}", headers=headers) as reply:
            if reply.status_code == 416:  # the partial file is already whole (or wrong)
                have = 0
            else:
                reply.raise_for_status()
            mode = "ab" if reply.status_code == 206 else "wb"
            if reply.status_code != 416:
                if reply.headers.get("etag") != etag:
                    raise SyncRefused(f"{name}: the file's ETag is not the manifest's digest")
                with partial.open(mode) as handle:
                    for chunk in reply.iter_bytes(CHUNK_BYTES):
                        handle.write(chunk)
        if _sha256(partial) != sha256:
            partial.unlink(missing_ok=True)  # start over next time
            raise SyncRefused(f"{name}: SHA-256 differs from the signed manifest")
        os.replace(partial, partial.with_name(name))

    def sync_journal(self) -> None:
        while True:
            gaps = ",".join(f"{low}-{high}" for low, high in self.holder.open_gaps())
            params: dict[str, str | int] = {"after": self.holder.journal_id}
            if gaps:  # ids skipped because they committed after a larger one (see journal.since)
                params["gaps"] = gaps
            response = self.client.get("/api/v1/eir/journal", params=params)
            response.raise_for_status()
            self._verify(response.content, response.headers.get(SIGNATURE_HEADER))
            page = json.loads(response.content)
            self.central_journal_id = int(page["last_id"])
            self.holder.apply((int(i), int(k), DeviceCode(c)) for i, k, c in page["entries"])
            if not page["more"]:
                return

    def _verify(self, body: bytes, signature: str | None) -> None:
        if not signature:
            raise SyncRefused("the centre's answer is not signed")
        try:
            self.settings.public_key.verify(base64.b64decode(signature), body)
        except (InvalidSignature, ValueError) as exc:
            raise SyncRefused("bad signature: not signed by the list-signing key") from exc

    # --- the thread ----------------------------------------------------------------------------

    def start(self) -> NodeSync:
        self._thread = threading.Thread(target=self._run, name="eir-node-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.client.close()

    def _run(self) -> None:
        while True:
            self.cycle()
            if self._stop.wait(self.settings.poll_seconds):
                return

    def cycle(self) -> None:
        """One sync; failures are counted and logged when they start and when they end."""
        try:
            self.sync_once()
        except Exception as exc:
            reason = "signature" if isinstance(exc, SyncRefused) else "unreachable"
            if isinstance(exc, httpx.HTTPStatusError):
                reason = f"http_{exc.response.status_code}"
            self.metrics.failures.labels(reason).inc()
            message = f"{type(exc).__name__}: {exc}"
            if message != self.sync_error:
                log.error("sync with the centre failed (old index keeps serving): %s", message)
            self.sync_error = message
        else:
            if self.sync_error is not None:
                log.warning("sync with the centre recovered")
            self.sync_error = None
        stale = self.is_stale()
        if stale and not self._alarmed:
            log.error(
                "ALARM: index stale, no sync with the centre for %.0f s (limit %.0f s)",
                self.staleness(),
                self.settings.stale_seconds,
            )
        elif self._alarmed and not stale:
            log.warning("alarm cleared: index in sync with the centre again")
        self._alarmed = stale


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()
