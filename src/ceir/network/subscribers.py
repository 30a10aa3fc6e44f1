"""Operators' subscriber snapshots: which IIN holds which number (the base of citizens' sign-in)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.audit import service as audit
from ceir.bulk import insert_columns
from ceir.config import Settings, get_settings
from ceir.db import utcnow
from ceir.errors import FileRejected, InvalidInput
from ceir.importing import RowError, file_sha256
from ceir.network.models import Subscriber
from ceir.network.store import first

# The IIN check digit in SQL: weights 1..11, and when that gives 10, weights 3..11,1,2.
_WEIGHTED = " + ".join(f"substr(iin, {i}, 1)::INT * {i}" for i in range(1, 12))
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_WEIGHTED_AGAIN = " + ".join(
    f"substr(iin, {i}, 1)::INT * {w}" for i, w in enumerate(_SECOND_WEIGHTS, 1)
)


@dataclass
class SubscriberReport:
    operator: str
    filename: str
    sha256: str
    rows_total: int = 0
    rows_loaded: int = 0
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0


def find_iin_of(db: Session, msisdn: str) -> str | None:
    """The IIN the operators say holds this number (E.164 digits), if any."""
    return db.scalar(select(Subscriber.iin).where(Subscriber.msisdn == msisdn))


def import_subscribers(
    db: Session, path: Path, *, operator: str, actor: str, settings: Settings | None = None
) -> SubscriberReport:
    """Replace an operator's snapshot of msisdn -> IIN with the file `msisdn,iin,since[,language]`.

    Any bad row refuses the whole file (the snapshot is all or nothing).
    """
    settings = settings or get_settings()
    if operator not in settings.network.operators:
        raise InvalidInput(f"unknown operator {operator!r}")
    started = time.perf_counter()
    report = SubscriberReport(operator, path.name, file_sha256(path))
    con = duckdb.connect()
    try:
        names = [
            d[0].lower()
            for d in con.execute(
                "SELECT * FROM read_csv(?, header = true, all_varchar = true) LIMIT 0", [str(path)]
            ).description
        ]
        missing = [c for c in ("msisdn", "iin") if c not in names]
        if missing:
            report.errors.append(RowError(1, "header", ",".join(names), f"missing {missing}"))
            raise FileRejected("subscriber file lacks columns", report)
        since = "since" if "since" in names else "NULL"
        language = "language" if "language" in names else "NULL"
        con.execute(
            f"""
            CREATE TEMP TABLE rows AS
            SELECT row_number() OVER () + 1 AS line, trim(msisdn) AS raw_msisdn, trim(iin) AS iin,
                   trim({since}) AS since, lower(trim({language})) AS language
            FROM read_csv(?, header = true, all_varchar = true)
            """,
            [str(path)],
        )
        con.execute(
            f"""
            CREATE TEMP TABLE checked AS
            SELECT *,
                CASE WHEN regexp_full_match(digits, '77[0-9]{{9}}') THEN digits END AS msisdn,
                regexp_full_match(iin, '[0-9]{{12}}') AND (
                    CASE WHEN ({_WEIGHTED}) % 11 < 10 THEN ({_WEIGHTED}) % 11
                         ELSE ({_WEIGHTED_AGAIN}) % 11 END
                ) = substr(iin, 12, 1)::INT AS iin_ok,
                since IS NULL OR since = '' OR try_strptime(since, '%Y-%m-%d') IS NOT NULL
                    AS since_ok
            FROM (
                SELECT *, CASE
                    WHEN length(d) = 11 AND starts_with(d, '8') THEN '7' || substr(d, 2)
                    WHEN length(d) = 10 AND starts_with(d, '7') THEN '7' || d
                    ELSE d END AS digits
                FROM (SELECT *, regexp_replace(coalesce(raw_msisdn, ''), '[ +()-]', '', 'g') AS d
                      FROM rows)
            )
            """
        )
        bad = con.execute(
            "SELECT line, raw_msisdn, iin, msisdn IS NULL, NOT coalesce(iin_ok, false), "
            "NOT since_ok FROM checked WHERE msisdn IS NULL OR NOT coalesce(iin_ok, false) "
            "OR NOT since_ok ORDER BY line LIMIT 1000"
        ).fetchall()
        total = first(
            con.execute("SELECT count(*), count(DISTINCT msisdn) FROM checked").fetchall()
        )
        assert total is not None
        report.rows_total = int(total[0])
        for line, raw_msisdn, iin, bad_msisdn, bad_iin, bad_since in bad:
            if bad_msisdn:
                report.errors.append(
                    RowError(line, "msisdn", raw_msisdn or "", "not a Kazakh mobile number")
                )
            if bad_iin:
                report.errors.append(RowError(line, "iin", iin or "", _iin_reason(iin or "")))
            if bad_since:
                report.errors.append(RowError(line, "since", "", "not a date YYYY-MM-DD"))
        if not bad and total[1] != total[0]:
            report.errors.append(RowError(1, "msisdn", "", "a number appears more than once"))
        if report.errors:
            report.seconds = time.perf_counter() - started
            raise FileRejected(f"{len(report.errors)} bad rows; nothing was loaded", report)
        table = con.sql(
            "SELECT msisdn, iin, try_strptime(since, '%Y-%m-%d')::DATE AS since, "
            "CASE WHEN language IN ('ru', 'kk', 'en') THEN language END AS language FROM checked"
        ).to_arrow_table()
    finally:
        con.close()

    conn = db.connection()
    db.execute(delete(Subscriber).where(Subscriber.operator == operator))
    columns = table.to_pydict()
    # A number ported from another operator is theirs no longer.
    conn.exec_driver_sql("DROP TABLE IF EXISTS tmp_msisdns")
    conn.exec_driver_sql("CREATE TEMPORARY TABLE tmp_msisdns (msisdn VARCHAR(15) NOT NULL)")
    insert_columns(conn, "tmp_msisdns", {"msisdn": columns["msisdn"]})
    conn.exec_driver_sql("DELETE FROM subscribers WHERE msisdn IN (SELECT msisdn FROM tmp_msisdns)")
    conn.exec_driver_sql("DROP TABLE tmp_msisdns")
    report.rows_loaded = insert_columns(
        conn,
        "subscribers",
        {
            "msisdn": columns["msisdn"],
            "iin": columns["iin"],
            "operator": operator,
            "since": [
                d if d is None else dt.date.fromisoformat(str(d)[:10]) for d in columns["since"]
            ],
            "language": columns["language"],
            "updated_at": utcnow(),
        },
    )
    audit.record(
        db,
        actor=actor,
        action="network.import_subscribers",
        object_type="operator",
        object_id=operator,
        details={"file": path.name, "rows": report.rows_loaded},
    )
    report.seconds = time.perf_counter() - started
    return report


def _iin_reason(value: str) -> str:
    try:
        identifiers.parse_iin(value)
    except identifiers.IdentifierError as exc:
        return str(exc)
    return "not a valid IIN"
