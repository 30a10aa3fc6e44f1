"""The DuckDB file that holds what the networks saw, in bulk, beside the relational database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from ceir.config import Settings

SCHEMA = """
-- Reported values that are not IMEIs get negative ids here, so every IMEI column is a BIGINT.
CREATE TABLE IF NOT EXISTS raw_imeis (id BIGINT PRIMARY KEY, raw VARCHAR UNIQUE);

-- Imported dumps, aggregated to one row per (IMEI, IMSI, MSISDN), waiting to be classified.
CREATE TABLE IF NOT EXISTS staged (
    operator VARCHAR, sha256 VARCHAR, imei BIGINT, imsi BIGINT, msisdn BIGINT,
    first_seen DATE, last_seen DATE
);

-- What each network saw, compacted: the first and last day of every (IMEI, IMSI, MSISDN).
CREATE TABLE IF NOT EXISTS sightings (
    operator VARCHAR, imei BIGINT, imsi BIGINT, msisdn BIGINT, first_seen DATE, last_seen DATE
);

-- Distinct IMEIs per operator and day: a day far below the usual volume is a truncated file.
CREATE TABLE IF NOT EXISTS daily_volume (
    operator VARCHAR, day DATE, sha256 VARCHAR, distinct_imeis BIGINT
);

-- Mirror of the registry's IMEI keys in force, synchronised before each classification.
CREATE TABLE IF NOT EXISTS registered (imei BIGINT);
CREATE TABLE IF NOT EXISTS registry_sync (last_registration_id BIGINT, synced_at TIMESTAMPTZ);

-- The lists given to each operator by the last runs (by run id); a run's delta is computed
-- against those of the last run of an earlier day.
CREATE TABLE IF NOT EXISTS list_block (
    operator VARCHAR, imei VARCHAR, block_date DATE, reasons VARCHAR
);
CREATE TABLE IF NOT EXISTS list_notification (
    operator VARCHAR, imei VARCHAR, imsi VARCHAR, msisdn VARCHAR, block_date DATE,
    reasons VARCHAR, language VARCHAR, sms_text VARCHAR
);
CREATE TABLE IF NOT EXISTS list_exception (
    operator VARCHAR, imei VARCHAR, imsi VARCHAR, msisdn VARCHAR, reason VARCHAR
);
-- Stores made before lists were kept per run: their rows belong to the last run (see classify).
ALTER TABLE list_block ADD COLUMN IF NOT EXISTS run_id INTEGER;
ALTER TABLE list_notification ADD COLUMN IF NOT EXISTS run_id INTEGER;
ALTER TABLE list_exception ADD COLUMN IF NOT EXISTS run_id INTEGER;
-- The reason's code and its evidence, appended to the block and notification lists.
ALTER TABLE list_block ADD COLUMN IF NOT EXISTS reason_code VARCHAR;
ALTER TABLE list_block ADD COLUMN IF NOT EXISTS first_seen DATE;
ALTER TABLE list_notification ADD COLUMN IF NOT EXISTS reason_code VARCHAR;
ALTER TABLE list_notification ADD COLUMN IF NOT EXISTS first_seen DATE;

-- Classification runs whose DuckDB half committed; one whose relational half did not is undone.
CREATE TABLE IF NOT EXISTS store_runs (run_id INTEGER, run_date DATE);

-- The run the sightings were last evaluated by, with a digest of its rules, and its TACs: the
-- next run evaluates only devices whose inputs changed when these still hold (see classify).
CREATE TABLE IF NOT EXISTS classify_basis (run_id INTEGER, fingerprint VARCHAR);
CREATE TABLE IF NOT EXISTS classify_tacs (tac BIGINT);

-- The states the last run left (device_states in the relational database, by IMEI key) and that
-- run's id with their number: the next run reads them here instead of from the database.
CREATE TABLE IF NOT EXISTS run_states (
    imei BIGINT, state VARCHAR, reasons VARCHAR, first_noncompliant DATE, block_date DATE,
    blocked_on DATE
);
CREATE TABLE IF NOT EXISTS run_states_basis (run_id INTEGER, states BIGINT);

-- At least this many distinct devices per operator in the sightings, which then had `pairs`
-- rows: the safety brake counts an operator's devices exactly only when this is not enough.
CREATE TABLE IF NOT EXISTS brake_floor (operator VARCHAR, devices BIGINT, pairs BIGINT);

-- The real-time index snapshot the last run wrote: the next run patches it (see classify).
CREATE TABLE IF NOT EXISTS index_basis (run_id INTEGER, snapshot VARCHAR);
"""


@contextmanager
def open_store(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """One writer at a time: DuckDB locks the file for the process that opens it."""
    settings.network_store.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.network_store))
    try:
        con.execute(f"SET memory_limit = '{settings.network.duckdb_memory_limit}'")
        con.execute("SET preserve_insertion_order = false")
        con.execute(SCHEMA)
        yield con
    finally:
        con.close()


def first(rows: list[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    """The one row of a query that gives at most one (fetchall, so no result is left open)."""
    return rows[0] if rows else None


def imei_text_sql(alias: str) -> str:
    """SQL for the list form of an IMEI column: 14 digits, or the raw value (join `raw_<alias>`)."""
    return (
        f"CASE WHEN {alias}.imei >= 0 THEN lpad({alias}.imei::VARCHAR, 14, '0') "
        f"ELSE raw_{alias}.raw END"
    )
