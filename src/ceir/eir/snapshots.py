"""Building the real-time index: from the relational database, or from a classification run."""

from __future__ import annotations

import duckdb
import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.eir import journal
from ceir.eir.index import EquipmentIndex, make_index
from ceir.network.enforcement import CODE_SQL, DeviceCode
from ceir.network.models import BlockPause, DeviceState, StolenDevice

FETCH_BATCH = 1_000_000


def build_from_database(db: Session) -> EquipmentIndex:
    """Everything from the relational database (start-up without a snapshot, `ceir eir build`)."""
    watermark = journal.last_id(db)  # read first: later changes come through the journal
    parts_keys: list[npt.NDArray[np.int64]] = []
    parts_codes: list[npt.NDArray[np.uint8]] = []
    result = db.connection().exec_driver_sql(
        "SELECT di.imei_key FROM device_imeis di JOIN registrations r "
        "ON r.device_id = di.device_id WHERE r.revoked_at IS NULL"
    )
    while rows := result.fetchmany(FETCH_BATCH):
        keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        parts_keys.append(keys)
        parts_codes.append(np.full(keys.size, DeviceCode.ALLOWED.value, dtype=np.uint8))

    paused = {
        i for (i,) in db.execute(select(BlockPause.imei).where(BlockPause.ended_at.is_(None)))
    }
    stolen = {
        i
        for (i,) in db.execute(select(StolenDevice.imei).where(StolenDevice.cancelled_at.is_(None)))
    }
    con = duckdb.connect()
    try:
        states = db.execute(select(DeviceState.imei, DeviceState.state, DeviceState.reasons)).all()
        state_keys = {i for i, _s, _r in states}
        state_rows: list[tuple[int, str | None, str, bool, bool]] = [
            (int(i), s, r, i in paused, i in stolen) for i, s, r in states if i.isdigit()
        ]
        state_rows += [
            (int(i), None, "", i in paused, True)
            for i in stolen
            if i.isdigit() and i not in state_keys
        ]
        if state_rows:
            columns = [list(c) for c in zip(*state_rows, strict=True)]
            # A state of a device registered since its run may be cured: the rule asks.
            registered = np.concatenate(parts_keys) if parts_keys else np.zeros(0, np.int64)
            columns.append(np.isin(np.array(columns[0], np.int64), registered).tolist())
            table = con.execute(
                f"SELECT key, ({CODE_SQL})::UTINYINT AS code FROM (SELECT unnest(?) AS key, "
                "unnest(?) AS state, unnest(?) AS reasons, unnest(?) AS paused, "
                "unnest(?) AS stolen, unnest(?) AS registered)",
                columns,
            ).fetchnumpy()
            parts_keys.append(table["key"].astype(np.int64))
            parts_codes.append(table["code"].astype(np.uint8))
    finally:
        con.close()
    if not parts_keys:
        return make_index(np.zeros(0, np.int64), np.zeros(0, np.uint8), journal_id=watermark)
    return make_index(np.concatenate(parts_keys), np.concatenate(parts_codes), journal_id=watermark)


def codes_from_run(
    con: duckdb.DuckDBPyConnection,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Keys and codes as a classification run leaves them (its temp tables in DuckDB)."""
    arrays = con.execute(
        f"""
        SELECT key, ({CODE_SQL})::UTINYINT AS code FROM (
            SELECT coalesce(n.imei, r.imei, s.imei) AS key, n.state, n.reasons,
                   coalesce(n.imei IN (SELECT imei FROM paused), false) AS paused,
                   s.imei IS NOT NULL AS stolen, r.imei IS NOT NULL AS registered
            FROM (SELECT DISTINCT imei FROM registered) r
            FULL JOIN next_states n ON n.imei = r.imei
            FULL JOIN stolen s ON s.imei = coalesce(n.imei, r.imei)
        ) WHERE key >= 0
        ORDER BY key
        """
    ).fetchnumpy()
    return arrays["key"].astype(np.int64), arrays["code"].astype(np.uint8)


def codes_patched(
    con: duckdb.DuckDBPyConnection, previous: EquipmentIndex
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """`codes_from_run`, from the last run's index and the keys whose facts may have changed
    since (temp table `index_changed`): their codes are worked out again, every other key keeps
    its code. Rebuilding from every registered key cost more than the rest of a day's churn."""
    arrays = con.execute(
        f"""
        SELECT key, ({CODE_SQL})::UTINYINT AS code FROM (
            SELECT c.key, n.state, n.reasons,
                   coalesce(n.imei IN (SELECT imei FROM paused), false) AS paused,
                   c.key IN (SELECT imei FROM stolen) AS stolen,
                   c.key IN (SELECT imei FROM registered) AS registered
            FROM (SELECT DISTINCT imei AS key FROM index_changed WHERE imei >= 0) c
            LEFT JOIN next_states n ON n.imei = c.key
        ) WHERE state IS NOT NULL OR stolen OR registered
        ORDER BY key
        """
    ).fetchnumpy()
    changed = np.sort(
        con.execute("SELECT DISTINCT imei FROM index_changed WHERE imei >= 0").fetchnumpy()["imei"]
    ).astype(np.int64)
    keys, codes = previous.keys, previous.codes
    at = np.searchsorted(keys, changed)
    found = at < keys.size
    found[found] = keys[at[found]] == changed[found]
    keep = np.ones(keys.size, dtype=bool)
    keep[at[found]] = False
    keys, codes = keys[keep], codes[keep]
    new_keys = arrays["key"].astype(np.int64)
    where = np.searchsorted(keys, new_keys)
    return (
        np.insert(keys, where, new_keys),
        np.insert(codes, where, arrays["code"].astype(np.uint8)),
    )
