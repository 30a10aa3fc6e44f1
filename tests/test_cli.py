"""The `ceir` command line, run as a user runs it, against the test databases."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ceir.cli import app
from tests.factories import make_imei, write_csv

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("cli_env")


def test_import_then_check_from_the_command_line(tmp_path: Path) -> None:
    tac = write_csv(
        tmp_path / "tac.csv",
        ["TAC", "Brand Name", "Model Name", "Marketing Name"],
        [["35467819", "Apple", "A3523", "iPhone 17 Pro"]],
    )
    registered, other = make_imei("35467819", 1), make_imei("35467819", 2)
    declarations = write_csv(
        tmp_path / "decl.csv",
        ["declaration_number", "declaration_date", "importer_bin", "brand", "model", "imei1"],
        [["D-1", "2025-05-02", "960440000220", "Apple", "iPhone 17 Pro", registered]],
    )

    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    tac_run = runner.invoke(app, ["tac", "import", str(tac)])
    assert tac_run.exit_code == 0, tac_run.output
    registry_run = runner.invoke(app, ["registry", "import", str(declarations)])
    assert registry_run.exit_code == 0, registry_run.output
    assert "accepted" in registry_run.output

    out = tmp_path / "out.csv"
    checked = runner.invoke(app, ["check", registered, other, "12345", "--output", str(out)])
    assert checked.exit_code == 0, checked.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["query"], r["verdict"]) for r in rows] == [
        (registered, "registered"),
        (other, "not_registered"),
        ("12345", "invalid"),
    ]
    assert rows[0]["marketing_name"] == "iPhone 17 Pro"
    assert rows[0]["source"] == "importer_declaration"
    assert "5 digits" in rows[2]["reason"]

    shown = runner.invoke(app, ["check", registered])
    assert "registered" in shown.output and "A3523" in shown.output


def test_a_bad_file_exits_non_zero_with_line_numbered_reasons(tmp_path: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])
    declarations = write_csv(
        tmp_path / "decl.csv",
        ["declaration_number", "declaration_date", "importer_bin", "brand", "model", "imei1"],
        [["D-1", "2025-05-02", "960440000220", "Apple", "iPhone", "35467819000001X"]],
    )
    result = runner.invoke(app, ["registry", "import", str(declarations)])
    assert result.exit_code == 1
    assert "line 2" in result.output and "imei1" in result.output


def test_check_reads_a_file_of_imeis(tmp_path: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])
    listing = tmp_path / "imeis.txt"
    listing.write_text("\n".join(make_imei("35467819", i) for i in range(60)) + "\n\n")
    result = runner.invoke(app, ["check", "--file", str(listing)])
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines() if line.startswith('"35')]
    assert len(lines) == 60  # more than 50 results come as CSV


def test_demo_loads_and_can_run_again(tmp_path: Path) -> None:
    first = runner.invoke(app, ["demo", "--devices", "200"])
    assert first.exit_code == 0, first.output
    assert "registered" in first.output
    assert "devices notified" in first.output  # a classified day of traffic
    assert "/officers: demo.officer /" in first.output
    second = runner.invoke(app, ["demo", "--devices", "200"])
    assert second.exit_code == 0, second.output
    registered_line = next(
        line for line in first.output.splitlines() if line.strip().startswith("registered ")
    )
    imei = registered_line.split()[-1]
    assert "registered" in runner.invoke(app, ["check", imei]).output
    blocked_line = next(
        line for line in first.output.splitlines() if line.strip().startswith("blocked ")
    )
    assert "blocked" in runner.invoke(app, ["check", blocked_line.split()[-1]]).output
    # The password is shown once; a second run says how to set a new one instead of nothing.
    assert "ceir officers set-password demo.officer" in " ".join(second.output.split())


def test_demo_big_enough_to_trip_the_safety_brake_still_classifies_its_day() -> None:
    # 1,000 devices notify over a hundred at once on a first day: the brake holds the run and
    # the demo's supervisor confirms it, so `./scripts/demo` still ends with a classified day.
    result = runner.invoke(app, ["demo", "--devices", "1000"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    notified = said.split(" devices notified")[0].rsplit(" ", 1)[-1]
    assert int(notified.replace(",", "")) > 100, result.output


def test_bulk_check_reports_blocked_and_stolen_devices(tmp_path: Path) -> None:
    import datetime as dt

    from ceir.db import session_scope
    from ceir.network.models import DeviceState, StolenDevice

    runner.invoke(app, ["db", "upgrade"])
    blocked, stolen, free = (make_imei("35467819", n) for n in (1, 2, 3))
    with session_scope() as session:
        session.add(
            DeviceState(
                imei=blocked[:14],
                state="blocked",
                reasons="not_registered",
                first_noncompliant=dt.date(2026, 1, 1),
                block_date=dt.date(2026, 1, 31),
                updated_run=1,
            )
        )
        session.add(
            StolenDevice(imei=stolen[:14], reported_at=dt.datetime.now(dt.UTC), source="police")
        )
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["check", blocked, stolen, free, "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["verdict"], r["list_colour"], r["block_date"]) for r in rows] == [
        ("blocked", "black", "2026-01-31"),
        ("stolen", "black", ""),
        ("not_registered", "grey", ""),
    ]


def test_big_batches_match_enforcement_in_memory_with_the_same_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ceir.check import service

    monkeypatch.setattr(service, "WHOLE_TABLES_FROM", 1)  # the path a million IMEIs take
    test_bulk_check_reports_blocked_and_stolen_devices(tmp_path)


def test_check_file_lines_are_trimmed_and_the_latest_registration_shows(tmp_path: Path) -> None:
    import datetime as dt

    from ceir.db import session_scope
    from ceir.registry.models import Device, DeviceImei, Registration

    runner.invoke(app, ["db", "upgrade"])
    twice, once = make_imei("35467819", 7), make_imei("35467819", 8)
    with session_scope() as session:
        for number, imei in enumerate((twice, once), start=1):
            session.add(Device(id=number, tac=imei[:8], created_at=dt.datetime.now(dt.UTC)))
            session.flush()
            session.add(DeviceImei(imei_key=int(imei[:14]), device_id=number, slot=1))
        for source, day in (("customs", 3), ("appeal", 9), ("amnesty", 5)):
            session.add(
                Registration(
                    device_id=1,
                    source=source,
                    registered_at=dt.datetime(2026, 2, day, 8, 30, tzinfo=dt.UTC),
                    actor="test",
                )
            )
        session.add(
            Registration(
                device_id=2,
                source="customs",
                registered_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
                actor="test",
                revoked_at=dt.datetime(2026, 1, 3, tzinfo=dt.UTC),
            )
        )
    listing = tmp_path / "imeis.txt"
    # A spreadsheet's export: byte order mark, CRLF, padding, blank lines.
    listing.write_bytes(f"\ufeff  {twice} \r\n\r\n{once}\r\n\t{twice}\r\n".encode())
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["check", "--file", str(listing), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["query"], r["verdict"], r["source"], r["registered_at"]) for r in rows] == [
        (twice, "registered", "appeal", "2026-02-09T08:30:00Z"),
        (once, "not_registered", "", ""),  # its only registration was revoked
        (twice, "registered", "appeal", "2026-02-09T08:30:00Z"),
    ]


def test_help_lists_every_command_group_and_check_loads_none_of_them() -> None:
    import subprocess
    import sys

    from ceir.cli import DOMAIN_APPS

    shown = runner.invoke(app, ["--help"])
    assert shown.exit_code == 0
    for name in ("check", "registry", *DOMAIN_APPS):
        assert f" {name} " in shown.output, name
    assert runner.invoke(app, ["borders", "--help"]).exit_code == 0

    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, ceir.cli; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "'alembic'" not in loaded and "'fastapi'" not in loaded
    assert not [module for module in DOMAIN_APPS.values() if f"'{module}'" in loaded]
