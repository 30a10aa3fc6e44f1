"""Classification: which devices the networks saw are not compliant, and what happens to them.

A run for a day merges the staged dumps into the sightings, evaluates every condition for the
devices whose inputs changed (new pairs, registrations, reports, appeals, TACs withdrawn), those
already notified, blocked or flagged (time passing their block date), moves each device along
its life cycle (notified -> blocked -> allowed) and writes the lists for every operator.

Incremental: a device seen again with nothing new is not evaluated again. Its verdict cannot
have changed since the run that last evaluated it (see `_merge_staged` for why), so the run's
states are those of a full re-evaluation of every device seen that day, which `full=True`
(`ceir network classify --full`) still does, and which a run does by itself when it cannot
trust the store's record of the last run (a different rule setting, a run whose relational half
never committed, no earlier run).

Crash safety: the run's DuckDB transaction commits first, with the run's id as a marker, and the
relational one second; the relational commit is the run's commit point. Everything the DuckDB
half does can be done again (staged rows stay until a run of a later day has committed; merging
them twice gives the same sightings; list snapshots are kept per run), and a marker whose run
never committed makes the next run rebuild the registry mirror (see `_reconcile_store`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, bindparam, delete, func, select, text, update
from sqlalchemy.orm import Session

from ceir import faults, identifiers
from ceir.audit import service as audit
from ceir.bulk import insert_columns
from ceir.citizens import abroad
from ceir.config import Settings, get_settings
from ceir.db import UTCDateTime, utcnow
from ceir.eir import journal
from ceir.eir.index import (
    DeviceCode,
    EquipmentIndex,
    load_snapshot,
    make_index,
    snapshot_name,
    write_snapshot,
)
from ceir.eir.snapshots import codes_from_run, codes_patched
from ceir.errors import CeirError, InvalidInput, NotFound
from ceir.network import lists, second_imei
from ceir.network.models import (
    BlockPause,
    ClassificationRun,
    DeviceFlag,
    DeviceState,
    OperatorImport,
    StolenDevice,
)
from ceir.network.rules import CONDITIONS, Condition, home_imsi_sql
from ceir.network.store import first, imei_text_sql, open_store
from ceir.registry.models import DeviceImei, Registration, RegistrationSource
from ceir.registry.service import register_devices_bulk
from ceir.review import officers
from ceir.review.models import Role
from ceir.tac.models import TacModel

FETCH_BATCH = 1_000_000

# Facts (stolen reports, appeals, registrations) are looked at from this long before the last run
# started: a change whose transaction was still open when that run read its inputs is not lost.
FACT_MARGIN = dt.timedelta(days=1)

# Bump when a change to the evaluation's code changes verdicts: the next run re-evaluates all.
EVALUATION_VERSION = 1


class RunHeld(CeirError):
    """The safety brake stopped a run: nothing reached the lists; a supervisor must confirm."""

    code = "run_held"
    status = 409
    title = "Classification run held by the safety brake"

    def __init__(self, detail: str, *, run_id: int) -> None:
        super().__init__(detail)
        self.run_id = run_id
        self.extra = {"run_id": run_id}


@dataclass
class RunReport:
    run_id: int
    run_date: dt.date
    counts: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    step_seconds: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(steps: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    steps[name] = round(time.perf_counter() - started, 3)


def classify(
    db: Session,
    *,
    run_date: dt.date,
    actor: str,
    settings: Settings | None = None,
    full: bool = False,
) -> RunReport:
    """Classify the devices seen up to `run_date`; re-running the latest day is safe.

    `full` re-evaluates every device seen that day, not only those whose inputs changed (the
    outcome is the same; it is the reference the incremental run is checked against).
    Commits `db` itself: the run's DuckDB changes must commit in the same breath.
    """
    settings = settings or get_settings()
    held = db.scalar(_pending_held())
    if held is not None:
        raise InvalidInput(
            f"run {held.id} for {held.run_date} is held by the safety brake ({held.held_reason}); "
            f"a supervisor confirms it with `ceir network classify --confirm-run {held.id} "
            "--supervisor NAME` before any other run"
        )
    run = ClassificationRun(run_date=run_date, started_at=utcnow(), actor=actor, counts={})
    return _run(db, run, actor=actor, settings=settings, brake=True, full=full)


def confirm_held_run(
    db: Session, *, run_id: int, supervisor: str, actor: str, settings: Settings | None = None
) -> RunReport:
    """A supervisor lets a held run through: the day is run again, under the held run's id, with
    the brake lifted for it alone; the lists are those of a run never held.

    The confirmation is audited in the run's own transaction: it stands exactly when the run does.
    """
    settings = settings or get_settings()
    by, run = _held_for_supervisor(db, run_id, supervisor)
    run.started_at = utcnow()  # the facts of the run are read now, not when it was held
    run.confirmed_by, run.confirmed_at = by, run.started_at
    audit.record(
        db,
        actor=by,
        action="network.classify.confirm",
        object_type="classification_run",
        object_id=str(run.id),
        details={"run_date": run.run_date.isoformat(), "reason": run.held_reason, "via": actor},
    )
    return _run(db, run, actor=by, settings=settings, brake=False, full=False)


def dismiss_held_run(
    db: Session,
    *,
    run_id: int,
    supervisor: str,
    reason: str,
    actor: str,
    settings: Settings | None = None,
) -> list[str]:
    """A supervisor refuses a held run: nothing of it ever reaches the lists, and classification
    may go on. Returns the files set aside.

    The unmerged dumps of the operators whose share tripped the brake are set aside (status
    `dismissed`, never merged); every other staged dump stays for the day's re-run, which the
    operator's corrected file joins. Audited, with the supervisor's reason.
    """
    settings = settings or get_settings()
    reason = reason.strip()
    if not reason:
        raise InvalidInput("a dismissal needs a --reason (why the run is refused)")
    by, run = _held_for_supervisor(db, run_id, supervisor)
    tripped = _over_brake(run.counts.get("brake", {}), settings)
    damaged = db.scalars(
        select(OperatorImport).where(
            OperatorImport.status == "loaded",
            OperatorImport.run_id.is_(None),
            OperatorImport.operator.in_(tripped),
        )
    ).all()
    for dump in damaged:
        dump.status, dump.run_id = "dismissed", run.id
    run.dismissed_by, run.dismissed_at, run.dismissed_reason = by, utcnow(), reason[:1024]
    audit.record(
        db,
        actor=by,
        action="network.classify.dismiss",
        object_type="classification_run",
        object_id=str(run.id),
        details={
            "run_date": run.run_date.isoformat(),
            "held_reason": run.held_reason,
            "reason": reason,
            "set_aside": [f"{d.operator}:{d.filename}" for d in damaged],
            "via": actor,
        },
    )
    db.commit()
    # The staged rows of the files set aside go after the commit: a failure here leaves rows
    # no run merges (their import is dismissed), never a loaded file without its rows.
    with open_store(settings) as con:
        for dump in damaged:
            for table in ("staged", "daily_volume"):
                con.execute(
                    f"DELETE FROM {table} WHERE operator = ? AND sha256 = ?",
                    [dump.operator, dump.sha256],
                )
    return [d.filename for d in damaged]


def _held_for_supervisor(
    db: Session, run_id: int, supervisor: str
) -> tuple[str, ClassificationRun]:
    """The supervisor's audit name and the held run they act on."""
    officer = officers.get_officer(db, supervisor)
    if not officer.active or Role.SUPERVISOR not in officers.roles_of(officer):
        raise InvalidInput(f"{officer.username!r} is not an active supervisor")
    run = db.scalar(_pending_held().where(ClassificationRun.id == run_id))
    if run is None:
        raise NotFound(f"No classification run {run_id} is held for confirmation.")
    return officers.actor_of(officer), run


def _pending_held() -> Any:
    return select(ClassificationRun).where(
        ClassificationRun.held_reason.is_not(None),
        ClassificationRun.finished_at.is_(None),
        ClassificationRun.dismissed_at.is_(None),
    )


def _run(
    db: Session, run: ClassificationRun, *, actor: str, settings: Settings, brake: bool, full: bool
) -> RunReport:
    run_date = run.run_date
    started = time.perf_counter()
    latest = db.scalar(
        select(func.max(ClassificationRun.run_date)).where(
            ClassificationRun.id != run.id, ClassificationRun.dismissed_at.is_(None)
        )
    )
    if latest is not None and run_date < latest:
        raise InvalidInput(
            f"classification has already run for {latest}; runs go forward in time "
            f"(re-running {latest} itself is allowed)"
        )
    finished = ClassificationRun.finished_at.is_not(None)
    last_started = db.scalar(select(func.max(ClassificationRun.started_at)).where(finished))
    # A re-run of a day gives the same lists as its first run: deltas are taken against the
    # last run of an earlier day, never against the day's own first run.
    base_run_id = db.scalar(
        select(func.max(ClassificationRun.id)).where(
            finished, ClassificationRun.run_date < run_date
        )
    )
    last_run_id = db.scalar(
        select(func.max(ClassificationRun.id)).where(finished, ClassificationRun.id != run.id)
    )
    db.add(run)
    db.flush()
    report = RunReport(run.id, run_date)
    counts = report.counts

    watermark = journal.last_id(db)  # later single changes reach the real-time check by journal
    with open_store(settings) as con:
        con.execute("BEGIN")
        steps = report.step_seconds
        try:
            with _timed(steps, "registry_sync"):
                rebuild = _reconcile_store(db, con)
                con.execute("CREATE OR REPLACE TEMP TABLE registered_in_run (imei BIGINT)")
                _release_staged(db, con, run_date)
                counts["registry_keys_synced"] = _sync_registry(db, con, rebuild=rebuild)
            with _timed(steps, "reference"):
                _load_reference(db, con, since=last_started and last_started - FACT_MARGIN)
                counts["previous_states"] = _load_previous(
                    db, con, trust_store=not full and not rebuild, last_run_id=last_run_id
                )
                fingerprint = _fingerprint(settings)
                incremental = (
                    not full
                    and not rebuild
                    and _basis_holds(con, last_run_id, fingerprint)
                    and settings.network.conditions[Condition.NOT_REGISTERED.value].blocking
                )
                counts["evaluation"] = "incremental" if incremental else "full"
            with _timed(steps, "merge"):
                counts["sightings_merged"] = _merge_staged(
                    db, con, run, settings, incremental=incremental
                )
            with _timed(steps, "amnesty"):
                counts["amnesty_registered"] = _apply_amnesty(db, con, run_date, settings)
                counts["declared_registered"] = _register_declared(db, con, run_date, settings)
            with _timed(steps, "evaluate"):
                counts.update(_evaluate(con, run_date, settings))
                counts.update(_link_second_imeis(db, con, run, settings))
                counts.update(_transition(con, run_date, settings))
                if brake and settings.network.brake_max_share is not None:
                    shares, counts["brake_recounted"] = _brake_check(con, settings)
                    if reason := _brake_reason(shares, settings):
                        counts["brake"] = _brake_shares(con)
                        raise RunHeld(reason, run_id=0)
            with _timed(steps, "states"):
                _write_states(db, con, run)
                counts["flagged_duplicate"] = _write_flags(db, con, run)
            with _timed(steps, "lists"):
                report.files = lists.generate(
                    db, con, run, settings, seconds=steps, base_run_id=base_run_id
                )
                counts["notifications_not_reachable"] = lists.not_reachable(con)
            with _timed(steps, "index"):
                index, counts["index"] = _index(
                    con, settings, watermark, patch=not full and not rebuild, last=last_run_id
                )
                con.execute("DELETE FROM index_basis")
                con.execute("INSERT INTO index_basis VALUES (?, ?)", [run.id, snapshot_name(index)])
            _record_basis(con, run.id, fingerprint)
            _record_states(con, run.id)
            _record_brake_floor(con)
            run.counts = counts
            run.finished_at = utcnow()
            audit.record(
                db,
                actor=actor,
                action="network.classify",
                object_type="classification_run",
                object_id=str(run.id),
                details={"run_date": run_date.isoformat(), **counts},
            )
            db.flush()
            # The marker: a run whose relational half never commits is undone by the next run.
            con.execute("INSERT INTO store_runs VALUES (?, ?)", [run.id, run_date])
            faults.point("classify.before_store_commit")
            con.execute("COMMIT")
        except BaseException as exc:
            con.execute("ROLLBACK")
            db.rollback()
            if isinstance(exc, RunHeld):
                raise _hold(db, run_date, actor, counts, exc.detail) from None
            raise
    faults.point("classify.after_store_commit")
    db.commit()
    faults.point("classify.after_db_commit")
    with _timed(steps, "index_write"):
        write_snapshot(settings.eir_dir, index)
    report.seconds = time.perf_counter() - started
    return report


_HIT = """(SELECT imei FROM changes
          WHERE old_state IS NULL
             OR (new_state = 'blocked' AND old_state IS DISTINCT FROM 'blocked'))"""


def _brake_shares(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Per operator: its devices, and those this run newly notifies or blocks."""
    rows = con.execute(
        f"""
        SELECT operator, count(DISTINCT imei),
               count(DISTINCT imei) FILTER (WHERE imei IN {_HIT})
        FROM sightings GROUP BY operator ORDER BY operator
        """
    ).fetchall()
    return {str(r[0]): {"devices": int(r[1]), "newly_hit": int(r[2])} for r in rows}


def _brake_check(
    con: duckdb.DuckDBPyConnection, settings: Settings
) -> tuple[dict[str, dict[str, int]], list[str]]:
    """The brake's shares, with the devices of an operator counted exactly only where the
    floor kept in the store (`device_floor`, see `_device_floor`) could let the brake trip:
    counting every operator's distinct devices cost more than evaluating a day's churn. The
    operators the brake trips for are those of `_brake_shares`; also returns those counted."""
    limit = settings.network.brake_max_share or 0.0
    hits = {
        str(op): int(n)
        for op, n in con.execute(
            f"SELECT operator, count(DISTINCT imei) FROM sightings WHERE imei IN {_HIT} "
            "GROUP BY operator"
        ).fetchall()
    }
    floor = {str(op): int(n) for op, n in con.execute("SELECT * FROM device_floor").fetchall()}
    doubtful = sorted(
        op
        for op, n in hits.items()
        if n >= settings.network.brake_min_devices and n > limit * floor.get(op, 0)
    )
    if doubtful:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE device_floor AS
            SELECT operator, count(DISTINCT imei) AS devices FROM sightings
            WHERE operator IN (SELECT unnest($doubtful)) GROUP BY operator
            UNION ALL
            SELECT * FROM device_floor WHERE operator NOT IN (SELECT unnest($doubtful))
            """,
            {"doubtful": doubtful},
        )
        floor = {str(op): int(n) for op, n in con.execute("SELECT * FROM device_floor").fetchall()}
    shares = {op: {"devices": floor.get(op, n), "newly_hit": n} for op, n in hits.items()}
    return shares, doubtful


def _device_floor(con: duckdb.DuckDBPyConnection, horizon: dt.date) -> None:
    """Before the merge: temp table `device_floor`, per operator at least as many devices as the
    sightings will hold after it. The merge only adds pairs or moves their days on; only the
    pairs retention drops can take devices away, one at most each. A floor kept for another
    state of the sightings (an older store, a change by something else) is not used."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE device_floor AS
        WITH retired AS (SELECT operator, count(*) AS pairs FROM sightings
                         WHERE last_seen < ? GROUP BY operator)
        SELECT f.operator, greatest(f.devices - coalesce(r.pairs, 0), 0) AS devices
        FROM brake_floor f LEFT JOIN retired r USING (operator)
        WHERE f.pairs = (SELECT count(*) FROM sightings)
        """,
        [horizon],
    )


def _record_brake_floor(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM brake_floor")
    con.execute(
        "INSERT INTO brake_floor SELECT operator, devices, (SELECT count(*) FROM sightings) "
        "FROM device_floor"
    )


def _index(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    watermark: int,
    *,
    patch: bool,
    last: int | None,
) -> tuple[EquipmentIndex, str]:
    """The real-time index this run leaves, and how it was made: the last run's snapshot
    patched where facts may have changed, when that run's snapshot is there to patch (and the
    registry mirror was not rebuilt), else rebuilt from every key."""
    row = first(con.execute("SELECT run_id, snapshot FROM index_basis").fetchall())
    path = settings.eir_dir / str(row[1]) if row else None
    if not (patch and row and row[0] == last and path and path.exists()):
        keys, codes = codes_from_run(con)
        return make_index(keys, codes, journal_id=watermark), "rebuilt"
    previous = load_snapshot(path)
    # Keys whose code may differ from the last run's: registered or revoked since, in a state
    # then or now, stolen or paused now, or stolen or under appeal then.
    was = previous.keys[np.isin(previous.codes, [DeviceCode.STOLEN, DeviceCode.UNDER_APPEAL])]
    con.register("was_held", pa.table({"imei": pa.array(was, pa.int64())}))
    try:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE index_changed AS
            SELECT imei FROM registry_changed UNION ALL SELECT imei FROM registered_in_run
            UNION ALL SELECT imei FROM previous UNION ALL SELECT imei FROM next_states
            UNION ALL SELECT imei FROM stolen UNION ALL SELECT imei FROM paused
            UNION ALL SELECT imei FROM was_held
            """
        )
    finally:
        con.unregister("was_held")
    keys, codes = codes_patched(con, previous)
    return make_index(keys, codes, journal_id=watermark), "patched"


def _brake_reason(shares: dict[str, dict[str, int]], settings: Settings) -> str | None:
    """Why the brake holds the run, or None: an operator whose share of devices newly notified
    or blocked is above the setting (and not a handful of devices)."""
    limit = settings.network.brake_max_share
    over = [
        f"{operator}: {shares[operator]['newly_hit']:,} of {shares[operator]['devices']:,} "
        f"devices ({shares[operator]['newly_hit'] / shares[operator]['devices']:.1%}) newly "
        "notified or blocked"
        for operator in _over_brake(shares, settings)
    ]
    if limit is None or not over:
        return None
    return "; ".join(over) + f" (more than {limit:.1%} of an operator's devices)"


def _over_brake(shares: dict[str, dict[str, int]], settings: Settings) -> list[str]:
    """The operators whose share of devices newly notified or blocked trips the brake."""
    limit = settings.network.brake_max_share
    return [
        operator
        for operator, s in shares.items()
        if limit is not None
        and s["newly_hit"] >= settings.network.brake_min_devices
        and s["newly_hit"] > limit * s["devices"]
    ]


def _hold(
    db: Session, run_date: dt.date, actor: str, counts: dict[str, Any], reason: str
) -> RunHeld:
    """Record a held run (the run itself rolled back: no state, list or sighting changed)."""
    held = ClassificationRun(
        run_date=run_date, started_at=utcnow(), actor=actor, counts=counts, held_reason=reason
    )
    db.add(held)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="network.classify.held",
        object_type="classification_run",
        object_id=str(held.id),
        details={"run_date": run_date.isoformat(), "reason": reason, **counts},
    )
    db.commit()
    return RunHeld(
        f"run {held.id} for {run_date} is held by the safety brake, nothing reached the lists: "
        f"{reason}. A supervisor confirms it with `ceir network classify --confirm-run "
        f"{held.id} --supervisor NAME`.",
        run_id=held.id,
    )


def _reconcile_store(db: Session, con: duckdb.DuckDBPyConnection) -> bool:
    """Undo in DuckDB what a run left there without committing its relational half.

    Its merged sightings and list snapshots are harmless (a merge done twice gives the same
    sightings; snapshots are chosen by run), but the registry mirror may hold keys the run
    registered (amnesty, second IMEIs) and then rolled back: the mirror is then rebuilt.
    Returns whether it must be.
    """
    marked = [int(r[0]) for r in con.execute("SELECT run_id FROM store_runs").fetchall()]
    done = set()
    if marked:
        done = set(
            db.scalars(
                select(ClassificationRun.id).where(
                    ClassificationRun.id.in_(marked), ClassificationRun.finished_at.is_not(None)
                )
            )
        )
    stale = [r for r in marked if r not in done]
    last = db.scalar(
        select(func.max(ClassificationRun.id)).where(ClassificationRun.finished_at.is_not(None))
    )
    for kind in lists.KINDS:  # lists of a store made before they were kept per run
        con.execute(f"UPDATE list_{kind} SET run_id = ? WHERE run_id IS NULL", [last])
    if stale:
        for kind in lists.KINDS:
            con.execute(f"DELETE FROM list_{kind} WHERE run_id IN (SELECT unnest(?))", [stale])
    con.execute("DELETE FROM store_runs")  # every committed run is known; keep the table tiny
    return bool(stale)


def _fingerprint(settings: Settings) -> str:
    """A digest of everything besides a device's own facts that its verdict depends on."""
    rules = settings.network.model_dump_json() + _junk_sql("imei") + str(EVALUATION_VERSION)
    return hashlib.sha256(rules.encode()).hexdigest()


def _basis_holds(con: duckdb.DuckDBPyConnection, last_run_id: int | None, fingerprint: str) -> bool:
    """Whether the store's sightings were last evaluated by the last committed run, under the
    same rules, with TACs checked then as now: only then may a run skip devices seen again."""
    row = first(con.execute("SELECT run_id, fingerprint FROM classify_basis").fetchall())
    if row is None or last_run_id is None or row[0] != last_run_id or row[1] != fingerprint:
        return False
    checked = first(
        con.execute(
            "SELECT (SELECT count(*) > 0 FROM classify_tacs), (SELECT count(*) > 0 FROM tacs)"
        ).fetchall()
    )
    return checked is not None and checked[0] == checked[1]


def _record_basis(con: duckdb.DuckDBPyConnection, run_id: int, fingerprint: str) -> None:
    con.execute("DELETE FROM classify_basis")
    con.execute("INSERT INTO classify_basis VALUES (?, ?)", [run_id, fingerprint])
    con.execute("DELETE FROM classify_tacs")
    con.execute("INSERT INTO classify_tacs SELECT tac FROM tacs")


def _release_staged(db: Session, con: duckdb.DuckDBPyConnection, run_date: dt.date) -> None:
    """Drop staged rows of dumps a committed run of an earlier day merged.

    The dumps of the latest day's run stay staged, so that a re-run of that day sees the same
    devices as its first run; dumps of a run that never committed stay to be merged again.
    """
    in_store = con.execute("SELECT DISTINCT operator, sha256 FROM staged").fetchall()
    if not in_store:
        return
    merged = db.execute(
        select(OperatorImport.operator, OperatorImport.sha256)
        .join(ClassificationRun, ClassificationRun.id == OperatorImport.run_id)
        .where(
            OperatorImport.status == "loaded",
            OperatorImport.sha256.in_({sha for _operator, sha in in_store}),
            ClassificationRun.finished_at.is_not(None),
            ClassificationRun.run_date < run_date,
        )
    ).all()
    if merged:
        con.register(
            "released",
            pa.table(
                {
                    "operator": pa.array([m[0] for m in merged], pa.string()),
                    "sha256": pa.array([m[1] for m in merged], pa.string()),
                }
            ),
        )
        con.execute(
            "DELETE FROM staged WHERE (operator, sha256) IN "
            "(SELECT (operator, sha256) FROM released)"
        )
        con.unregister("released")


def _arrow_batches(
    db: Session, sql: str, params: dict[str, Any], names: list[str]
) -> list[pa.Table]:
    """Rows of a big query as Arrow tables of a million rows, never all as Python tuples."""
    result = (
        db.connection().exec_driver_sql(sql, params)
        if params
        else (db.connection().exec_driver_sql(sql))
    )
    tables = []
    while rows := result.fetchmany(FETCH_BATCH):
        columns = list(zip(*rows, strict=True))
        tables.append(pa.table([pa.array(c) for c in columns], names=names))
    return tables


def _sync_registry(db: Session, con: duckdb.DuckDBPyConnection, *, rebuild: bool = False) -> int:
    """Bring the DuckDB mirror of registered IMEI keys up to date with the registry.

    The keys registered or revoked since the last sync go to the temp table `registry_changed`:
    such devices are evaluated again even when no dump shows them. `rebuild` copies the whole
    registry afresh (after a run that never committed), still noting only the recent changes.
    """
    row = first(con.execute("SELECT last_registration_id, synced_at FROM registry_sync").fetchall())
    last_id, synced_at = (row[0], row[1]) if row else (0, None)
    # Ids are handed out in order, but a transaction may commit after a later one: look back a
    # little; a key added twice to the mirror is harmless.
    since_id = max(0, last_id - 10_000)
    # The first copy of the registry changes nothing that was ever classified against it.
    changed_from = since_id if synced_at is not None else None
    if rebuild:
        con.execute("DELETE FROM registered")
        since_id = 0
    con.execute("CREATE OR REPLACE TEMP TABLE registry_changed (imei BIGINT)")
    now = utcnow()
    added = 0
    max_id = last_id
    for batch in _arrow_batches(
        db,
        # CROSS JOIN: SQLite then walks the new registrations by id and looks their IMEIs up,
        # instead of scanning every IMEI of the registry (PostgreSQL plans it either way).
        "SELECT r.id, di.imei_key FROM registrations r CROSS JOIN device_imeis di "
        f"WHERE di.device_id = r.device_id AND r.id > {int(since_id)} "
        "AND r.revoked_at IS NULL",
        {},
        ["id", "imei"],
    ):
        con.register("registered_batch", batch)
        if changed_from is not None:
            # A key the mirror holds already (looked at again by the look-back) is no change.
            con.execute(
                """
                INSERT INTO registry_changed
                SELECT imei FROM registered_batch WHERE id > ?
                EXCEPT SELECT imei FROM registered
                       WHERE imei IN (SELECT imei FROM registered_batch)
                """,
                [changed_from],
            )
        con.execute("INSERT INTO registered SELECT imei FROM registered_batch")
        con.unregister("registered_batch")
        added += batch.num_rows
        max_id = max(max_id, int(pa.compute.max(batch.column("id")).as_py()))
    if synced_at is not None:
        # Driven from the (partial) index of revocations, as above: never a scan of the registry.
        revoked = [
            int(k)
            for (k,) in db.execute(
                text(
                    "SELECT DISTINCT di.imei_key FROM registrations r CROSS JOIN device_imeis di "
                    "WHERE di.device_id = r.device_id AND r.revoked_at >= :since"
                ).bindparams(bindparam("since", synced_at, type_=UTCDateTime()))
            )
        ]
        if revoked:
            still = {
                int(k)
                for (k,) in db.execute(
                    select(DeviceImei.imei_key)
                    .join(Registration, Registration.device_id == DeviceImei.device_id)
                    .where(Registration.revoked_at.is_(None), DeviceImei.imei_key.in_(revoked))
                )
            }
            gone = pa.table({"imei": pa.array([k for k in revoked if k not in still], pa.int64())})
            con.register("gone", gone)
            con.execute("DELETE FROM registered WHERE imei IN (SELECT imei FROM gone)")
            con.execute("INSERT INTO registry_changed SELECT imei FROM gone")
            con.unregister("gone")
    con.execute("DELETE FROM registry_sync")
    con.execute("INSERT INTO registry_sync VALUES (?, ?)", [max_id, now])
    return added


def _load_reference(
    db: Session, con: duckdb.DuckDBPyConnection, *, since: dt.datetime | None
) -> None:
    """Small reference sets for this run: TACs, stolen devices, paused blocks, devices flagged,
    and those whose reports or appeals changed `since` (the last run)."""
    tacs = [int(t) for (t,) in db.execute(select(TacModel.tac)) if t.isdigit()]
    stolen = [
        int(i)
        for (i,) in db.execute(select(StolenDevice.imei).where(StolenDevice.cancelled_at.is_(None)))
        if i.isdigit()
    ]
    paused = [
        int(i)
        for (i,) in db.execute(
            select(BlockPause.imei).where(BlockPause.ended_at.is_(None)).distinct()
        )
        if i.isdigit()
    ]
    _replace_temp(con, "tacs", pa.table({"tac": pa.array(tacs, pa.int64())}))
    _replace_temp(con, "stolen", pa.table({"imei": pa.array(stolen, pa.int64())}))
    _replace_temp(con, "paused", pa.table({"imei": pa.array(paused, pa.int64())}))
    changed: list[int] = []
    if since is not None:
        reports = select(StolenDevice.imei).where(
            (StolenDevice.reported_at >= since) | (StolenDevice.cancelled_at >= since)
        )
        appeals = select(BlockPause.imei).where(
            (BlockPause.created_at >= since) | (BlockPause.ended_at >= since)
        )
        changed = [int(i) for (i,) in db.execute(reports.union(appeals)) if i.isdigit()]
    _replace_temp(con, "facts_changed", pa.table({"imei": pa.array(changed, pa.int64())}))
    flagged = [i for (i,) in db.execute(select(DeviceFlag.imei).distinct())]
    con.register("flagged_arrow", pa.table({"imei_text": pa.array(flagged, pa.string())}))
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE flagged AS
        SELECT CASE WHEN regexp_full_match(f.imei_text, '[0-9]{14}') THEN f.imei_text::BIGINT
                    ELSE r.id END AS imei
        FROM flagged_arrow f LEFT JOIN raw_imeis r ON r.raw = f.imei_text
        """
    )
    con.unregister("flagged_arrow")


def _load_previous(
    db: Session, con: duckdb.DuckDBPyConnection, *, trust_store: bool, last_run_id: int | None
) -> str:
    """The states before this run, as temp table `previous`; returns where they were read.

    From the store's copy of what the last run left (`run_states`) when it is that run's and
    holds as many states as the database (only runs write states); otherwise, and always for
    a full re-evaluation (the reference), from the database: 3-4 % of all devices, read row
    by row, took longer than the whole evaluation of a day's churn.
    """
    if trust_store and last_run_id is not None:
        basis = first(con.execute("SELECT run_id, states FROM run_states_basis").fetchall())
        if basis is not None and basis[0] == last_run_id:
            stored = db.scalar(select(func.count()).select_from(DeviceState))
            if basis[1] == stored:
                con.execute("CREATE OR REPLACE TEMP TABLE previous AS SELECT * FROM run_states")
                return "store"
    states = db.execute(
        select(
            DeviceState.imei,
            DeviceState.state,
            DeviceState.reasons,
            DeviceState.first_noncompliant,
            DeviceState.block_date,
            DeviceState.blocked_on,
        )
    ).all()
    columns: list[tuple[Any, ...]] = (
        list(zip(*states, strict=True)) if states else [() for _ in range(6)]
    )
    table = pa.table(
        [
            pa.array(columns[0], pa.string()),
            pa.array(columns[1], pa.string()),
            pa.array(columns[2], pa.string()),
            pa.array(columns[3], pa.date32()),
            pa.array(columns[4], pa.date32()),
            pa.array(columns[5], pa.date32()),
        ],
        names=["imei_text", "state", "reasons", "first_noncompliant", "block_date", "blocked_on"],
    )
    con.register("previous_arrow", table)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE previous AS
        SELECT CASE WHEN regexp_full_match(p.imei_text, '[0-9]{14}') THEN p.imei_text::BIGINT
                    ELSE r.id END AS imei,
               p.* EXCLUDE (imei_text)
        FROM previous_arrow p LEFT JOIN raw_imeis r ON r.raw = p.imei_text
        """
    )
    con.unregister("previous_arrow")
    return "database"


def _record_states(con: duckdb.DuckDBPyConnection, run_id: int) -> None:
    """Keep this run's states for the next run (see `_load_previous`)."""
    con.execute("DELETE FROM run_states")
    con.execute(
        "INSERT INTO run_states SELECT imei, state, reasons, first_noncompliant, block_date, "
        "blocked_on FROM next_states"
    )
    con.execute("DELETE FROM run_states_basis")
    con.execute("INSERT INTO run_states_basis SELECT ?, count(*) FROM run_states", [run_id])


def _replace_temp(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    con.register(f"{name}_arrow", table)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")


def _merge_staged(
    db: Session,
    con: duckdb.DuckDBPyConnection,
    run: ClassificationRun,
    settings: Settings,
    *,
    incremental: bool,
) -> int:
    """Fold the dumps loaded since the last run into the sightings; note which devices to evaluate.

    The dumps a committed run of this same day merged are folded in again (the result is the
    same): a re-run of the day sees the devices its first run saw. The devices evaluated
    (`candidates`) are those in a state or flagged, those seen before whose registration,
    report, appeal or TAC changed since the last run, and of the devices in today's dumps: all
    of them (full), or those the dumps show something new about (incremental):

    - a pair (operator, IMEI, IMSI, MSISDN) never seen, or seen earlier than known;
    - a pair seen again after dropping out of the clone window.

    A device seen again with nothing new has at most the pairs, and in the clone window at most
    the rows, it had when a run last evaluated it; every condition only grows with those, and
    its other facts are unchanged (else it would be a candidate): that run found nothing (it has
    no state and no flag), and a full evaluation today would find nothing either.
    """
    same_day = select(ClassificationRun.id).where(
        ClassificationRun.run_date == run.run_date, ClassificationRun.finished_at.is_not(None)
    )
    pending = db.execute(
        select(
            OperatorImport.id, OperatorImport.operator, OperatorImport.sha256, OperatorImport.run_id
        ).where(
            OperatorImport.status == "loaded",
            OperatorImport.run_id.is_(None) | OperatorImport.run_id.in_(same_day),
        )
    ).all()
    table = pa.table(
        {
            "operator": pa.array([p[1] for p in pending], pa.string()),
            "sha256": pa.array([p[2] for p in pending], pa.string()),
        }
    )
    _replace_temp(con, "pending_imports", table)
    # A view, read by the merge itself: a copy of a day's rows cost a tenth of the merge.
    con.execute(
        """
        CREATE OR REPLACE TEMP VIEW fresh AS
        SELECT s.* EXCLUDE (sha256)
        FROM staged s JOIN pending_imports p USING (operator, sha256)
        """
    )
    row = first(con.execute("SELECT count(*) FROM fresh").fetchall())
    merged = int(row[0]) if row else 0
    if len({p[1] for p in pending}) < len(pending):
        # A dump's rows are one per pair already; two dumps of an operator may share pairs.
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE fresh_pairs AS
            SELECT operator, imei, imsi, msisdn, min(first_seen) AS first_seen,
                   max(last_seen) AS last_seen
            FROM fresh GROUP BY ALL
            """
        )
        con.execute("CREATE OR REPLACE TEMP VIEW fresh AS SELECT * FROM fresh_pairs")
    horizon = run.run_date - dt.timedelta(days=settings.network.retention_days)
    window_start = run.run_date - dt.timedelta(days=settings.network.duplicate_window_days - 1)
    _device_floor(con, horizon)
    if merged:
        # A join of the known pairs with today's, written once: a GROUP BY over both took
        # twice as long. `touched`: what a device seen again shows that is new (see above).
        con.execute(
            """
            CREATE OR REPLACE TABLE sightings_next AS
            SELECT coalesce(s.operator, f.operator) AS operator, coalesce(s.imei, f.imei) AS imei,
                   CASE WHEN s.imei IS NULL THEN f.imsi ELSE s.imsi END AS imsi,
                   CASE WHEN s.imei IS NULL THEN f.msisdn ELSE s.msisdn END AS msisdn,
                   least(s.first_seen, f.first_seen) AS first_seen,
                   greatest(s.last_seen, f.last_seen) AS last_seen,
                   f.imei IS NOT NULL AS seen,
                   f.imei IS NOT NULL AND (s.imei IS NULL OR f.first_seen < s.first_seen
                                           OR s.last_seen < $window_start) AS touched
            FROM sightings s FULL JOIN fresh f
              ON s.operator = f.operator AND s.imei = f.imei
             AND s.imsi IS NOT DISTINCT FROM f.imsi AND s.msisdn IS NOT DISTINCT FROM f.msisdn
            WHERE greatest(s.last_seen, f.last_seen) >= $horizon
            """,
            {"window_start": window_start, "horizon": horizon},
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE seen_now AS SELECT DISTINCT imei FROM sightings_next "
            f"WHERE {'touched' if incremental else 'seen'}"
        )
        con.execute("ALTER TABLE sightings_next DROP COLUMN seen")
        con.execute("ALTER TABLE sightings_next DROP COLUMN touched")
        con.execute("DROP TABLE sightings")
        con.execute("ALTER TABLE sightings_next RENAME TO sightings")
    else:
        con.execute("DELETE FROM sightings WHERE last_seen < ?", [horizon])
        con.execute("CREATE OR REPLACE TEMP TABLE seen_now (imei BIGINT)")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE candidates AS "
        "SELECT imei FROM seen_now UNION SELECT imei FROM previous UNION SELECT imei FROM flagged"
    )
    # TACs withdrawn since the last run make its devices' models unknown, seen today or not.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE tacs_withdrawn AS
        SELECT tac FROM classify_tacs
        WHERE tac NOT IN (SELECT tac FROM tacs) AND (SELECT count(*) FROM tacs) > 0
        """
    )
    changed = first(
        con.execute(
            "SELECT (SELECT count(*) FROM registry_changed) + (SELECT count(*) FROM facts_changed),"
            " (SELECT count(*) FROM tacs_withdrawn)"
        ).fetchall()
    )
    if changed and changed[0]:
        con.execute(
            """
            INSERT INTO candidates
            SELECT DISTINCT c.imei FROM (SELECT imei FROM registry_changed
                                         UNION SELECT imei FROM facts_changed) c
            SEMI JOIN sightings s ON s.imei = c.imei
            WHERE c.imei NOT IN (SELECT imei FROM candidates)
            """
        )
    if changed and changed[1]:
        con.execute(
            """
            INSERT INTO candidates
            SELECT DISTINCT imei FROM sightings
            WHERE imei >= 0 AND imei // 1000000 IN (SELECT tac FROM tacs_withdrawn)
              AND imei NOT IN (SELECT imei FROM candidates)
            """
        )
    if new := [p[0] for p in pending if p[3] is None]:
        db.execute(update(OperatorImport).where(OperatorImport.id.in_(new)).values(run_id=run.id))
    return merged


def _apply_amnesty(
    db: Session, con: duckdb.DuckDBPyConnection, run_date: dt.date, settings: Settings
) -> int:
    """Devices seen on a network before the cut-off are registered automatically (amnesty)."""
    cutoff = settings.network.amnesty_cutoff
    if cutoff is None:
        return 0
    rows = con.execute(
        f"""
        SELECT s.imei, min(s.first_seen) AS first_seen, arg_min(s.operator, s.first_seen)
        FROM sightings s
        WHERE s.imei IN (SELECT imei FROM candidates)
          AND s.imei >= 0 AND NOT ({_junk_sql("s.imei")})
          AND s.imei NOT IN (SELECT imei FROM registered)
        GROUP BY s.imei
        HAVING min(s.first_seen) < ?
        """,
        [cutoff],
    ).fetchall()
    if not rows:
        return 0
    keys = np.array([r[0] for r in rows], dtype=np.int64).reshape(-1, 1)
    register_devices_bulk(
        db.connection(),
        keys=keys,
        present=np.ones_like(keys, dtype=bool),
        source=RegistrationSource.AMNESTY,
        actor="system:amnesty",
        now=utcnow(),
        evidence=[
            {"first_seen": r[1].isoformat(), "operator": r[2], "cutoff": cutoff.isoformat()}
            for r in rows
        ],
    )
    con.register("amnestied", pa.table({"imei": pa.array(keys[:, 0], pa.int64())}))
    con.execute("INSERT INTO registered SELECT imei FROM amnestied")
    con.execute("INSERT INTO registered_in_run SELECT imei FROM amnestied")
    con.unregister("amnestied")
    return len(rows)


def _register_declared(
    db: Session, con: duckdb.DuckDBPyConnection, run_date: dt.date, settings: Settings
) -> int:
    """Purchases declared abroad (ceir.citizens.abroad): a declared device seen in this run is
    registered before the conditions are evaluated when its buyer's trip home is on record, so
    it is never notified. Only the DuckDB glue is here; the rule is abroad.register_sighted."""
    keys = abroad.pending_keys(db, run_date)
    if not keys:
        return 0
    con.register("declared", pa.table({"imei": pa.array([int(k) for k in keys], pa.int64())}))
    try:
        rows = con.execute(
            """
            SELECT s.imei, min(s.first_seen) FROM sightings s
            WHERE s.imei IN (SELECT imei FROM declared) AND s.imei IN (SELECT imei FROM seen_now)
              AND s.imei NOT IN (SELECT imei FROM registered)
            GROUP BY s.imei
            """
        ).fetchall()
    finally:
        con.unregister("declared")
    seen = {str(imei).zfill(14): first_seen for imei, first_seen in rows}
    registered = abroad.register_sighted(db, seen, settings, utcnow())
    if registered:
        con.register(
            "newly", pa.table({"imei": pa.array([int(k) for k in registered], pa.int64())})
        )
        con.execute("INSERT INTO registered SELECT imei FROM newly")
        con.execute("INSERT INTO registered_in_run SELECT imei FROM newly")
        con.unregister("newly")
    return len(registered)


def _junk_sql(column: str) -> str:
    junk = {int(k) for k in identifiers.JUNK_IMEI_KEYS} | {int(str(d) * 14) for d in range(10)}
    return f"{column} IN ({', '.join(str(k) for k in sorted(junk))})"


def _evaluate(
    con: duckdb.DuckDBPyConnection, run_date: dt.date, settings: Settings
) -> dict[str, int]:
    """Every condition for every candidate device (see `_merge_staged`)."""
    rules = settings.network
    window_start = run_date - dt.timedelta(days=rules.duplicate_window_days - 1)
    has_tacs = first(con.execute("SELECT count(*) > 0 FROM tacs").fetchall())
    check_tacs = bool(has_tacs and has_tacs[0])
    blocking = [c for c in CONDITIONS if rules.conditions[c.value].blocking]
    reasons = (
        " || ".join(f"CASE WHEN {c.value} THEN '{c.value}|' ELSE '' END" for c in blocking) or "''"
    )
    grace = (
        ", ".join(
            f"CASE WHEN {c.value} THEN {int(rules.conditions[c.value].grace_days)} END"
            for c in blocking
        )
        or "NULL"
    )
    home = home_imsi_sql("imsi", rules.home_mcc)
    clone_imsis = int(rules.duplicate_imsis)
    # Which IMSIs make a clone: every one (DIRBS), or home ones only.
    counted = "imsi IS NOT NULL" if rules.duplicate_counts_foreign_imsis else home
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE evaluated AS
        WITH rows_seen AS (
            -- Only a SIM with a number can be sent the notice: a device never seen with one
            -- (no IMSI or no MSISDN) is not put on the road to a block (stolen ones aside).
            SELECT imei, coalesce(bool_or(home), false) AS home_seen,
                   bool_or(reachable) AS reachable,
                   count(*) FILTER (WHERE counted AND last_seen >= $window_start) AS home_rows
            FROM (SELECT imei, last_seen, {home} AS home, {counted} AS counted,
                         imsi IS NOT NULL AND msisdn IS NOT NULL AS reachable
                  FROM sightings WHERE imei IN (SELECT imei FROM candidates))
            GROUP BY imei
        ),
        -- Distinct IMSIs are never more than rows: only a device with more recent home rows
        -- than a clone may have needs its IMSIs counted exactly (a DISTINCT over every device
        -- cost a third of the evaluation).
        crowded AS (
            SELECT imei, count(DISTINCT imsi) AS home_imsis FROM sightings
            WHERE imei IN (SELECT imei FROM rows_seen WHERE home_rows > {clone_imsis})
              AND {counted} AND last_seen >= $window_start
            GROUP BY imei
        ),
        seen AS (
            SELECT r.imei, r.home_seen, r.reachable, coalesce(c.home_imsis, 0) AS home_imsis
            FROM rows_seen r LEFT JOIN crowded c USING (imei)
        ),
        flags AS (
            SELECT c.imei,
                   c.imei IN (SELECT imei FROM stolen) AS stolen,
                   coalesce(s.reachable, true) AND (c.imei < 0 OR {_junk_sql("c.imei")})
                       AS invalid_imei,
                   coalesce(s.home_seen, true) AS home_seen,
                   coalesce(s.reachable, true) AS reachable,
                   coalesce(s.home_imsis, 0) AS home_imsis
            FROM candidates c LEFT JOIN seen s USING (imei)
        )
        ,
        conditions AS (
            SELECT imei, stolen, invalid_imei, NOT reachable AS unreachable,
                   reachable AND imei >= 0 AND NOT {_junk_sql("imei")}
                       AND {str(check_tacs).lower()}
                       AND (imei // 1000000) NOT IN (SELECT tac FROM tacs) AS unknown_tac,
                   -- A roamer's own phone is not blocked for being unregistered here.
                   reachable AND imei >= 0 AND NOT {_junk_sql("imei")} AND home_seen
                       AND imei NOT IN (SELECT imei FROM registered) AS not_registered,
                   home_imsis > {clone_imsis} AS duplicate
            FROM flags
        )
        SELECT *, rtrim({reasons}, '|') AS blocking_reasons, least({grace}) AS grace_days
        FROM conditions
        """,
        {"window_start": window_start},
    )
    row = first(
        con.execute(
            "SELECT count(*), count(*) FILTER (WHERE unreachable), "
            + ", ".join(f"count(*) FILTER (WHERE {c.value})" for c in CONDITIONS)
            + " FROM evaluated"
        ).fetchall()
    )
    assert row is not None
    counts = {"devices_evaluated": int(row[0]), "devices_not_reachable": int(row[1])}
    counts.update(
        {f"condition_{c.value}": int(v) for c, v in zip(CONDITIONS, row[2:], strict=True)}
    )
    return counts


def _link_second_imeis(
    db: Session, con: duckdb.DuckDBPyConnection, run: ClassificationRun, settings: Settings
) -> dict[str, int]:
    """Unregistered IMEIs seen with the same home SIM as a registered IMEI of their TAC family.

    They are offered to the device's owner as its second IMEI (ceir.citizens.second_imei), and
    those confirmed (now or before) count as registered from this run on.
    """
    rules = settings.network
    window = int(rules.second_imei_window_days)
    family = second_imei.TAC_FAMILY_DIVISOR
    rows = con.execute(
        f"""
        SELECT u.imei, r.imei, u.imsi::VARCHAR, any_value(u.msisdn)::VARCHAR,
               min(u.first_seen), max(u.last_seen), min(r.first_seen), max(r.last_seen)
        FROM evaluated e
        JOIN sightings u ON u.imei = e.imei
        JOIN sightings r ON r.imsi = u.imsi AND r.imei <> u.imei
        WHERE e.imei >= 0 AND e.not_registered
          AND NOT (e.stolen OR e.invalid_imei OR e.unknown_tac)
          AND starts_with(u.imsi::VARCHAR, '{rules.home_mcc}')
          AND u.imei // {family} = r.imei // {family}
          AND r.imei IN (SELECT imei FROM registered)
          AND u.first_seen <= r.last_seen + {window} AND r.first_seen <= u.last_seen + {window}
        GROUP BY u.imei, r.imei, u.imsi
        ORDER BY u.imei, r.imei, u.imsi
        """
    ).fetchall()
    sightings = [
        second_imei.Sighting(
            imei=int(r[0]),
            registered_imei=int(r[1]),
            imsi=r[2],
            msisdn=r[3],
            seen=(r[4], r[5]),
            registered_seen=(r[6], r[7]),
        )
        for r in rows
    ]
    linked, counts = second_imei.link_in_run(db, sightings, run_id=run.id, now=utcnow())
    con.register("linked_arrow", pa.table({"imei": pa.array(linked, pa.int64())}))
    try:
        con.execute("INSERT INTO registered_in_run SELECT imei FROM linked_arrow")
        con.execute(
            "INSERT INTO registered SELECT imei FROM linked_arrow "
            "WHERE imei NOT IN (SELECT imei FROM registered)"
        )
        con.execute(
            """
            UPDATE evaluated SET not_registered = false,
                blocking_reasons = trim(
                    replace('|' || blocking_reasons || '|', '|not_registered|', '|'), '|')
            WHERE imei IN (SELECT imei FROM linked_arrow)
            """
        )
    finally:
        con.unregister("linked_arrow")
    return counts


def _transition(
    con: duckdb.DuckDBPyConnection, run_date: dt.date, settings: Settings
) -> dict[str, int]:
    """Move each device along its life cycle; the changes are kept for the audit trail."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE next_states AS
        WITH joined AS (
            SELECT e.imei, e.blocking_reasons AS reasons, p.state AS old_state,
                   p.reasons AS old_reasons,
                   coalesce(p.first_noncompliant, ?) AS first_noncompliant,
                   CASE WHEN p.imei IS NULL THEN ?::DATE + e.grace_days
                        -- a new reason (say, reported stolen) may bring the block date forward
                        ELSE least(p.block_date, ?::DATE + e.grace_days) END AS block_date,
                   p.blocked_on AS old_blocked_on,
                   e.imei IN (SELECT imei FROM paused) AS paused
            FROM evaluated e LEFT JOIN previous p USING (imei)
            WHERE e.blocking_reasons <> ''
        )
        SELECT imei, reasons, first_noncompliant, block_date, old_state, old_reasons, paused,
               CASE WHEN old_state = 'blocked' THEN 'blocked'
                    WHEN block_date <= ? AND NOT paused THEN 'blocked'
                    ELSE 'notified' END AS state,
               CASE WHEN old_state = 'blocked' THEN old_blocked_on
                    WHEN block_date <= ? AND NOT paused THEN ?::DATE END AS blocked_on
        FROM joined
        """,
        [run_date] * 6,
    )
    # A device in a state that is no longer non-compliant is allowed again.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE changes AS
        SELECT imei, old_state, state AS new_state, reasons FROM next_states
        WHERE old_state IS DISTINCT FROM state OR old_reasons IS DISTINCT FROM reasons
        UNION ALL
        SELECT p.imei, p.state, 'allowed', p.reasons FROM previous p
        WHERE p.imei NOT IN (SELECT imei FROM next_states)
        """
    )
    row = first(
        con.execute(
            """
        SELECT (SELECT count(*) FROM next_states WHERE state = 'notified'),
               (SELECT count(*) FROM next_states WHERE state = 'blocked'),
               count(*) FILTER (WHERE old_state IS NULL),
               count(*) FILTER (WHERE new_state = 'blocked'
                                AND old_state IS DISTINCT FROM 'blocked'),
               count(*) FILTER (WHERE new_state = 'allowed' AND old_state = 'blocked'),
               count(*) FILTER (WHERE new_state = 'allowed' AND old_state = 'notified')
        FROM changes
        """
        ).fetchall()
    )
    assert row is not None
    return {
        "notified": int(row[0]),
        "blocked": int(row[1]),
        "newly_notified": int(row[2]),
        "newly_blocked": int(row[3]),
        "unblocked": int(row[4]),
        "resolved": int(row[5]),
    }


def _write_states(db: Session, con: duckdb.DuckDBPyConnection, run: ClassificationRun) -> None:
    """Apply the run's outcome to the relational device_states, and record each transition.

    Rows go in sorted by IMEI: the indexes on it then grow at their ends instead of at random
    pages, which made the load of a big day's states a third faster on SQLite.
    """
    upserts = (
        con.sql(
            f"""
        SELECT {imei_text_sql("n")} AS imei, n.state, n.reasons, n.first_noncompliant,
               n.block_date, n.blocked_on
        FROM next_states n
        LEFT JOIN previous p USING (imei)
        LEFT JOIN raw_imeis raw_n ON raw_n.id = n.imei
        WHERE p.imei IS NULL OR p.state <> n.state OR p.reasons <> n.reasons
           OR p.block_date <> n.block_date OR p.blocked_on IS DISTINCT FROM n.blocked_on
        ORDER BY 1
        """
        )
        .to_arrow_table()
        .to_pydict()
    )
    removed = (
        con.sql(
            f"""
        SELECT {imei_text_sql("p")} AS imei
        FROM previous p LEFT JOIN raw_imeis raw_p ON raw_p.id = p.imei
        WHERE p.imei NOT IN (SELECT imei FROM next_states)
        """
        )
        .to_arrow_table()
        .column("imei")
        .to_pylist()
    )
    transitions = (
        con.sql(
            f"""
        SELECT {imei_text_sql("c")} AS imei, c.old_state, c.new_state, c.reasons
        FROM changes c LEFT JOIN raw_imeis raw_c ON raw_c.id = c.imei
        ORDER BY 1
        """
        )
        .to_arrow_table()
        .to_pydict()
    )
    conn = db.connection()
    touched = upserts["imei"] + removed
    if touched:
        conn.exec_driver_sql("DROP TABLE IF EXISTS tmp_touched")
        conn.exec_driver_sql("CREATE TEMPORARY TABLE tmp_touched (imei VARCHAR(20) NOT NULL)")
        insert_columns(conn, "tmp_touched", {"imei": touched})
        for table in ("device_states", "device_numbers"):
            conn.exec_driver_sql(
                f"DELETE FROM {table} WHERE imei IN (SELECT imei FROM tmp_touched)"
            )
        conn.exec_driver_sql("DROP TABLE tmp_touched")
    if upserts["imei"]:
        insert_columns(conn, "device_states", {**upserts, "updated_run": run.id})
    _write_numbers(conn, con, run)
    if transitions["imei"]:
        insert_columns(
            conn, "device_state_changes", {**transitions, "run_id": run.id, "on_date": run.run_date}
        )


def _write_numbers(
    conn: Connection, con: duckdb.DuckDBPyConnection, run: ClassificationRun
) -> None:
    """The numbers each newly set non-compliant device was seen with (whose owners may appeal)."""
    pairs = (
        con.sql(
            f"""
        SELECT DISTINCT {imei_text_sql("n")} AS imei, s.msisdn::VARCHAR AS msisdn
        FROM next_states n
        LEFT JOIN previous p USING (imei)
        JOIN sightings s ON s.imei = n.imei
        LEFT JOIN raw_imeis raw_n ON raw_n.id = n.imei
        WHERE s.msisdn IS NOT NULL AND (p.imei IS NULL OR p.state <> n.state
           OR p.reasons <> n.reasons OR p.block_date <> n.block_date
           OR p.blocked_on IS DISTINCT FROM n.blocked_on)
        ORDER BY 1, 2
        """
        )
        .to_arrow_table()
        .to_pydict()
    )
    if pairs["imei"]:
        insert_columns(conn, "device_numbers", {**pairs, "run_id": run.id})


def _write_flags(db: Session, con: duckdb.DuckDBPyConnection, run: ClassificationRun) -> int:
    """Informative findings (clones), for buyers and partners: those no longer found go, new ones
    come with this run's date; one still found keeps the day it was first flagged."""
    conn = db.connection()
    before = {
        i
        for (i,) in conn.execute(
            select(DeviceFlag.imei).where(DeviceFlag.flag == Condition.DUPLICATE.value)
        )
    }
    flagged = (
        con.sql(
            f"""
            SELECT {imei_text_sql("e")} AS imei FROM evaluated e
            LEFT JOIN raw_imeis raw_e ON raw_e.id = e.imei
            WHERE e.duplicate
            """
        )
        .to_arrow_table()
        .column("imei")
        .to_pylist()
    )
    now = set(flagged)
    if gone := sorted(before - now):
        for start in range(0, len(gone), 500):
            conn.execute(
                delete(DeviceFlag).where(
                    DeviceFlag.flag == Condition.DUPLICATE.value,
                    DeviceFlag.imei.in_(gone[start : start + 500]),
                )
            )
    if new := sorted(now - before):
        insert_columns(
            conn,
            "device_flags",
            {
                "imei": new,
                "flag": Condition.DUPLICATE.value,
                "since": run.run_date,
                "run_id": run.id,
            },
        )
    return len(flagged)
