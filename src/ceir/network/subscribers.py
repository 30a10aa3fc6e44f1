"""Operators' subscriber snapshots: which IIN holds which number (the base of citizens' sign-in)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.bulk import insert_columns
from ceir.config import Settings, get_settings
from ceir.errors import FileRejected, InvalidInput
from ceir.importing import (
    STEP_FILE,
    STEP_ROW,
    Importer,
    ImportReport,
    ImportRun,
    RowError,
    Stage,
    file_sha256,
    run_import,
    stage_batches,
    stage_errors,
)
from ceir.network.models import Subscriber

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
    report = ImportReport(filename=path.name, sha256=file_sha256(path))
    run_import(db, SubscribersImporter(path, operator), report, actor=actor)
    return SubscriberReport(
        operator,
        report.filename,
        report.sha256,
        rows_total=report.rows_total,
        rows_loaded=report.rows_accepted,
        errors=report.errors,
        seconds=report.seconds,
    )


class SubscribersImporter(Importer):
    """A snapshot's rules: Kazakh mobile numbers, valid IINs, dates, each number once."""

    kind = "subscribers"
    action = "network.import_subscribers"

    def __init__(self, path: Path, operator: str) -> None:
        super().__init__(path)
        self.operator = operator

    def stage(self, stage: Stage, report: ImportReport) -> None:
        names = [
            d[0].lower()
            for d in stage.execute(
                "SELECT * FROM read_csv(?, header = true, all_varchar = true) LIMIT 0",
                [str(self.path)],
            ).description
        ]
        missing = [c for c in ("msisdn", "iin") if c not in names]
        if missing:
            report.add_error(RowError(1, "header", ",".join(names), f"missing {missing}"))
            report.rows_rejected = 1
            raise FileRejected("subscriber file lacks columns", report)
        since = "since" if "since" in names else "NULL"
        language = "language" if "language" in names else "NULL"
        # Row numbers follow the file only while DuckDB keeps the insertion order.
        stage.execute("SET preserve_insertion_order = true")
        stage.execute(
            f"""
            CREATE TABLE raw AS
            SELECT row_number() OVER () + 1 AS line, trim(msisdn) AS raw_msisdn, trim(iin) AS iin,
                   trim({since}) AS since, lower(trim({language})) AS language
            FROM read_csv(?, header = true, all_varchar = true)
            """,
            [str(self.path)],
        )
        stage.execute("SET preserve_insertion_order = false")
        stage.execute(
            f"""
            CREATE TABLE rows AS
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
                      FROM raw)
            );
            DROP TABLE raw;
            INSERT INTO errors (line, step, field, value, reason, nth)
            SELECT line, {STEP_ROW}, 'msisdn', coalesce(raw_msisdn, ''),
                   'not a Kazakh mobile number', 0
            FROM rows WHERE msisdn IS NULL;
            INSERT INTO errors (line, step, field, value, reason, nth)
            SELECT line, {STEP_ROW}, 'since', '', 'not a date YYYY-MM-DD', 2
            FROM rows WHERE NOT since_ok;
            """
        )
        for batch in stage_batches(
            stage, "SELECT line, coalesce(iin, '') FROM rows WHERE NOT coalesce(iin_ok, false)"
        ):
            lines, iins = batch.column(0).to_pylist(), batch.column(1).to_pylist()
            errors = [
                RowError(line, "iin", iin, _iin_reason(iin))
                for line, iin in zip(lines, iins, strict=True)
            ]
            stage_errors(stage, errors)
        stage.execute("UPDATE errors SET nth = 1 WHERE field = 'iin'")  # after the number's

    def check(self, conn: Connection, stage: Stage, report: ImportReport) -> None:
        stage.execute(
            f"""
            INSERT INTO errors (line, step, field, value, reason)
            SELECT line, {STEP_FILE}, 'msisdn', msisdn, 'the same number is also on line ' || first
            FROM (SELECT line, msisdn,
                         first_value(line) OVER (PARTITION BY msisdn ORDER BY line) AS first
                  FROM rows WHERE msisdn IS NOT NULL)
            WHERE line > first
            """
        )

    def load(self, conn: Connection, stage: Stage, report: ImportReport, run: ImportRun) -> None:
        conn.execute(delete(Subscriber).where(Subscriber.operator == self.operator))
        # A number ported from another operator is theirs no longer.
        conn.exec_driver_sql("DROP TABLE IF EXISTS tmp_msisdns")
        conn.exec_driver_sql("CREATE TEMPORARY TABLE tmp_msisdns (msisdn VARCHAR(15) NOT NULL)")
        for batch in stage_batches(stage, "SELECT msisdn FROM accepted"):
            insert_columns(conn, "tmp_msisdns", {"msisdn": batch.column(0).to_pylist()})
        conn.exec_driver_sql(
            "DELETE FROM subscribers WHERE msisdn IN (SELECT msisdn FROM tmp_msisdns)"
        )
        conn.exec_driver_sql("DROP TABLE tmp_msisdns")
        for batch in stage_batches(
            stage,
            "SELECT msisdn, iin, try_strptime(since, '%Y-%m-%d')::DATE AS since, "
            "CASE WHEN language IN ('ru', 'kk', 'en') THEN language END AS language "
            "FROM accepted",
        ):
            columns = batch.to_pydict()
            insert_columns(
                conn,
                "subscribers",
                {
                    "msisdn": columns["msisdn"],
                    "iin": columns["iin"],
                    "operator": self.operator,
                    "since": columns["since"],
                    "language": columns["language"],
                    "updated_at": run.started,
                },
            )


def _iin_reason(value: str) -> str:
    try:
        identifiers.parse_iin(value)
    except identifiers.IdentifierError as exc:
        return str(exc)
    return "not a valid IIN"
