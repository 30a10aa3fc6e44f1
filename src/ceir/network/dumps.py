"""Importing operators' daily dumps: validate the whole file, then stage it compactly in DuckDB."""

from __future__ import annotations

import datetime as dt
import gzip
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.config import Settings, get_settings
from ceir.db import session_scope, utcnow
from ceir.errors import FileRejected, InvalidInput
from ceir.importing import file_sha256
from ceir.network.models import OperatorImport
from ceir.network.store import first, open_store

FILE_NAME = re.compile(
    r"^(?P<operator>[a-z0-9]+)_(?P<start>\d{8})_(?P<end>\d{8})\.(?:csv|csv\.gz|zip)$", re.I
)
REQUIRED = ("date", "imei", "imsi", "msisdn")
MAX_UNZIPPED_BYTES = 20 * 1024**3  # a dump that inflates beyond this is refused (zip bomb)
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
            f"file name {name!r} is not <operator>_<YYYYMMDD>_<YYYYMMDD>.csv, .csv.gz or .zip"
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


@contextmanager
def _readable_csv(path: Path) -> Iterator[Path]:
    """A path DuckDB can read: the file itself (.csv, .csv.gz) or the one CSV inside a zip."""
    if not path.name.lower().endswith(".zip"):
        yield path
        return
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1 or not members[0].filename.lower().endswith(".csv"):
            raise InvalidInput(f"{path.name} must hold exactly one .csv file")
        if members[0].file_size > MAX_UNZIPPED_BYTES:
            raise InvalidInput(f"{path.name} inflates to more than {MAX_UNZIPPED_BYTES} bytes")
        with tempfile.TemporaryDirectory(prefix="ceir-dump-") as folder:
            target = Path(folder) / "dump.csv"
            with archive.open(members[0]) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
            yield target


def _header(path: Path) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        first = handle.readline()
    return [name.strip().lower() for name in first.strip().split(",")]


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
    rules = settings.network
    started = time.perf_counter()
    today = today or utcnow().date()
    if operator not in rules.operators:
        raise InvalidInput(f"unknown operator {operator!r}; known: {', '.join(rules.operators)}")
    report = DumpReport(operator, path.name, file_sha256(path))
    report.period_start, report.period_end = parse_period(path.name, operator)

    already = db.scalar(
        select(OperatorImport.id).where(
            OperatorImport.operator == operator,
            OperatorImport.sha256 == report.sha256,
            OperatorImport.status == "loaded",
        )
    )
    if already:
        report.status = "already_imported"
        report.seconds = time.perf_counter() - started
        return report

    with _readable_csv(path) as csv_path, open_store(settings) as con:
        con.execute(f"SET memory_limit = '{rules.duckdb_import_memory_limit}'")
        header = _header(csv_path)
        missing = [c for c in REQUIRED if c not in header]
        extra = [c for c in header if c not in (*REQUIRED, "rat")]
        if missing or extra:
            report.reasons.append(
                "header must be date,imei,imsi,msisdn[,rat]"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unexpected {', '.join(extra)}" if extra else "")
            )
        elif unreadable := _load_rows(con, csv_path, header, path.name):
            report.reasons.append(unreadable)
        else:
            _validate(con, report, operator, settings, today)
        if report.reasons:
            report.seconds = time.perf_counter() - started
            _record_refusal(db, report, actor)
            raise FileRejected(f"{path.name} refused: {'; '.join(report.reasons)}", report)
        _stage(con, report, operator)

    db.add(_import_row(report, actor, "loaded"))
    audit.record(
        db,
        actor=actor,
        action="network.import_dump",
        object_type="operator_import",
        object_id=f"{operator}:{report.sha256[:16]}",
        details={"file": path.name, "rows": report.rows_total},
    )
    report.status = "loaded"
    report.seconds = time.perf_counter() - started
    return report


def _load_rows(
    con: duckdb.DuckDBPyConnection, path: Path, header: list[str], name: str
) -> str | None:
    """Every row as text in `dump_rows`; or why the file `name` (the one the operator sent,
    whose CSV `path` may be unzipped from it) cannot be read as CSV at all."""
    columns = {name: "VARCHAR" for name in header}
    con.execute("DROP TABLE IF EXISTS dump_rows")
    try:
        con.execute(
            "CREATE TEMP TABLE dump_rows AS SELECT date, imei, imsi, msisdn FROM read_csv(?, "
            "header = true, columns = ?, store_rejects = true, quote = '\"')",
            [str(path), columns],
        )
    except (duckdb.InvalidInputException, duckdb.ConversionException) as exc:
        # Mixed line endings, a binary file renamed .csv...: refused with DuckDB's first words.
        first_line = str(exc).splitlines()[0].replace(str(path), name)
        return f"the file cannot be read as CSV ({first_line})"
    return None


def _validate(
    con: duckdb.DuckDBPyConnection,
    report: DumpReport,
    operator: str,
    settings: Settings,
    today: dt.date,
) -> None:
    rules = settings.network
    home_prefixes = rules.operators[operator]
    assert report.period_start and report.period_end
    end = min(report.period_end, today)
    own_network = " OR ".join("starts_with(imsi, ?)" for _ in home_prefixes)
    row = first(
        con.execute(
            f"""
        SELECT
            count(*),
            count(*) FILTER (WHERE imei IS NULL OR imei = ''),
            count(*) FILTER (WHERE imsi IS NULL OR imsi = ''),
            count(*) FILTER (WHERE msisdn IS NULL OR msisdn = ''),
            count(*) FILTER (WHERE NOT regexp_full_match(coalesce(date, ''), '[0-9]{{8}}')
                             OR try_strptime(date, '%Y%m%d') IS NULL
                             OR try_strptime(date, '%Y%m%d')::DATE NOT BETWEEN ? AND ?),
            count(*) FILTER (WHERE imei <> '' AND NOT regexp_matches(imei, '^[0-9]{{14}}')),
            count(*) FILTER (WHERE regexp_full_match(imei, '[0-9]{{13}}')),
            count(*) FILTER (WHERE imsi <> '' AND NOT regexp_full_match(imsi, '[0-9]{{14,15}}')),
            count(*) FILTER (WHERE (imsi <> '' AND NOT starts_with(imsi, ?))
                             OR (msisdn <> ''
                                 AND NOT regexp_full_match(msisdn, '7?7[0-9]{{9}}|87[0-9]{{9}}'))),
            count(*) FILTER (WHERE starts_with(imsi, ?) AND NOT ({own_network})),
            count(DISTINCT nullif(imei, ''))
        FROM dump_rows
        """,
            [report.period_start, end, rules.home_mcc, rules.home_mcc, *home_prefixes],
        ).fetchall()
    )
    assert row is not None
    (
        total,
        null_imei,
        null_imsi,
        null_msisdn,
        bad_date,
        bad_imei,
        short_imei,
        bad_imsi,
        foreign,
        other_operator,
        distinct,
    ) = row
    malformed = first(con.execute("SELECT count(*) FROM reject_errors").fetchall())
    malformed_rows = int(malformed[0]) if malformed else 0
    report.rows_total = int(total) + malformed_rows
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
    share("invalid_imei", bad_imei, rules.max_share_invalid_imei)
    share("invalid_imsi", bad_imsi, rules.max_share_invalid_imsi)
    share("foreign_imsi_or_msisdn", foreign, rules.max_share_foreign)
    share("other_operator_imsi", other_operator, rules.max_share_other_operator)
    share("leading_zeros_lost", short_imei, rules.max_share_short_imei)
    share("malformed_rows", malformed_rows, rules.max_share_invalid_imei)
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
    if report.reasons or malformed_rows:
        report.samples = _samples(con, report.period_start, end)


def _daily_imeis(con: duckdb.DuckDBPyConnection, report: DumpReport) -> dict[dt.date, int]:
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
    con: duckdb.DuckDBPyConnection,
    report: DumpReport,
    operator: str,
    settings: Settings,
    end: dt.date,
) -> None:
    """A day with far fewer distinct IMEIs than this operator's recent average is truncated."""
    assert report.period_start
    usual = first(
        con.execute(
            "SELECT avg(distinct_imeis), count(*) FROM daily_volume "
            "WHERE operator = ? AND day BETWEEN ? - INTERVAL 30 DAY AND ? - INTERVAL 1 DAY",
            [operator, report.period_start, report.period_start],
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


def _samples(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """A few offending rows with their line numbers, so the operator can find and fix them."""
    found: list[dict[str, Any]] = [
        {"line": int(line), "field": "row", "reason": str(message)}
        for line, message in con.execute(
            f"SELECT line, error_message FROM reject_errors ORDER BY line LIMIT {SAMPLES}"
        ).fetchall()
    ]
    rows = con.execute(
        f"""
        SELECT line, date, imei, imsi, msisdn FROM (
            SELECT row_number() OVER () + 1 AS line, * FROM dump_rows
        ) WHERE imei IS NULL OR imei = '' OR NOT regexp_matches(imei, '^[0-9]{{14}}')
            OR try_strptime(date, '%Y%m%d') IS NULL
            OR try_strptime(date, '%Y%m%d')::DATE NOT BETWEEN ? AND ?
            OR (imsi <> '' AND NOT regexp_full_match(imsi, '[0-9]{{14,15}}'))
        LIMIT {SAMPLES}
        """,
        [start, end],
    ).fetchall()
    for line, date, imei, imsi, msisdn in rows:
        found.append(
            {"line": int(line), "date": date, "imei": imei, "imsi": imsi, "msisdn": msisdn}
        )
    return found


def _stage(con: duckdb.DuckDBPyConnection, report: DumpReport, operator: str) -> None:
    """Aggregate rows to (IMEI, IMSI, MSISDN) with first and last day; a re-run replaces them."""
    con.execute("BEGIN")
    try:
        # Reported values that are not IMEIs keep their text under a negative id.
        con.execute(
            """
            INSERT INTO raw_imeis
            SELECT -(coalesce((SELECT max(-id) FROM raw_imeis), 0) + row_number() OVER ()), raw
            FROM (SELECT DISTINCT upper(trim(imei)) AS raw FROM dump_rows
                  WHERE imei <> '' AND NOT regexp_matches(imei, '^[0-9]{14}')) fresh
            WHERE raw NOT IN (SELECT raw FROM raw_imeis)
            """
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
            SELECT ?, ?, key, try_cast(nullif(imsi, '') AS BIGINT),
                   try_cast(CASE WHEN length(msisdn) = 11 AND starts_with(msisdn, '8')
                                 THEN '7' || substr(msisdn, 2) ELSE nullif(msisdn, '') END
                            AS BIGINT),
                   min(day), max(day)
            FROM (
                SELECT d.imsi, d.msisdn, strptime(d.date, '%Y%m%d')::DATE AS day,
                       CASE WHEN regexp_matches(d.imei, '^[0-9]{14}')
                            THEN substr(d.imei, 1, 14)::BIGINT ELSE r.id END AS key
                FROM dump_rows d LEFT JOIN raw_imeis r ON r.raw = upper(trim(d.imei))
                WHERE d.imei <> ''
            )
            GROUP BY ALL
            """,
            [operator, report.sha256],
        )
        if report.daily_imeis:
            con.executemany(
                "INSERT INTO daily_volume VALUES (?, ?, ?, ?)",
                [[operator, day, report.sha256, n] for day, n in report.daily_imeis.items()],
            )
        con.execute("DROP TABLE dump_rows")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _import_row(report: DumpReport, actor: str, status: str) -> OperatorImport:
    assert report.period_start and report.period_end
    return OperatorImport(
        operator=report.operator,
        filename=report.filename,
        sha256=report.sha256,
        period_start=report.period_start,
        period_end=report.period_end,
        status=status,
        rows_total=report.rows_total,
        distinct_imeis=report.distinct_imeis,
        checks=report.checks,
        reasons=report.reasons,
        actor=actor,
        imported_at=utcnow(),
    )


def _record_refusal(db: Session, report: DumpReport, actor: str) -> None:
    """Refusals are kept even though the caller's transaction will roll back."""
    with session_scope(db.get_bind()) as own:  # type: ignore[arg-type]
        own.add(_import_row(report, actor, "refused"))
        audit.record(
            own,
            actor=actor,
            action="network.refuse_dump",
            object_type="operator_import",
            object_id=f"{report.operator}:{report.sha256[:16]}",
            details={"file": report.filename, "reasons": report.reasons},
        )
