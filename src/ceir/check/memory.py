"""The public check answered from memory: the registry, states and TAC models held per worker.

An index is built from the database at a set of marks (the newest ids of the journal of single
changes, registrations, classification runs, import batches and applications). Before each
answer the caller runs `poll`, one statement of five index look-ups: it is the read barrier that
makes a change committed before the request visible in its answer (read-your-writes). On a
server database the fast path (`check.api.Barrier`) may instead answer as of a poll at most
`staleness` seconds old (`CEIR_CHECK_STALENESS_SECONDS`), which spares a round trip per request.

- A device named by a newer journal entry, registration or application is *dirty*: its answer
  comes from the database (`check_imei`), exactly as before, until the next rebuild.
- A newer classification run or import batch (registry file, TAC file) changes too much to
  track: every answer comes from the database while a thread rebuilds the index.

Every single change that moves a public answer goes through the journal (`ceir.eir.journal`),
the same one the real-time index applies; what it cannot carry (the registration's source and
date, the block date, a pending application) the index holds, built from the same tables the
check's SQL reads. tests/check/test_memory_check.py proves both answer alike.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Date, Engine, String, column, text

from ceir import identifiers
from ceir.check.service import CheckResult, check_imei, result_from_facts
from ceir.db import UTCDateTime

log = logging.getLogger(__name__)

# Past this many devices answered from the database, the index is rebuilt (in a thread).
DIRTY_LIMIT = 10_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICROSECOND = dt.timedelta(microseconds=1)


class Marks(NamedTuple):
    journal: int
    registrations: int
    runs: int
    imports: int
    applications: int


_MARKS = text(
    "SELECT (SELECT coalesce(max(id), 0) FROM eir_journal), "
    "(SELECT coalesce(max(id), 0) FROM registrations), "
    "(SELECT coalesce(max(id), 0) FROM classification_runs), "
    "(SELECT coalesce(max(id), 0) FROM import_batches), "
    "(SELECT coalesce(max(id), 0) FROM applications)"
)

_REGISTRATIONS = text(
    "SELECT di.imei_key, r.source, r.registered_at FROM device_imeis di "
    "JOIN registrations r ON r.device_id = di.device_id AND r.revoked_at IS NULL"
).columns(column("imei_key"), column("source", String), column("registered_at", UTCDateTime()))
_STATES = text(
    "SELECT imei, state, block_date, reasons, first_noncompliant FROM device_states"
).columns(
    column("imei", String),
    column("state", String),
    column("block_date", Date),
    column("reasons"),
    column("first_noncompliant", Date),
)
_STOLEN = text("SELECT imei FROM stolen_devices WHERE cancelled_at IS NULL")
# A registration under review pauses the block too, but the check names it as such (in_review).
_PAUSED = text("SELECT imei FROM block_pauses WHERE ended_at IS NULL AND reason <> 'registration'")
_IN_REVIEW = text("SELECT imei1, imei2 FROM applications WHERE status = 'in_review'")
_TACS = text("SELECT tac, brand, model, marketing_name, device_type FROM tac_models")

# What changed after a mark, device by device.
_JOURNAL_KEYS = text("SELECT imei_key FROM eir_journal WHERE id > :after AND id <= :upto")
_REGISTERED_KEYS = text(
    "SELECT di.imei_key FROM registrations r JOIN device_imeis di ON di.device_id = r.device_id "
    "WHERE r.id > :after AND r.id <= :upto"
)
_APPLICATION_KEYS = text("SELECT imei1, imei2 FROM applications WHERE id > :after AND id <= :upto")

_NO_FACTS = (None, None, None, None, None, False, False)
_NO_TAC = (None, None, None, None, None)


@dataclass(frozen=True, eq=False)
class CheckIndex:
    """What the check's SQL would read, for every device, at `marks`."""

    marks: Marks
    keys: npt.NDArray[np.int64]  # registered IMEI keys, sorted, unique
    sources: npt.NDArray[np.uint8]  # index into source_names
    registered_at: npt.NDArray[np.int64]  # microseconds since 1970 UTC
    source_names: tuple[str, ...]
    # (stolen, state, block_date, reasons, first_noncompliant, paused, in_review) of devices
    # with any of them
    facts: dict[str, tuple[Any, ...]]
    tacs: dict[str, tuple[str | None, ...]]  # tac -> (tac, brand, model, name, device type)

    def __len__(self) -> int:
        return int(self.keys.size)

    def row(self, imei: identifiers.Imei) -> tuple[Any, ...]:
        """The row `ceir.check.service._FACTS` returns for this IMEI."""
        key = int(imei.key)
        keys = self._key_list
        position = bisect.bisect_left(keys, key)
        if position < len(keys) and keys[position] == key:
            registration: tuple[Any, ...] = (
                self.source_names[self.sources[position]],
                EPOCH + int(self.registered_at[position]) * MICROSECOND,
            )
        else:
            registration = (None, None)
        return (
            *registration,
            *self.tacs.get(imei.tac, _NO_TAC),
            *self.facts.get(imei.key, _NO_FACTS),
        )

    @functools.cached_property
    def _key_list(self) -> memoryview:
        return memoryview(self.keys.data)  # bisect over it runs in C


def build(conn: Connection) -> CheckIndex:
    """Read everything the check needs. The marks are read first: what changes while the rest
    is read is then newer than them, and is caught by the next poll."""
    marks = Marks(*conn.execute(_MARKS).one())
    latest: dict[int, tuple[dt.datetime, str]] = {}
    for key, source, registered_at in conn.execute(_REGISTRATIONS):
        held = latest.get(key)
        # A device may hold several registrations in force; the check shows the latest.
        if held is None or registered_at > held[0]:
            latest[key] = (registered_at, source)
    keys = np.fromiter(latest.keys(), dtype=np.int64, count=len(latest))
    order = np.argsort(keys, kind="stable")
    source_names = tuple(sorted({source for _at, source in latest.values()}))
    code = {name: n for n, name in enumerate(source_names)}
    values = list(latest.values())
    sources = np.fromiter((code[s] for _a, s in values), dtype=np.uint8, count=len(values))
    stamps = np.fromiter(
        ((a - EPOCH) // MICROSECOND for a, _s in values), dtype=np.int64, count=len(values)
    )
    return CheckIndex(
        marks=marks,
        keys=np.ascontiguousarray(keys[order]),
        sources=sources[order],
        registered_at=stamps[order],
        source_names=source_names,
        facts=_enforcement_facts(conn),
        tacs={row[0]: tuple(row) for row in conn.execute(_TACS)},
    )


def _enforcement_facts(conn: Connection) -> dict[str, tuple[Any, ...]]:
    stolen = {imei for (imei,) in conn.execute(_STOLEN)}
    paused = {imei for (imei,) in conn.execute(_PAUSED)}
    in_review = {imei for pair in conn.execute(_IN_REVIEW) for imei in pair if imei}
    states = {
        imei: (state, block_date, reasons, first)
        for imei, state, block_date, reasons, first in conn.execute(_STATES)
    }
    facts: dict[str, tuple[Any, ...]] = {}
    for imei in states.keys() | stolen | paused | in_review:
        state, block_date, reasons, first = states.get(imei, (None, None, None, None))
        facts[imei] = (
            imei if imei in stolen else None,
            state,
            block_date,
            reasons,
            first,
            imei in paused,
            imei in in_review,
        )
    return facts


@dataclass(frozen=True, eq=False)
class View:
    """One consistent state of the memory check; replaced whole, so readers need no lock."""

    index: CheckIndex | None = None
    seen: Marks | None = None  # the marks of the last poll
    dirty: frozenset[str] = frozenset()  # keys changed since the index was built
    stale: bool = False  # a bulk change since the index: everything from the database


@dataclass
class MemoryCheck:
    """The index of one worker, kept current by `poll` and rebuilt in a thread when needed."""

    engine: Engine
    dirty_limit: int = DIRTY_LIMIT
    # On a server database, how old (seconds) the last poll may be for a fast-path answer
    # (`check.api.Barrier`); 0: every answer waits for a poll after it arrived.
    staleness: float = 0.0
    clock: Callable[[], float] = time.monotonic
    background: bool = True  # False: nothing rebuilds but a call to `rebuild` (tests)
    view: View = field(default_factory=View)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _start_lock: threading.Lock = field(default_factory=threading.Lock)
    _building: bool = False
    _closed: bool = False
    _builder: threading.Thread | None = None
    # The worker's own connection for `fresh`, and the SQLite data version it last saw.
    _watch: Any = None
    _watch_lock: threading.Lock = field(default_factory=threading.Lock)
    _version: int | None = None

    def start(self) -> None:
        """Build the first index in a thread; until it is ready the database answers."""
        self._rebuild_later()

    def check(self, conn: Connection, query: str) -> CheckResult:
        """The answer `check_imei` would give now, from memory where the index is current."""
        try:
            imei = identifiers.parse_imei(query)
        except identifiers.IdentifierError:
            return check_imei(conn, query)  # no database on the way: it stops at the parse
        self.poll(conn)
        return self.answer(query, imei) or check_imei(conn, query)

    def answer(self, query: str, imei: identifiers.Imei) -> CheckResult | None:
        """From the index, as of the last poll; None when the database must answer."""
        view = self.view
        if view.index is None or view.stale or imei.key in view.dirty:
            return None
        return result_from_facts(query, imei, view.index.row(imei))

    def poll(self, conn: Connection) -> None:
        """The read barrier: take in every change committed before this call."""
        self._take(conn, Marks(*conn.execute(_MARKS).one()))

    def fresh(self) -> None:
        """`poll` without a pooled connection, for the event loop. On SQLite the file says
        whether anything at all was committed since the last call (`PRAGMA data_version`, a few
        microseconds), and the marks are read only when something was."""
        with self._watch_lock:
            try:
                version, marks = self._watched()
            except self.engine.dialect.loaded_dbapi.Error:
                # A server restart dropped the connection: once more on a new one.
                self._drop_watch()
                version, marks = self._watched()
            if marks is None:
                return
            if marks != self.view.seen:
                with self.engine.connect() as conn:
                    self._take(conn, marks)
            self._version = version  # only once taken in: a failure asks again next time

    def _watched(self) -> tuple[int | None, Marks | None]:
        """(data version, marks); marks None when the data version says nothing changed."""
        if self._watch is None:
            self._watch = self.engine.raw_connection()
        watch = self._watch
        cursor = watch.cursor()
        try:
            version = None
            if self.engine.dialect.name == "sqlite":
                cursor.execute("PRAGMA data_version")
                version = cursor.fetchone()[0]
                if version == self._version:
                    return version, None
            cursor.execute(_MARKS.text)
            marks = Marks(*cursor.fetchone())
        finally:
            cursor.close()
        if version is None:
            watch.rollback()  # in autocommit a no-op; otherwise no transaction left open
        return version, marks

    def _drop_watch(self) -> None:
        if self._watch is not None:
            self._watch.invalidate()
            self._watch = None
        # The pool's other connections went with the server: new ones, as SQLAlchemy would do
        # itself had the error reached it through a Connection.
        self.engine.dispose(close=False)

    def close(self) -> None:
        """Stop: no more builds, and wait for one under way (it holds a connection; a server
        stopping, or a test dropping its tables next, would otherwise race with it)."""
        with self._start_lock:
            self._closed = True
            builder = self._builder
        if builder is not None:
            builder.join(timeout=60)
        with self._watch_lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None

    def _take(self, conn: Connection, marks: Marks) -> None:
        if marks == self.view.seen:
            return
        with self._lock:
            self.view = self._advance(conn, self.view, marks)

    def _advance(self, conn: Connection, view: View, marks: Marks) -> View:
        index = view.index
        if index is None:
            self._rebuild_later()
            return View(seen=marks)
        if marks.runs != index.marks.runs or marks.imports != index.marks.imports:
            self._rebuild_later()
            return View(index, marks, view.dirty, stale=True)
        before = view.seen or index.marks
        changed = set(view.dirty)
        for statement, after, upto in (
            (_JOURNAL_KEYS, before.journal, marks.journal),
            (_REGISTERED_KEYS, before.registrations, marks.registrations),
            (_APPLICATION_KEYS, before.applications, marks.applications),
        ):
            if upto > after:
                for row in conn.execute(statement, {"after": after, "upto": upto}):
                    changed.update(_key_text(value) for value in row if value is not None)
        if len(changed) > self.dirty_limit:
            self._rebuild_later()
        return View(index, marks, frozenset(changed), view.stale)

    def _rebuild_later(self) -> None:
        with self._start_lock:
            if self._building or not self.background or self._closed:
                return
            self._building = True
            self._builder = threading.Thread(target=self._rebuild, name="check-index", daemon=True)
            self._builder.start()

    def _rebuild(self) -> None:
        try:
            while not self._closed:
                self.rebuild()
                view = self.view  # a bulk change during the build: build again
                if not (view.stale or len(view.dirty) > self.dirty_limit):
                    break
        except Exception:  # the database keeps answering; the next change tries again
            log.exception("building the public check's index failed")
        finally:
            self._building = False

    def rebuild(self) -> None:
        """Build a new index and serve it, caught up with every change since its marks."""
        with self.engine.connect() as conn:
            index = build(conn)
            with self._lock:
                fresh = View(index, index.marks)
                self.view = self._advance(conn, fresh, Marks(*conn.execute(_MARKS).one()))
            conn.rollback()
        log.info("public check index: %d registered IMEIs at %s", len(index), index.marks)


def _key_text(value: object) -> str:
    """A 14-digit key as the check's tables write it (journal and registry keep integers)."""
    return str(value).zfill(14) if isinstance(value, int) else str(value)
