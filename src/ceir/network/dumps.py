"""Importing operators' daily dumps: validate the whole file, then stage it compactly in DuckDB."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from ceir import faults
from ceir.config import Settings, get_settings
from ceir.db import utcnow
from ceir.errors import FileRejected, InvalidInput
from ceir.importing import (
    BaseImporter,
    ImportRun,
    Recorded,
    Stage,
    Unreadable,
    file_sha256,
    readable_csv,
    run_import,
)
from ceir.network.models import OperatorImport
from ceir.network.store import first, open_store

# `<operator>_<YYYYMMDD>_<YYYYMMDD>`, or DIRBS's `<operator>_<label>_<YYYYMMDD>_<YYYYMMDD>`.
FILE_NAME = re.compile(
    r"^(?P<operator>[a-z0-9]+)_(?:[a-z0-9_-]+_)?(?P<start>\d{8})_(?P<end>\d{8})"
    r"\.(?:csv|csv\.gz|zip)$",
    re.I,
)
REQUIRED = ("date", "imei", "imsi", "msisdn")
# What a network can report at all (DIRBS's pre-validation): anything else is a malformed row.
IMEI_TEXT = "[0-9A-Fa-f*#]{1,16}"
# Only IMEIs of 14-16 of those characters may become devices: shorter values are counted as
# invalid IMEIs but never listed, and nothing a spreadsheet would run (=, +, -, @) ever passes.
MIN_LISTED_IMEI = 14
DIGITS = "[0-9]{1,15}"
# Radio access type codes (DIRBS's): 001-007 (3GPP RAT types), 101-105 (2G, 3G, 4G, 5G, NB-IoT).
RAT_CODES = r"(00[1-7]|10[1-5])(\|(00[1-7]|10[1-5]))*"
HEAD_BYTES = 64 * 1024  # rows checked for their width in Python (DuckDB forgives a trailing comma)
SAMPLES = 20


@dataclass
class DumpReport:
    operator: str
    filename: str
    sha256: str
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    status: str = "refused"  # loaded | refused | already_imported
    rows_total: int = 0
    distinct_imeis: int = 0
    checks: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    # Distinct IMEIs of each day the file holds: checked against the usual volume, then kept.
    daily_imeis: dict[dt.date, int] = field(default_factory=dict)
    rows_accepted: int = 0  # rows that parse: the others are counted, never staged

    def as_dict(self) -> dict[str, Any]:
        return {
            "operator": self.operator,
            "filename": self.filename,
            "sha256": self.sha256,
            "period_start": self.period_start.isoformat() if self.period_start else None,
            "period_end": self.period_end.isoformat() if self.period_end else None,
            "status": self.status,
            "rows_total": self.rows_total,
            "distinct_imeis": self.distinct_imeis,
            "checks": self.checks,
            "reasons": self.reasons,
            "samples": self.samples,
            "seconds": round(self.seconds, 3),
        }


def parse_period(name: str, operator: str) -> tuple[dt.date, dt.date]:
    """The period a dump covers, from its name `<operator>_<YYYYMMDD>_<YYYYMMDD>.csv[.gz]|.zip`."""
    match = FILE_NAME.match(name)
    if not match:
        raise InvalidInput(
            f"file name {name!r} is not <operator>[_<label>]_<YYYYMMDD>_<YYYYMMDD>.csv, "
            ".csv.gz or .zip"
        )
    if match["operator"].lower() != operator:
        raise InvalidInput(f"file {name!r} is named for {match['operator']}, not {operator}")
    try:
        start = dt.datetime.strptime(match["start"], "%Y%m%d").date()
        end = dt.datetime.strptime(match["end"], "%Y%m%d").date()
    except ValueError as exc:
        raise InvalidInput(f"file name {name!r} holds an impossible date") from exc
    if end < start:
        raise InvalidInput(f"file name {name!r}: the period ends before it starts")
    return start, end


def _header(path: Path) -> tuple[list[str], list[str]]:
    """The header's names, and why the first rows do not fit it (a width that differs)."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    if b"\x00" in head:
        raise Unreadable("the file is binary or UTF-16, not UTF-8 CSV text")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if len(head) < HEAD_BYTES or exc.start < len(head) - 4:  # not a character cut in two
            raise Unreadable(f"the file is not UTF-8 text (byte {exc.start + 1})") from exc
        text = head[: exc.start].decode("utf-8-sig")
    lines = text.splitlines()
    if len(head) == HEAD_BYTES:
        lines = lines[:-1]  # the last line may be cut
    rows = list(csv.reader(lines))
    header = [name.strip().lower() for name in rows[0]] if rows else []
    problems = [
        f"line {number} has {len(row)} fields, the header names {len(header)}"
        for number, row in enumerate(rows[1:], start=2)
        if row and len(row) != len(header)
    ]
    return header, problems[:SAMPLES]


def import_dump(
    db: Session,
    path: Path,
    *,
    operator: str,
    actor: str,
    settings: Settings | None = None,
    today: dt.date | None = None,
) -> DumpReport:
    """Validate an operator's dump as a whole and stage it for the next classification.

    Idempotent: a file already loaded for the operator (same SHA-256) changes nothing. A refused
    file is recorded with its reasons (in its own transaction) and raises FileRejected.
    """
    settings = settings or get_settings()
    if operator not in settings.network.operators:
        raise InvalidInput(
            f"unknown operator {operator!r}; known: {', '.join(settings.network.operators)}"
        )
    report = DumpReport(operator, path.name, file_sha256(path))
    report.period_start, report.period_end = parse_period(path.name, operator)
    return run_import(
        db, DumpImporter(path, settings, today or utcnow().date()), report, actor=actor
    )


class DumpImporter(BaseImporter[DumpReport]):
    """A dump's rules: judged as a whole by shares of bad rows and the usual volume, staged in
    the network store (network/store.py) compacted to (IMEI, IMSI, MSISDN) and days."""

    kind = "dump"
    action = "network.import_dump"
    refusal_action = "network.refuse_dump"

    def __init__(self, path: Path, settings: Settings, today: dt.date) -> None:
        super().__init__(path)
        self.settings = settings
        self.today = today

    def loaded_before(self, db: Session, report: DumpReport) -> bool:
        already = db.scalar(
            select(OperatorImport.id).where(
                OperatorImport.operator == report.operator,
                OperatorImport.sha256 == report.sha256,
                OperatorImport.status == "loaded",
            )
        )
        if already:
            report.status = "already_imported"
        return already is not None

    @contextmanager
    def open_stage(self) -> Iterator[Stage]:
        """The network store itself: the rows wait in a temporary table, then stage there."""
        with open_store(self.settings) as con:
            con.execute(f"SET memory_limit = '{self.settings.network.duckdb_import_memory_limit}'")
            yield con

    def stage(self, stage: Stage, report: DumpReport) -> None:
        assert self.path is not None
        try:
            with readable_csv(self.path, self.settings.network.max_inflated_bytes) as csv_path:
                _read(stage, report, csv_path)
        except Unreadable as exc:
            report.reasons.append(str(exc))

    def check(self, conn: Connection, stage: Stage, report: DumpReport) -> None:
        if not report.reasons:  # the rows were read
            _validate(stage, report, self.settings, self.today)

    def settle(self, stage: Stage, report: DumpReport, *, accept_good: bool) -> None:
        if report.reasons:
            raise FileRejected(f"{report.filename} refused: {'; '.join(report.reasons)}", report)
        report.rows_accepted = report.rows_total - report.checks["malformed_rows"]["count"]

    def record(
        self,
        db: Session,
        report: DumpReport,
        *,
        actor: str,
        started: dt.datetime,
        refused: bool = False,
    ) -> Recorded:
        assert report.period_start and report.period_end
        if not refused:
            report.status = "loaded"
        db.add(
            OperatorImport(
                operator=report.operator,
                filename=report.filename,
                sha256=report.sha256,
                period_start=report.period_start,
                period_end=report.period_end,
                status=report.status,
                rows_total=report.rows_total,
                distinct_imeis=report.distinct_imeis,
                checks=report.checks,
                reasons=report.reasons,
                actor=actor,
                imported_at=utcnow(),
            )
        )
        details: dict[str, object] = {"file": report.filename}
        details.update({"reasons": report.reasons} if refused else {"rows": report.rows_total})
        return Recorded("operator_import", f"{report.operator}:{report.sha256[:16]}", details)

    def load(self, conn: Connection, stage: Stage, report: DumpReport, run: ImportRun) -> None:
        _stage(stage, report)
        # Staged rows without their import row are never merged, and a new import replaces them.
        faults.point("network_import.after_store_commit")


def _read(con: Stage, report: DumpReport, csv_path: Path) -> None:
    """The rows into `dump_rows`, or the reasons the file is not the CSV a dump must be."""
    header, misfits = _header(csv_path)
    missing = [c for c in REQUIRED if c not in header]
    extra = [c or "(a column with no name)" for c in header if c not in (*REQUIRED, "rat")]
    if missing or extra:
        report.reasons.append(
            "header must be date,imei,imsi,msisdn[,rat]"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unexpected {', '.join(extra)}" if extra else "")
        )
    elif misfits:
        # A trailing comma or an extra column: the rows are not what the header says.
        report.reasons.append("rows do not match the header: " + "; ".join(misfits[:3]))
    elif unreadable := _load_rows(con, csv_path, header, report.filename):
        report.reasons.append(unreadable)


def _load_rows(con: Stage, path: Path, header: list[str], name: str) -> str | None:
    """Every row as text in `dump_rows` (empty for a missing value); or why the file
    `name` (the one the operator sent, whose CSV `path` may be inflated from it) cannot be read
    as CSV at all."""
    columns = {name: "VARCHAR" for name in header}
    rat = "coalesce(rat, '')" if "rat" in header else "''"
    con.execute("DROP TABLE IF EXISTS dump_rows")
    try:
        # Values are kept as sent: a space around an IMEI makes a malformed row (as in DIRBS),
        # never an "invalid IMEI" device listed under a valid-looking number.
        con.execute(
            "CREATE TEMP TABLE dump_rows AS SELECT coalesce(date, '') AS date, "
            "coalesce(imei, '') AS imei, coalesce(imsi, '') AS imsi, "
            f"coalesce(msisdn, '') AS msisdn, {rat} AS rat FROM read_csv(?, "
            "header = true, columns = ?, store_rejects = true, quote = '\"')",
            [str(path), columns],
        )
    except duckdb.Error as exc:
        # Mixed line endings, a binary file renamed .csv...: refused with DuckDB's first words.
        first_line = str(exc).splitlines()[0].replace(str(path), name)
        return f"the file cannot be read as CSV ({first_line})"
    return None


def _malformed_sql() -> str:
    """SQL true for a row with a field that does not parse at all."""
    return (
        f"((imei <> '' AND NOT regexp_full_match(imei, '{IMEI_TEXT}'))"
        f" OR (imsi <> '' AND NOT regexp_full_match(imsi, '{DIGITS}'))"
        f" OR (msisdn <> '' AND NOT regexp_full_match(msisdn, '{DIGITS}'))"
        f" OR (rat <> '' AND NOT regexp_full_match(rat, '{RAT_CODES}')))"
    )


def _validate(con: Stage, report: DumpReport, settings: Settings, today: dt.date) -> None:
    rules = settings.network
    operator = report.operator
    home_prefixes = rules.operators[operator]
    assert report.period_start and report.period_end
    end = min(report.period_end, today)
    own_network = " OR ".join("starts_with(imsi, ?)" for _ in home_prefixes)
    home_msisdn = " OR ".join("starts_with(msisdn, ?)" for _ in rules.home_msisdn_prefixes)
    row = first(
        con.execute(
            f"""
        WITH flagged AS (
            -- Each test once per row; most rows are 14-16 digit IMEIs and 14-15 digit IMSIs,
            -- and the slower tests run only on the others.
            SELECT imei, imsi, msisdn, date, digits,
                   imei <> '' AND NOT digits AND NOT regexp_matches(imei, '^[0-9]{{14}}')
                       AS bad_imei,
                   imsi <> '' AND NOT regexp_full_match(imsi, '[0-9]{{14,15}}') AS bad_imsi,
                   (imei <> '' AND NOT digits AND NOT regexp_full_match(imei, '{IMEI_TEXT}'))
                   OR (imsi <> '' AND NOT regexp_full_match(imsi, '{DIGITS}'))
                   OR (msisdn <> '' AND NOT regexp_full_match(msisdn, '{DIGITS}'))
                   OR (rat <> '' AND NOT regexp_full_match(rat, '{RAT_CODES}')) AS malformed
            FROM (SELECT *, regexp_full_match(imei, '[0-9]{{14,16}}') AS digits FROM dump_rows)
        )
        SELECT
            count(*),
            count(*) FILTER (WHERE imei = ''),
            count(*) FILTER (WHERE imsi = ''),
            count(*) FILTER (WHERE msisdn = ''),
            count(*) FILTER (WHERE imei = '' OR imsi = '' OR msisdn = ''),
            count(*) FILTER (WHERE NOT regexp_full_match(date, '[0-9]{{8}}')
                             OR try_strptime(date, '%Y%m%d') IS NULL
                             OR try_strptime(date, '%Y%m%d')::DATE NOT BETWEEN ? AND ?),
            count(*) FILTER (WHERE bad_imei),
            count(*) FILTER (WHERE starts_with(imei, '0')),
            count(*) FILTER (WHERE starts_with(imei, '1')
                             OR (NOT digits AND regexp_full_match(imei, '[0-9]{{13}}'))),
            count(*) FILTER (WHERE bad_imsi),
            count(*) FILTER (WHERE bad_imei OR bad_imsi),
            count(*) FILTER (WHERE malformed),
            count(*) FILTER (WHERE (imsi <> '' AND NOT starts_with(imsi, ?))
                             OR (msisdn <> '' AND NOT ({home_msisdn or "false"}))),
            count(*) FILTER (WHERE starts_with(imsi, ?) AND NOT ({own_network})),
            count(DISTINCT nullif(imei, ''))
        FROM flagged
        """,
            [
                report.period_start,
                end,
                rules.home_mcc,
                *rules.home_msisdn_prefixes,
                rules.home_mcc,
                *home_prefixes,
            ],
        ).fetchall()
    )
    assert row is not None
    (
        total,
        null_imei,
        null_imsi,
        null_msisdn,
        null_any,
        bad_date,
        unclean_imei,
        zero_led,
        zero_lost,
        unclean_imsi,
        unclean_any,
        malformed_fields,
        foreign,
        other_operator,
        distinct,
    ) = row
    rejected = first(con.execute("SELECT count(*) FROM reject_errors").fetchall())
    rejected_rows = int(rejected[0]) if rejected else 0
    report.rows_total = int(total) + rejected_rows
    report.distinct_imeis = int(distinct)
    rows = max(report.rows_total, 1)

    def share(name: str, count: int, limit: float) -> None:
        value = count / rows
        report.checks[name] = {"count": int(count), "share": round(value, 6), "limit": limit}
        if value > limit:
            report.reasons.append(f"{name}: {value:.2%} of rows, more than the {limit:.0%} allowed")

    share("null_imei", null_imei, rules.max_share_null_field)
    share("null_imsi", null_imsi, rules.max_share_null_field)
    share("null_msisdn", null_msisdn, rules.max_share_null_field)
    share("null_any", null_any, rules.max_share_null_any)
    share("invalid_imei", unclean_imei, rules.max_share_invalid_imei)
    share("invalid_imsi", unclean_imsi, rules.max_share_invalid_imsi)
    share("invalid_imei_or_imsi", unclean_any, rules.max_share_unclean_any)
    share("foreign_imsi_or_msisdn", foreign, rules.max_share_foreign)
    share("other_operator_imsi", other_operator, rules.max_share_other_operator)
    share("leading_zeros_lost", zero_lost, rules.max_share_short_imei)
    share("malformed_rows", malformed_fields + rejected_rows, rules.max_share_malformed_rows)
    report.checks["leading_zeros_lost"]["led_by_zero"] = int(zero_led)
    if zero_lost > zero_led and "leading_zeros_lost" not in " ".join(report.reasons):
        # DIRBS's own test: real traffic has IMEIs led by 0 (TACs 01...) and none led by 1.
        report.reasons.append(
            f"leading_zeros_lost: {zero_lost} IMEIs start as if a leading 0 was stripped, "
            f"more than the {zero_led} that start with 0"
        )
    report.checks["dates_outside_period"] = {"count": int(bad_date)}
    if total == 0:
        report.reasons.append("the file has no rows")
    if bad_date:
        report.reasons.append(
            f"{bad_date} rows have a date that is not YYYYMMDD within "
            f"{report.period_start:%Y%m%d}-{end:%Y%m%d} (and not in the future)"
        )
    if not bad_date:
        report.daily_imeis = _daily_imeis(con, report)
        _check_volume(con, report, operator, settings, end)
    # Accepted files name their bad rows too (count and lines), not only refused ones.
    if report.reasons or rejected_rows or malformed_fields or null_imei or unclean_any:
        report.samples = _samples(con, report.period_start, end)


def _daily_imeis(con: Stage, report: DumpReport) -> dict[dt.date, int]:
    """Distinct IMEIs per day; a one-day file's are those validation has just counted."""
    assert report.period_start
    if report.period_start == report.period_end:
        return {report.period_start: report.distinct_imeis} if report.distinct_imeis else {}
    return {
        day: int(count)
        for day, count in con.execute(
            "SELECT strptime(date, '%Y%m%d')::DATE AS day, count(DISTINCT imei) FROM dump_rows "
            "WHERE imei <> '' GROUP BY day ORDER BY day"
        ).fetchall()
    }


def _check_volume(
    con: Stage,
    report: DumpReport,
    operator: str,
    settings: Settings,
    end: dt.date,
) -> None:
    """A day with far fewer distinct IMEIs than this operator's recent average is truncated."""
    assert report.period_start
    # The last 30 days with data, whenever they were (as DIRBS does): a previous month sent
    # again is measured against today's volume, not against the silence before it.
    usual = first(
        con.execute(
            "SELECT avg(n), count(*) FROM (SELECT day, sum(distinct_imeis) AS n FROM daily_volume "
            "WHERE operator = ? AND sha256 <> ? GROUP BY day HAVING sum(distinct_imeis) > 0 "
            "ORDER BY day DESC LIMIT 30)",
            [operator, report.sha256],
        ).fetchall()
    )
    if not (usual and usual[1] and usual[0]):
        return  # no history yet: nothing to compare with
    share = settings.network.min_share_of_usual_volume
    floor = share * float(usual[0])
    # Each day on its own (up to today): a file cut short usually loses the end of its last day.
    counts = {
        day: report.daily_imeis.get(day, 0)
        for day in (
            report.period_start + dt.timedelta(days=n)
            for n in range((end - report.period_start).days + 1)
        )
    }
    report.checks["volume"] = {
        "distinct_imeis_per_day": {day.isoformat(): n for day, n in counts.items()},
        "usual": float(usual[0]),
        "floor": floor,
    }
    for day, count in counts.items():
        if count < floor:
            report.reasons.append(
                f"only {count} distinct IMEIs on {day:%Y%m%d}, below {floor:.0f} "
                f"({share:.0%} of the last 30 days' average): is the file truncated?"
            )


def _samples(con: Stage, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """A few offending rows with their line numbers, so the operator can find and fix them."""
    found: list[dict[str, Any]] = [
        {"line": int(line), "field": "row", "reason": str(message)}
        for line, message in con.execute(
            f"SELECT line, error_message FROM reject_errors ORDER BY line LIMIT {SAMPLES}"
        ).fetchall()
    ]
    # The first rule a row breaks, in words: the operator fixes the file from these lines.
    rows = con.execute(
        f"""
        SELECT line, date, imei, imsi, msisdn, CASE
            WHEN imei = '' THEN 'no IMEI'
            WHEN NOT regexp_full_match(imei, '{IMEI_TEXT}')
                THEN 'IMEI ' || '''' || imei || '''' || ' is not 14-16 digits or hex characters'
            WHEN NOT regexp_matches(imei, '^[0-9]{{14}}')
                THEN 'IMEI ' || '''' || imei || '''' || ' does not start with 14 digits'
            WHEN imsi <> '' AND NOT regexp_full_match(imsi, '[0-9]{{14,15}}')
                THEN 'IMSI ' || '''' || imsi || '''' || ' is not 14-15 digits'
            WHEN msisdn <> '' AND NOT regexp_full_match(msisdn, '{DIGITS}')
                THEN 'MSISDN ' || '''' || msisdn || '''' || ' is not up to 15 digits'
            WHEN rat <> '' AND NOT regexp_full_match(rat, '{RAT_CODES}')
                THEN 'RAT ' || '''' || rat || '''' || ' is not a list of known codes'
            ELSE 'date ' || '''' || date || '''' || ' is not YYYYMMDD within the file''s period'
        END || ' (IMEI ' || imei || ')' AS reason
        FROM (
            SELECT row_number() OVER () + 1 AS line, * FROM dump_rows
        ) WHERE imei = '' OR NOT regexp_matches(imei, '^[0-9]{{14}}')
            OR try_strptime(date, '%Y%m%d') IS NULL
            OR try_strptime(date, '%Y%m%d')::DATE NOT BETWEEN ? AND ?
            OR (imsi <> '' AND NOT regexp_full_match(imsi, '[0-9]{{14,15}}'))
            OR {_malformed_sql()}
        LIMIT {SAMPLES}
        """,
        [start, end],
    ).fetchall()
    for line, date, imei, imsi, msisdn, reason in rows:
        found.append(
            {
                "line": int(line),
                "date": date,
                "imei": imei,
                "imsi": imsi,
                "msisdn": msisdn,
                "reason": reason,
            }
        )
    return found


def _stage(con: Stage, report: DumpReport) -> None:
    """Aggregate rows to (IMEI, IMSI, MSISDN) with first and last day; a re-run replaces them.

    Rows that do not parse, and IMEIs too short to be a device, stop here: counted in the
    report, never listed. (A row whose IMEI is not IMEI_TEXT is malformed, so a length test
    suffices once malformed rows are out.)
    """
    keep = f"length(imei) >= {MIN_LISTED_IMEI}"
    if report.checks.get("malformed_rows", {}).get("count"):
        keep += f" AND NOT {_malformed_sql()}"
    operator = report.operator
    con.execute("BEGIN")
    try:
        # Reported values that are not IMEIs keep their text under a negative id.
        con.execute(
            """
            INSERT INTO raw_imeis
            SELECT -(coalesce((SELECT max(-id) FROM raw_imeis), 0) + row_number() OVER ()), raw
            FROM (SELECT DISTINCT upper(imei) AS raw FROM dump_rows
                  WHERE $keep AND NOT regexp_matches(imei, '^[0-9]{14}')) fresh
            WHERE raw NOT IN (SELECT raw FROM raw_imeis)
            """.replace("$keep", keep)
        )
        con.execute(
            "DELETE FROM staged WHERE operator = ? AND sha256 = ?", [operator, report.sha256]
        )
        con.execute(
            "DELETE FROM daily_volume WHERE operator = ? AND sha256 = ?", [operator, report.sha256]
        )
        con.execute(
            """
            INSERT INTO staged
            SELECT $operator, $sha256, key, try_cast(nullif(imsi, '') AS BIGINT),
                   try_cast(CASE WHEN length(msisdn) = 11 AND starts_with(msisdn, '8')
                                 THEN '7' || substr(msisdn, 2) ELSE nullif(msisdn, '') END
                            AS BIGINT),
                   min(day), max(day)
            FROM (
                SELECT d.imsi, d.msisdn, strptime(d.date, '%Y%m%d')::DATE AS day,
                       CASE WHEN regexp_matches(d.imei, '^[0-9]{14}')
                            THEN substr(d.imei, 1, 14)::BIGINT ELSE r.id END AS key
                FROM (SELECT * FROM dump_rows WHERE $keep) d
                LEFT JOIN raw_imeis r ON r.raw = upper(d.imei)
            )
            GROUP BY ALL
            """.replace("$keep", keep),
            {"operator": operator, "sha256": report.sha256},
        )
        if report.daily_imeis:
            con.executemany(
                "INSERT INTO daily_volume VALUES (?, ?, ?, ?)",
                [[operator, day, report.sha256, n] for day, n in report.daily_imeis.items()],
            )
        con.execute("DROP TABLE dump_rows")
        faults.point("network_import.before_store_commit")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
