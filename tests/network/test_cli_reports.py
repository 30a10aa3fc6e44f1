"""What `ceir network import` and `ceir network status` tell an operator's engineer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ceir.cli import app
from ceir.config import get_settings
from ceir.network.models import DeviceState, OperatorImport
from tests.factories import add_run, make_imei, publish_list_file
from tests.network.helpers import filler, write_dump

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("cli_env")
DAY = dt.date(2026, 11, 1)


def test_an_accepted_dump_still_names_its_bad_rows_by_line_and_reason(tmp_path: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])
    rows = filler(200)
    rows.insert(1, ("35467819BAD", "401020000099999", "77010099999"))  # line 3 of the file
    dump = write_dump(tmp_path, "kcell", DAY, rows)

    result = runner.invoke(app, ["network", "import", "--operator", "kcell", str(dump)])

    assert result.exit_code == 0, result.output
    assert "loaded" in result.output
    assert "1 row" in result.output and "invalid_imei" in result.output
    assert "line 3" in result.output and "35467819BAD" in result.output


def test_a_refused_dump_gives_each_sample_line_its_reason(tmp_path: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])
    rows = filler(10) + [("BAD", "401020000099999", "77010099999")] * 5
    dump = write_dump(tmp_path, "kcell", DAY, rows)

    result = runner.invoke(app, ["network", "import", "--operator", "kcell", str(dump)])

    assert result.exit_code == 1, result.output
    sample_lines = [line for line in result.output.splitlines() if "line 12" in line]
    assert sample_lines and "IMEI" in sample_lines[0], result.output


def test_status_shows_each_operators_own_figures_and_never_wraps_identifiers(
    db_session: Session, tmp_path: Path
) -> None:
    lists_dir = get_settings().lists_dir
    run = add_run(db_session, DAY)
    notified = [[make_imei("35467819", n), "2026-12-01", "not_registered"] for n in range(375)]
    publish_list_file(
        db_session,
        lists_dir,
        run,
        "kcell",
        "notification_full.csv.gz",
        kind="notification",
        rows=notified,
    )
    publish_list_file(db_session, lists_dir, run, "kcell", rows=notified[:7])
    for operator in ("beeline", "altel", "tele2"):
        publish_list_file(
            db_session,
            lists_dir,
            run,
            operator,
            "notification_full.csv.gz",
            kind="notification",
        )
    db_session.add(
        DeviceState(
            imei=make_imei("35467819", 1)[:14],
            state="notified",
            reasons="not_registered",
            first_noncompliant=DAY,
            block_date=DAY,
            updated_run=run.id,
        )
    )
    db_session.add(
        OperatorImport(
            operator="kcell",
            filename="kcell_20261101_20261101.csv.gz",
            sha256="0" * 64,
            period_start=DAY,
            period_end=DAY,
            status="loaded",
            rows_total=1_234_567,
            distinct_imeis=1_000_000,
            checks={},
            reasons=[],
            actor="test",
            imported_at=dt.datetime(2026, 11, 2, 3, 4, tzinfo=dt.UTC),
        )
    )
    db_session.commit()

    result = runner.invoke(app, ["network", "status"], env={"COLUMNS": "80"}, terminal_width=80)

    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    imports = {row.split()[1]: row for row in rows if row.count("│") == 6}
    lists = {
        row.split()[1]: [c.strip() for c in row.split("│")[2:4]]
        for row in rows
        if row.count("│") == 4
    }
    assert lists["kcell"] == ["375", "7"], result.output  # notified, blocked: kcell's own lists
    for operator in ("beeline", "altel", "tele2"):
        assert lists[operator] == ["0", "0"], result.output
    # Identifiers, times and figures stay whole on their line, at 80 columns.
    assert "2026-11-02 03:04" in imports["kcell"], result.output
    assert "2026-11-01 – 2026-11-01" in imports["kcell"] and "1,234,567" in imports["kcell"]


def test_check_never_splits_an_imei_at_80_columns() -> None:
    runner.invoke(app, ["db", "upgrade"])
    imei = make_imei("35467819", 4)

    result = runner.invoke(app, ["check", imei, "12345"], terminal_width=80, env={"COLUMNS": "80"})

    assert result.exit_code == 0, result.output
    assert imei in result.output
