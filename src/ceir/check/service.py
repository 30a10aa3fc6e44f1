"""Checking IMEIs against the registry, one at a time (web) or by the million (CLI, partners)."""

from __future__ import annotations

import datetime as dt
import enum
import io
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import Boolean, Connection, Date, String, column, text
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.bulk import keys_temp_table
from ceir.db import UTCDateTime
from ceir.network import reasons as block_reasons
from ceir.network.enforcement import DeviceCode, DeviceFacts, device_code
from ceir.network.rules import Condition
from ceir.registry.models import RegistrationSource
from ceir.tac.service import DeviceModel, lookup_many


class Verdict(enum.StrEnum):
    """What a check says about an IMEI, most severe first where several apply."""

    STOLEN = "stolen"  # reported lost or stolen: blocked on every network
    BLOCKED = "blocked"  # on the block list (not registered after the grace period, fake...)
    INVALID = "invalid"
    REGISTERED = "registered"
    NOT_REGISTERED = "not_registered"  # high risk of blocking; may carry a block date


class ListColour(enum.StrEnum):
    """The white, grey and black lists, as people in Kazakhstan know them."""

    WHITE = "white"
    GREY = "grey"
    BLACK = "black"


LIST_OF = {
    Verdict.REGISTERED: ListColour.WHITE,
    Verdict.NOT_REGISTERED: ListColour.GREY,
    Verdict.BLOCKED: ListColour.BLACK,
    Verdict.STOLEN: ListColour.BLACK,
    Verdict.INVALID: ListColour.BLACK,
}


# Codes of a mistyped number: it names no device, so it is on no list and is no alarm. (A junk
# IMEI, a known fake, is on the black list like any device the networks refuse.)
TYPING_CODES = frozenset({"empty", "not_digits", "wrong_length", "bad_check_digit"})


class Pending(enum.StrEnum):
    """A decision an officer has yet to take about a device that is not registered."""

    REGISTRATION = "registration"  # a personal-import application is under review
    APPEAL = "appeal"  # an open appeal pauses the device's block


class Signal(enum.StrEnum):
    """Warnings that point at a fake or a clone, shown beside the verdict."""

    UNKNOWN_TAC = "unknown_tac"


@dataclass(frozen=True, slots=True)
class Registered:
    source: RegistrationSource
    registered_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CheckResult:
    query: str
    verdict: Verdict
    imei: str | None = None  # 15 digits with the check digit
    tac: str | None = None
    invalid_code: str | None = None
    invalid_reason: str | None = None
    registration: Registered | None = None
    device: DeviceModel | None = None
    signals: list[Signal] = field(default_factory=list)
    block_date: dt.date | None = None  # when a notified or blocked device is (was) blocked
    pending: Pending | None = None
    # Why a device is notified, blocked or stolen (network/reasons.py), and the evidence a person
    # may see: the day it was first found not compliant (its grace ends on block_date).
    reason: Condition | None = None
    first_seen: dt.date | None = None

    @property
    def list_colour(self) -> ListColour | None:
        """The list the device is on; None for a mistyped number, which names no device."""
        if self.verdict is Verdict.INVALID and self.invalid_code in TYPING_CODES:
            return None
        return LIST_OF[self.verdict]


# Everything one check needs, in one statement: a public check is mostly overhead per statement
# (four of them took longer than the look-ups themselves). The one-row FROM keeps every part
# optional; each join is on a primary key or the registrations' covering index.
_FACTS = text(
    """
    SELECT reg.source, reg.registered_at,
           tm.tac, tm.brand, tm.model, tm.marketing_name, tm.device_type,
           sd.imei, ds.state, ds.block_date, ds.reasons, ds.first_noncompliant,
           EXISTS (SELECT 1 FROM block_pauses bp
                   WHERE bp.imei = :imei AND bp.ended_at IS NULL
                     AND bp.reason <> 'registration') AS paused,
           EXISTS (SELECT 1 FROM applications a
                   WHERE a.status = 'in_review' AND (a.imei1 = :imei OR a.imei2 = :imei))
               AS in_review
    FROM (SELECT 1 AS one) q
    LEFT JOIN registrations reg ON reg.id = (
        SELECT r.id FROM device_imeis di
        JOIN registrations r ON r.device_id = di.device_id AND r.revoked_at IS NULL
        WHERE di.imei_key = :imei_key
        ORDER BY r.registered_at DESC LIMIT 1)
    LEFT JOIN tac_models tm ON tm.tac = :tac
    LEFT JOIN stolen_devices sd ON sd.imei = :imei AND sd.cancelled_at IS NULL
    LEFT JOIN device_states ds ON ds.imei = :imei
    """
).columns(
    column("source", String),
    column("registered_at", UTCDateTime()),
    column("tac", String),
    column("brand", String),
    column("model", String),
    column("marketing_name", String),
    column("device_type", String),
    column("stolen", String),
    column("state", String),
    column("block_date", Date),
    column("reasons", String),
    column("first_noncompliant", Date),
    column("paused", Boolean),
    column("in_review", Boolean),
)


def check_imei(db: Session | Connection, query: str) -> CheckResult:
    try:
        imei = identifiers.parse_imei(query)
    except identifiers.IdentifierError as exc:
        return invalid(query, exc)
    facts = db.execute(_FACTS, {"imei_key": int(imei.key), "tac": imei.tac, "imei": imei.key}).one()
    return result_from_facts(query, imei, tuple(facts))


def invalid(query: str, exc: identifiers.IdentifierError) -> CheckResult:
    return CheckResult(query, Verdict.INVALID, invalid_code=exc.code, invalid_reason=str(exc))


def result_from_facts(query: str, imei: identifiers.Imei, facts: tuple[Any, ...]) -> CheckResult:
    """The check's answer from one row shaped as `_FACTS` returns it, wherever the row came from
    (the database, or the in-memory index of `ceir.check.memory`): one rule for both."""
    (source, registered_at, tac, brand, model, marketing_name, device_type) = facts[:7]
    stolen, state, block_date, state_reasons, first_seen, paused, in_review = facts[7:]
    result = _result(
        query,
        imei.imei15,
        imei.tac,
        DeviceModel(tac, brand, model, marketing_name, device_type) if tac else None,
        Registered(RegistrationSource(source), registered_at) if source else None,
    )
    if stolen is None and state is None and not paused and not in_review:
        return result  # most devices: nothing for enforcement or a decision to add
    device = DeviceFacts(
        registered=result.registration is not None,
        stolen=stolen is not None,
        state=state,
        reasons=state_reasons or "",
    )
    result = with_enforcement(result, device, block_date, first_seen)
    return with_pending(result, paused=bool(paused), in_review=bool(in_review))


def with_pending(result: CheckResult, *, paused: bool, in_review: bool) -> CheckResult:
    """An officer's decision still to come, for a device that is neither registered nor stolen:
    an open appeal (its block is paused) or a personal-import application under review."""
    if result.verdict not in (Verdict.NOT_REGISTERED, Verdict.BLOCKED):
        return result
    if paused:
        return replace(result, pending=Pending.APPEAL)
    if in_review:
        return replace(result, pending=Pending.REGISTRATION)
    return result


def _enforced(facts: DeviceFacts) -> tuple[Verdict | None, bool]:
    """The verdict the device's code puts above the registry's (None: none), and whether the
    state's block date shows.

    The public check shows the lists, so an appeal's pause does not change it. A state whose
    reasons facts since the last run have cured (a registration, a cancelled report) adds
    nothing: the next run's lists will say so too.
    """
    code = device_code(replace(facts, paused=False))
    if code is DeviceCode.STOLEN:
        return Verdict.STOLEN, True
    if not facts.standing:
        return None, False
    if code in (DeviceCode.BLOCKED, DeviceCode.BLOCKED_UNREGISTERED):
        return Verdict.BLOCKED, True
    return None, True  # notified: the date it will be blocked


def with_enforcement(
    result: CheckResult,
    facts: DeviceFacts,
    block_date: dt.date | None,
    first_seen: dt.date | None = None,
) -> CheckResult:
    """What network enforcement adds: stolen and blocked outrank registered; a block date, the
    reason and its evidence."""
    verdict, dated = _enforced(facts)
    if not dated:
        return result
    if verdict is Verdict.STOLEN:
        reason: Condition | None = Condition.STOLEN
    else:
        reason = block_reasons.primary("|".join(facts.standing))
    return replace(
        result,
        verdict=verdict or result.verdict,
        block_date=block_date,
        reason=reason,
        first_seen=first_seen if facts.state else None,
    )


def _result(
    query: str, imei15: str, tac: str, device: DeviceModel | None, registered: Registered | None
) -> CheckResult:
    return CheckResult(
        query,
        Verdict.REGISTERED if registered else Verdict.NOT_REGISTERED,
        imei=imei15,
        tac=tac,
        registration=registered,
        device=device,
        signals=[] if device else [Signal.UNKNOWN_TAC],
    )


BULK_COLUMNS = [
    "query",
    "imei",
    "verdict",
    "list_colour",
    "block_date",
    "reason",
    "brand",
    "model",
    "marketing_name",
    "source",
    "registered_at",
    "signals",
]


# Verdicts by code, for the column-wise bulk check (the code is the index here).
_VERDICTS = [
    Verdict.NOT_REGISTERED,
    Verdict.INVALID,
    Verdict.REGISTERED,
    Verdict.BLOCKED,
    Verdict.STOLEN,
]
_CODE = {verdict: code for code, verdict in enumerate(_VERDICTS)}


def check_table(db: Session | Connection, queries: Sequence[str] | pa.Array) -> pa.Table:
    """Check any number of IMEIs with a few set-based queries; one row per query, in order.

    Columns are BULK_COLUMNS; `registered_at` is ISO 8601 UTC. Built column-wise (Arrow
    dictionary arrays, no Python object per row where it can be helped) so a million IMEIs take
    seconds.
    """
    conn = db.connection() if isinstance(db, Session) else db
    strings = identifiers.as_string_array(queries)
    n = len(strings)
    keys, ok = identifiers.bulk_imei_keys(strings)
    valid = np.flatnonzero(ok)
    codes = np.where(ok, _CODE[Verdict.NOT_REGISTERED], _CODE[Verdict.INVALID]).astype(np.int8)
    block_date = np.full(n, None, dtype=object)
    tac_index = pa.nulls(n, pa.int32())
    # Where each row's registration sits among those found; -1 for none.
    found_at = np.full(n, -1, dtype=np.int32)
    found_sources = found_times = pa.array([], pa.string())
    tac_models: list[DeviceModel | None] = []

    if valid.size:
        source = _KeyRows.of(conn, keys[valid], valid)
        found_rows, found_sources, found_times = _registrations_of(conn, source)
        codes[found_rows] = _CODE[Verdict.REGISTERED]
        found_at[found_rows] = np.arange(found_rows.size, dtype=np.int32)
        for row_no, state, blocked_from, state_reasons, stolen in _enforcement_of(
            conn, source, keys[valid], valid
        ):
            facts = DeviceFacts(
                registered=bool(codes[row_no] == _CODE[Verdict.REGISTERED]),
                stolen=stolen,
                state=state,
                reasons=state_reasons or "",
            )
            verdict, dated = _enforced(facts)  # as with_enforcement, column-wise
            if verdict is not None:
                codes[row_no] = _CODE[verdict]
            if dated:
                block_date[row_no] = str(blocked_from)[:10] if blocked_from else None
        source.drop(conn)

        tacs = pa.array(np.where(ok, keys // 1_000_000, 0))
        unique_tacs = pc.unique(pc.filter(tacs, pa.array(ok)))
        models = lookup_many(conn, [str(t).zfill(8) for t in unique_tacs.to_pylist()])
        tac_models = [models.get(str(t).zfill(8)) for t in unique_tacs.to_pylist()]
        tac_index = pc.if_else(pa.array(ok), pc.index_in(tacs, unique_tacs), None)

    def from_models(attribute: str) -> pa.Array:
        values = pa.array([getattr(m, attribute) if m else None for m in tac_models], pa.string())
        return pa.DictionaryArray.from_arrays(tac_index, values).cast(pa.string())

    unknown = pa.array([m is None for m in tac_models], pa.bool_())
    signals = pc.if_else(
        pa.DictionaryArray.from_arrays(tac_index, unknown).cast(pa.bool_()).fill_null(False),
        Signal.UNKNOWN_TAC.value,
        pa.scalar(None, pa.string()),
    )

    reason = np.full(n, None, dtype=object)
    typo = np.zeros(n, dtype=bool)
    refused: dict[str, CheckResult] = {}
    for i in np.flatnonzero(~ok).tolist():
        query = strings[i].as_py() if isinstance(queries, pa.Array) else queries[i]
        if query not in refused:
            refused[query] = check_imei(conn, query)
        reason[i] = refused[query].invalid_reason or "invalid"
        typo[i] = refused[query].list_colour is None

    registered = pa.array(found_at, mask=found_at < 0)
    code_array = pa.array(codes.astype(np.int32))
    verdict_names = pa.array([v.value for v in _VERDICTS], pa.string())
    list_names = pa.array([LIST_OF[v].value for v in _VERDICTS], pa.string())
    return pa.table(
        [
            strings,
            pc.if_else(pa.array(ok), identifiers.bulk_imei15_arrow(keys), None),
            pa.DictionaryArray.from_arrays(code_array, verdict_names).cast(pa.string()),
            pc.if_else(
                pa.array(typo),
                pa.scalar(None, pa.string()),
                pa.DictionaryArray.from_arrays(code_array, list_names).cast(pa.string()),
            ),
            pa.array(block_date, pa.string()),
            pa.array(reason, pa.string()),
            from_models("brand"),
            from_models("model"),
            from_models("marketing_name"),
            found_sources.take(registered),
            found_times.take(registered),
            signals,
        ],
        names=BULK_COLUMNS,
    )


# From this many keys on, the enforcement tables are read whole and matched in NumPy: cheaper than
# two index look-ups per key in the database (they hold the non-compliant few, not the registry).
WHOLE_TABLES_FROM = 100_000


@dataclass(frozen=True)
class _KeyRows:
    """The checked keys as rows (imei_key, row_no) aliased `t`, for the queries to join against.

    On PostgreSQL, up to WHOLE_TABLES_FROM keys are bound as two arrays and `unnest`ed: no
    temporary table, so the check also runs on a read-only session of a streaming replica (a
    hot standby refuses CREATE TABLE, even a temporary one), and spares a batch the DDL. More
    keys (a background job, on the primary) go to a temporary table that is ANALYZEd.
    """

    sql: str
    params: dict[str, object]
    rows: int  # one more than the largest row_no
    temporary: bool

    @classmethod
    def of(cls, conn: Connection, keys: np.ndarray, rows: np.ndarray) -> _KeyRows:
        end = int(rows.max()) + 1 if rows.size else 0
        if conn.dialect.name == "postgresql" and keys.size < WHOLE_TABLES_FROM:
            return cls(
                "unnest(CAST(:t_keys AS bigint[]), CAST(:t_rows AS integer[])) "
                "AS t(imei_key, row_no)",
                {"t_keys": keys.tolist(), "t_rows": rows.tolist()},
                end,
                temporary=False,
            )
        keys_temp_table(conn, "tmp_check_keys", keys, rows)
        return cls("tmp_check_keys t", {}, end, temporary=True)

    def drop(self, conn: Connection) -> None:
        if self.temporary:
            conn.exec_driver_sql("DROP TABLE tmp_check_keys")


def _enforcement_of(
    conn: Connection, source: _KeyRows, keys: np.ndarray, rows: np.ndarray
) -> list[tuple[int, str | None, object, str | None, bool]]:
    """(row, state, block date, reasons, stolen) of the checked keys that have any."""
    if keys.size >= WHOLE_TABLES_FROM:
        return _enforcement_in_memory(conn, keys, rows)
    if conn.dialect.name == "postgresql":
        as_text = "lpad(t.imei_key::text, 14, '0')"
    else:
        as_text = "printf('%014d', t.imei_key)"
    found = conn.execute(
        text(
            f"SELECT t.row_no, ds.state, ds.block_date, ds.reasons, sd.imei IS NOT NULL "  # noqa: S608
            f"FROM {source.sql} "
            f"LEFT JOIN device_states ds ON ds.imei = {as_text} "
            f"LEFT JOIN stolen_devices sd ON sd.imei = {as_text} AND sd.cancelled_at IS NULL "
            f"WHERE ds.imei IS NOT NULL OR sd.imei IS NOT NULL"
        ),
        source.params,
    ).all()
    return [(int(r[0]), r[1], r[2], r[3], bool(r[4])) for r in found]


def _enforcement_in_memory(
    conn: Connection, keys: np.ndarray, rows: np.ndarray
) -> list[tuple[int, str | None, object, str | None, bool]]:
    states = {
        int(imei): (state, block_date, reasons)
        for imei, state, block_date, reasons in conn.exec_driver_sql(
            "SELECT imei, state, block_date, reasons FROM device_states"
        )
        if imei.isdigit()
    }
    stolen = {
        int(imei)
        for (imei,) in conn.exec_driver_sql(
            "SELECT imei FROM stolen_devices WHERE cancelled_at IS NULL"
        )
        if imei.isdigit()
    }
    wanted = np.array(sorted(states.keys() | stolen), dtype=np.int64)
    if wanted.size == 0:
        return []
    hit = np.isin(keys, wanted)
    found = []
    for key, row in zip(keys[hit].tolist(), rows[hit].tolist(), strict=True):
        state, block_date, reasons = states.get(key, (None, None, None))
        found.append((row, state, block_date, reasons, key in stolen))
    return found


def _registrations_of(conn: Connection, source: _KeyRows) -> tuple[np.ndarray, pa.Array, pa.Array]:
    """(row, source, registered_at ISO UTC) of the registration in force for each checked key
    that is registered.

    The database hands the rows over as CSV text that Arrow parses: a million rows as Python
    tuples took longer than the join that finds them.
    """
    if conn.dialect.name == "postgresql":
        stamp = "to_char(r.registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
    else:
        stamp = "r.registered_at"  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC
    found = f"""
        FROM {source.sql}
        JOIN device_imeis di ON di.imei_key = t.imei_key
        JOIN registrations r ON r.device_id = di.device_id AND r.revoked_at IS NULL"""
    lines = _concatenated(conn, f"t.row_no || ',' || r.source || ',' || {stamp}", found, source)
    if not lines:
        return np.zeros(0, dtype=np.int64), pa.array([], pa.string()), pa.array([], pa.string())
    table = pa_csv.read_csv(
        io.BytesIO(lines),
        read_options=pa_csv.ReadOptions(column_names=["row_no", "source", "stamp"]),
        convert_options=pa_csv.ConvertOptions(
            column_types={"row_no": pa.int64(), "source": pa.string(), "stamp": pa.string()}
        ),
    )
    row_nos = table.column("row_no").to_numpy()
    sources = table.column("source").combine_chunks()
    stamps = pc.binary_join_element_wise(
        pc.replace_substring(pc.utf8_slice_codeunits(table.column("stamp"), 0, 19), " ", "T"),
        "Z",
        "",
    ).combine_chunks()
    if row_nos.size and np.bincount(row_nos).max() > 1:  # O(n), where np.unique would sort
        # A device may hold several registrations; the latest one in force is the one to show.
        order = np.lexsort((stamps.to_numpy(zero_copy_only=False).astype(str), row_nos))
        sorted_rows = row_nos[order]
        last = np.append(sorted_rows[1:] != sorted_rows[:-1], True)
        row_nos, sources, stamps = (
            sorted_rows[last],
            sources.take(order[last]),
            stamps.take(order[last]),
        )
    return row_nos, sources, stamps


# Rows of checked keys per query: bounds the text one query builds.
_CHUNK = 1_000_000


def _concatenated(conn: Connection, row: str, found: str, source: _KeyRows) -> bytes:
    """The rows of `SELECT {row} {found}` as lines of one text, a chunk of keys at a time."""
    if conn.dialect.name == "postgresql":
        aggregate = f"string_agg({row}, E'\\n')"
    else:
        aggregate = f"group_concat({row}, char(10))"
    query = text(f"SELECT {aggregate} {found} WHERE t.row_no >= :first AND t.row_no < :end")
    parts = []
    for first in range(0, source.rows, _CHUNK):
        bounds = {"first": first, "end": first + _CHUNK}
        part = conn.execute(query, {**source.params, **bounds}).scalar()
        if part:
            parts.append(part)
    return "\n".join(parts).encode()
