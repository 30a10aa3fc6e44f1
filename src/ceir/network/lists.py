"""The lists every operator pulls after a run: block, notification and exception; full and delta.

Files are gzip CSV sorted by IMEI (the same inputs give the same bytes), listed with their row
counts and SHA-256 in manifest.json, which is signed with ceir's Ed25519 key (manifest.json.sig).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy.orm import Session

from ceir.bulk import insert_columns
from ceir.config import Settings
from ceir.db import utcnow
from ceir.network import reasons
from ceir.network.models import ClassificationRun, ListFile
from ceir.network.rules import home_imsi_sql
from ceir.network.signing import sign
from ceir.network.store import first, imei_text_sql

# zlib's fastest strategy (levels 1-3): four times the speed of level 6 for about 10% more bytes.
GZIP_LEVEL = 3

# How recently an (IMEI, IMSI) pair must have been seen to be notified or excepted.
PAIR_WINDOW_DAYS = 30

# A notified device is on the grey list: the text names the list, the reason (in words and by its
# code), the day the device was first found not compliant, what to do and by which date (the block
# date), in the words people in Kazakhstan know.
SMS_TEMPLATES = {
    "ru": (
        "Устройство IMEI {imei} в сером списке ({reason}; код {code}, с {first_seen}). "
        "Зарегистрируйте его до {date}, иначе оно будет заблокировано в сетях Казахстана "
        "(чёрный список): ceir.kz"
    ),
    "kk": (
        "IMEI {imei} құрылғысы сұр тізімде ({reason}; коды {code}, {first_seen} бастап). Оны "
        "{date} дейін тіркеңіз, әйтпесе ол Қазақстан желілерінде бұғатталады (қара тізім): "
        "ceir.kz"
    ),
    "en": (
        "Device IMEI {imei} is on the grey list ({reason}; code {code}, since {first_seen}). "
        "Register it before {date} or it will be blocked on Kazakh networks (black list): "
        "ceir.kz"
    ),
}

# list kind -> (columns of the full list, key columns, compared columns, delta change words)
# "appended": columns added later, after every earlier one (in a delta, after change_type), so
# that readers by position keep working; they follow the others and are not compared (they
# derive from `reasons` and from the state the block date comes from).
KINDS: dict[str, dict[str, Any]] = {
    "block": {
        "columns": ["imei", "block_date", "reasons"],
        "key": ["imei"],
        "appended": ["reason_code", "first_seen"],
    },
    "notification": {
        "columns": ["imei", "imsi", "msisdn", "block_date", "reasons", "language", "sms_text"],
        "key": ["imei", "imsi", "msisdn"],
        "appended": ["reason_code", "first_seen"],
    },
    "exception": {
        "columns": ["imei", "imsi", "msisdn", "reason"],
        "key": ["imei", "imsi", "msisdn"],
        "appended": [],
    },
}


def generate(
    db: Session,
    con: duckdb.DuckDBPyConnection,
    run: ClassificationRun,
    settings: Settings,
    seconds: dict[str, float] | None = None,
    base_run_id: int | None = None,
) -> list[str]:
    """Write every operator's lists for this run; returns the paths written.

    Deltas are against the lists of run `base_run_id` (none: against empty lists); the store
    keeps those and this run's, and no others.

    `seconds`, when given, receives the time spent on the current lists (`lists_current`), on
    writing the full files and on the delta files (`lists_full`, `lists_delta`).
    """
    timing = {"lists_current": 0.0, "lists_full": 0.0, "lists_delta": 0.0}
    started = time.perf_counter()
    _current_lists(db, con, run.run_date, settings)
    timing["lists_current"] = time.perf_counter() - started
    folder = settings.lists_dir / str(run.id)
    if folder.exists():
        shutil.rmtree(folder)  # a crashed earlier attempt of this very run
    written: list[str] = []
    for operator in settings.network.operators:
        target = folder / operator
        target.mkdir(parents=True, exist_ok=True)
        entries = []
        for kind, spec in KINDS.items():
            for variant in ("full", "delta"):
                started = time.perf_counter()
                entries.append(_write(con, target, operator, kind, variant, spec, base_run_id))
                timing[f"lists_{variant}"] += time.perf_counter() - started
            _replace_snapshot(con, operator, kind, spec, run.id, base_run_id)
        manifest = {
            "run_id": run.id,
            "run_date": run.run_date.isoformat(),
            "operator": operator,
            "generated_at": utcnow().isoformat(),
            "files": entries,
        }
        manifest_bytes = json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n"
        (target / "manifest.json").write_bytes(manifest_bytes)
        (target / "manifest.json.sig").write_bytes(sign(settings, manifest_bytes))
        entries.append(_entry(target / "manifest.json", "manifest", "manifest", len(entries)))
        entries.append(_entry(target / "manifest.json.sig", "manifest", "signature", 0))
        now = utcnow()
        for entry in entries:
            db.add(
                ListFile(
                    run_id=run.id,
                    operator=operator,
                    name=entry["name"],
                    kind=entry["kind"],
                    variant=entry["variant"],
                    rows=entry["rows"],
                    size=entry["size"],
                    sha256=entry["sha256"],
                    created_at=now,
                )
            )
            written.append(str(target / entry["name"]))
    if seconds is not None:
        seconds.update({name: round(value, 3) for name, value in timing.items()})
    return written


def _current_lists(
    db: Session, con: duckdb.DuckDBPyConnection, run_date: dt.date, settings: Settings
) -> None:
    """The full lists as of this run, for every operator at once, as temp tables now_<kind>."""
    since = run_date - dt.timedelta(days=PAIR_WINDOW_DAYS)
    home = settings.network.home_mcc
    imei_text = imei_text_sql("n")
    operators = pa.table({"operator": pa.array(list(settings.network.operators), pa.string())})
    con.register("operators", operators)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE now_block AS
        SELECT o.operator, {imei_text} AS imei, n.block_date, n.reasons,
               {reasons.primary_sql("n.reasons")} AS reason_code,
               n.first_noncompliant AS first_seen
        FROM next_states n CROSS JOIN operators o LEFT JOIN raw_imeis raw_n ON raw_n.id = n.imei
        WHERE n.state = 'blocked'
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE notified_pairs AS
        SELECT s.operator, {imei_text} AS imei, s.imsi::VARCHAR AS imsi,
               s.msisdn::VARCHAR AS msisdn, n.block_date, n.reasons,
               {reasons.primary_sql("n.reasons")} AS reason_code,
               n.first_noncompliant AS first_seen
        FROM next_states n JOIN sightings s ON s.imei = n.imei AND s.last_seen >= ?
        LEFT JOIN raw_imeis raw_n ON raw_n.id = n.imei
        WHERE n.state = 'notified' AND s.imsi IS NOT NULL
        """,
        [since],
    )
    _attach_languages(db, con, settings)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE now_notification AS
        SELECT p.operator, p.imei, p.imsi, p.msisdn, p.block_date, p.reasons,
               coalesce(l.language, '{settings.default_language}') AS language,
               {_sms_sql()} AS sms_text, p.reason_code, p.first_seen
        FROM notified_pairs p LEFT JOIN languages l ON l.msisdn = p.msisdn
        -- a notice needs a number to go to: rows without one are counted, not sent
        WHERE p.msisdn IS NOT NULL
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE now_exception AS
        SELECT DISTINCT s.operator, {imei_text} AS imei, s.imsi::VARCHAR AS imsi,
               s.msisdn::VARCHAR AS msisdn,
               CASE WHEN n.imei IN (SELECT imei FROM paused) THEN 'appeal' ELSE 'roaming' END
                   AS reason
        FROM next_states n JOIN sightings s ON s.imei = n.imei AND s.last_seen >= ?
        LEFT JOIN raw_imeis raw_n ON raw_n.id = n.imei
        WHERE n.state = 'blocked' AND s.imsi IS NOT NULL AND (
            n.imei IN (SELECT imei FROM paused)
            -- blocked only for being unregistered: a foreign SIM in it still works (roaming)
            OR (n.reasons = 'not_registered' AND NOT {home_imsi_sql("s.imsi", home)})
        )
        """,
        [since],
    )
    con.unregister("operators")


def not_reachable(con: duckdb.DuckDBPyConnection) -> int:
    """Notified (IMEI, IMSI) rows of the current lists that have no MSISDN to send the SMS to."""
    row = first(con.execute("SELECT count(*) FROM notified_pairs WHERE msisdn IS NULL").fetchall())
    return int(row[0]) if row else 0


def _attach_languages(db: Session, con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """The language each notified subscriber reads, from the operators' subscriber data."""
    numbers = (
        con.sql("SELECT DISTINCT msisdn FROM notified_pairs WHERE msisdn IS NOT NULL")
        .to_arrow_table()
        .column("msisdn")
        .to_pylist()
    )
    # Hundreds of thousands of numbers: joined in the database, not asked for in chunks.
    conn = db.connection()
    conn.exec_driver_sql("DROP TABLE IF EXISTS tmp_notified_msisdns")
    conn.exec_driver_sql("CREATE TEMPORARY TABLE tmp_notified_msisdns (msisdn VARCHAR(15))")
    insert_columns(conn, "tmp_notified_msisdns", {"msisdn": numbers})
    found = {
        msisdn: language
        for msisdn, language in conn.exec_driver_sql(
            "SELECT s.msisdn, s.language FROM tmp_notified_msisdns t "
            "JOIN subscribers s ON s.msisdn = t.msisdn WHERE s.language IS NOT NULL"
        )
        if language
    }
    conn.exec_driver_sql("DROP TABLE tmp_notified_msisdns")
    table = pa.table(
        {
            "msisdn": pa.array(list(found), pa.string()),
            "language": pa.array(list(found.values()), pa.string()),
        }
    )
    con.register("languages_arrow", table)
    con.execute("CREATE OR REPLACE TEMP TABLE languages AS SELECT * FROM languages_arrow")
    con.unregister("languages_arrow")


def _sms_sql() -> str:
    """The SMS text in the subscriber's language, naming the reason (words and code), the day
    the device was first found not compliant and the block date."""
    cases = []
    for language, template in SMS_TEMPLATES.items():
        reason_case = (
            "CASE p.reason_code "
            + " ".join(
                f"WHEN '{code.value}' THEN '{word}'"
                for code, word in reasons.SMS_WORDS[language].items()
            )
            + " ELSE p.reasons END"
        )
        text = template.replace("'", "''").format(
            imei="' || p.imei || '",
            reason="' || " + reason_case + " || '",
            code="' || coalesce(p.reason_code, p.reasons) || '",
            first_seen="' || strftime(p.first_seen, '%d.%m.%Y') || '",
            date="' || strftime(p.block_date, '%d.%m.%Y') || '",
        )
        cases.append(f"WHEN '{language}' THEN '{text}'")
    return "CASE coalesce(l.language, 'ru') " + " ".join(cases) + " END"


def _write(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    operator: str,
    kind: str,
    variant: str,
    spec: dict[str, Any],
    base_run_id: int | None,
) -> dict[str, Any]:
    columns: list[str] = spec["columns"]
    key: list[str] = spec["key"]
    name = f"{kind}_{variant}.csv.gz"
    path = target / name
    select_columns = ", ".join([*columns, *spec["appended"]])
    if variant == "full":
        query = (
            f"SELECT {select_columns} FROM now_{kind} WHERE operator = $op "
            f"ORDER BY {', '.join(key)}"
        )
    else:
        query = _delta_sql(kind, columns, key, spec["appended"])
    # COPY answers with the number of rows it wrote: no second pass to count them. It writes
    # plain CSV, compressed here: DuckDB's own gzip ran at about 55 MB/s, a quarter of the whole
    # run's list step, where zlib at a fast level is several times quicker for 10% more bytes.
    plain = path.with_suffix(".tmp")
    try:
        rows = first(
            con.execute(
                f"COPY ({query}) TO '{plain}' (HEADER, DELIMITER ',')",
                {"op": operator, **({} if variant == "full" else {"base": base_run_id})},
            ).fetchall()
        )
        _gzip(plain, path)
    finally:
        plain.unlink(missing_ok=True)
    return _entry(path, kind, variant, int(rows[0]) if rows else 0)


def _gzip(source: Path, target: Path) -> None:
    """`source` gzip-compressed into `target`, with no name or time in the header: the same
    list gives the same bytes, and so the same SHA-256 in the manifest."""
    with (
        source.open("rb") as plain,
        target.open("wb") as raw,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0
        ) as out,
    ):
        shutil.copyfileobj(plain, out, 1 << 20)


def _delta_sql(kind: str, columns: list[str], key: list[str], appended: list[str]) -> str:
    """Changes against the operator's previous list, with a change_type column (and after it
    the appended columns)."""
    compared = [c for c in columns if c not in key]
    join = " AND ".join(f"n.{k} IS NOT DISTINCT FROM o.{k}" for k in key)
    differs = " OR ".join(f"n.{c} IS DISTINCT FROM o.{c}" for c in compared) or "false"
    pick = ", ".join(f"coalesce(n.{c}, o.{c}) AS {c}" for c in columns)
    after = "".join(f", coalesce(n.{c}, o.{c}) AS {c}" for c in appended)
    if kind == "block":
        change = (
            "CASE WHEN o.imei IS NULL THEN 'blocked' "
            "WHEN n.imei IS NULL THEN 'unblocked' ELSE 'changed' END"
        )
    elif kind == "exception":
        change = "CASE WHEN o.imei IS NULL THEN 'added' ELSE 'removed' END"
    else:
        change = (
            "CASE WHEN o.imei IS NULL THEN 'new' "
            "WHEN n.imei IS NOT NULL THEN 'changed' "
            "WHEN o.imei IN (SELECT imei FROM now_block WHERE operator = $op) THEN 'blacklisted' "
            "WHEN o.imei IN (SELECT imei FROM now_notification WHERE operator = $op) "
            "THEN 'no_longer_seen' "
            "ELSE 'resolved' END"
        )
    return (
        f"SELECT {pick}, {change} AS change_type{after} "
        f"FROM (SELECT * FROM now_{kind} WHERE operator = $op) n "
        f"FULL JOIN (SELECT * EXCLUDE (run_id) FROM list_{kind} "
        f"WHERE operator = $op AND run_id = $base) o ON {join} "
        f"WHERE n.{key[0]} IS NULL OR o.{key[0]} IS NULL OR {differs} "
        f"ORDER BY {', '.join(key)}"
    )


def _replace_snapshot(
    con: duckdb.DuckDBPyConnection,
    operator: str,
    kind: str,
    spec: dict[str, Any],
    run_id: int,
    base_run_id: int | None,
) -> None:
    """Keep the base run's lists (a re-run of this day needs them) and this run's."""
    columns = ", ".join([*spec["columns"], *spec["appended"]])
    con.execute(
        f"DELETE FROM list_{kind} WHERE operator = ? AND run_id IS DISTINCT FROM ?",
        [operator, base_run_id],
    )
    con.execute(
        f"INSERT INTO list_{kind} (operator, {columns}, run_id) "
        f"SELECT operator, {columns}, ? FROM now_{kind} WHERE operator = ?",
        [run_id, operator],
    )


def _entry(path: Path, kind: str, variant: str, rows: int) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {
        "name": path.name,
        "kind": kind,
        "variant": variant,
        "rows": rows,
        "size": path.stat().st_size,
        "sha256": digest.hexdigest(),
    }
