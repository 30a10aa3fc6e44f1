"""Border crossings: files (CSV, JSON lines) and the push API; atomic, idempotent by record id."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ceir.apikeys.service import create_key
from ceir.borders.models import BorderCrossing
from ceir.borders.service import check_trip, import_crossings_file
from ceir.cli import app as cli_app
from ceir.errors import FileRejected
from tests.factories import add_trip, make_iin, write_csv

IIN = make_iin(serial=1)
HEADER = ("record_id", "iin", "direction", "crossed_at", "checkpoint", "country")
ROWS = [
    ("R1", IIN, "exit", "2026-09-01T08:00:00+05:00", "ALA airport", "TR"),
    ("R2", IIN, "entry", "2026-09-15T21:30:00+05:00", "ALA airport", "TR"),
]


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(BorderCrossing)) or 0)


def test_csv_file_loads_and_the_same_file_again_changes_nothing(
    db_session: Session, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "crossings.csv", HEADER, ROWS)
    report = import_crossings_file(db_session, path, actor="test")
    db_session.commit()
    assert (report.rows_accepted, report.rows_skipped) == (2, 0)
    again = import_crossings_file(db_session, path, actor="test")
    db_session.commit()
    assert (again.rows_accepted, again.rows_skipped) == (0, 2)
    assert _count(db_session) == 2
    entry = db_session.get(BorderCrossing, "R2")
    assert entry is not None
    assert entry.crossed_at == dt.datetime(2026, 9, 15, 16, 30, tzinfo=dt.UTC)


def test_json_lines_file_loads(db_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "crossings.jsonl"
    path.write_text("\n".join(json.dumps(dict(zip(HEADER, r, strict=True))) for r in ROWS) + "\n")
    report = import_crossings_file(db_session, path, actor="test")
    assert report.rows_accepted == 2


def test_a_known_id_with_other_data_is_a_conflict_and_refuses_the_file(
    db_session: Session, tmp_path: Path
) -> None:
    import_crossings_file(db_session, write_csv(tmp_path / "a.csv", HEADER, ROWS), actor="t")
    db_session.commit()
    changed = [
        ROWS[0],
        ("R2", IIN, "entry", "2026-09-16T10:00:00+05:00", "ALA airport", "TR"),
        ("R3", IIN, "exit", "2026-09-20T10:00:00+05:00", "Khorgos", "CN"),
    ]
    with pytest.raises(FileRejected) as caught:
        import_crossings_file(db_session, write_csv(tmp_path / "b.csv", HEADER, changed), actor="t")
    db_session.rollback()
    errors = caught.value.report.errors  # type: ignore[attr-defined]
    assert [(e.line, e.field) for e in errors] == [(3, "record_id")]
    assert "other data" in errors[0].reason
    assert _count(db_session) == 2  # R3 was not loaded either


def test_bad_rows_are_reported_by_line_field_and_reason(
    db_session: Session, tmp_path: Path
) -> None:
    rows = [
        ("R1", "123456789012", "exit", "2026-09-01T08:00:00", "ALA", "TR"),
        ("R2", IIN, "sideways", "yesterday", "ALA", "Turkey"),
        ("R3", IIN, "entry", "2099-01-01T00:00:00", "", "TR"),
    ]
    with pytest.raises(FileRejected) as caught:
        import_crossings_file(db_session, write_csv(tmp_path / "bad.csv", HEADER, rows), actor="t")
    found = {(e.line, e.field) for e in caught.value.report.errors}  # type: ignore[attr-defined]
    assert found == {
        (2, "iin"),
        (3, "direction"),
        (3, "crossed_at"),
        (3, "country"),
        (4, "checkpoint"),
        (4, "crossed_at"),
    }
    assert _count(db_session) == 0


def test_a_trip_is_an_exit_then_an_entry_around_the_stated_day(db_session: Session) -> None:
    exit_id, entry_id = add_trip(db_session, IIN, dt.date(2026, 9, 1), dt.date(2026, 9, 15))
    found = check_trip(db_session, IIN, dt.date(2026, 9, 17), tolerance_days=3)
    assert (found.confirmed, found.exit_id, found.entry_id) == (True, exit_id, entry_id)
    assert check_trip(db_session, IIN, dt.date(2026, 9, 25), tolerance_days=3).reason == (
        "no_entry_in_period"
    )
    other = make_iin(serial=2)
    assert not check_trip(db_session, other, dt.date(2026, 9, 15), tolerance_days=3).confirmed


def test_an_entry_without_an_earlier_exit_is_no_trip(db_session: Session) -> None:
    db_session.add(
        BorderCrossing(
            record_id="E1",
            iin=IIN,
            direction="entry",
            crossed_at=dt.datetime(2026, 9, 15, 7, tzinfo=dt.UTC),
            checkpoint="ALA",
            country="TR",
            imported_at=dt.datetime.now(dt.UTC),
        )
    )
    db_session.commit()
    found = check_trip(db_session, IIN, dt.date(2026, 9, 15), tolerance_days=3)
    assert (found.confirmed, found.reason) == (False, "no_exit_before_entry")


def _key(db_session: Session, owner_kind: str, scopes: set[str]) -> str:
    _key_row, plaintext = create_key(
        db_session,
        owner_kind=owner_kind,
        owner="kgb-border",
        scopes=scopes,
        label="t",
        created_by="test",
    )
    db_session.commit()
    return plaintext


def test_border_service_pushes_records_idempotently(
    app_client: TestClient, db_session: Session
) -> None:
    key = _key(db_session, "border_service", {"borders:write"})
    body = {"records": [dict(zip(HEADER, r, strict=True)) for r in ROWS]}
    headers = {"Authorization": f"Bearer {key}"}
    first = app_client.post("/api/v1/border-crossings", json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert (first.json()["rows_accepted"], first.json()["rows_skipped"]) == (2, 0)
    second = app_client.post("/api/v1/border-crossings", json=body, headers=headers)
    assert (second.json()["rows_accepted"], second.json()["rows_skipped"]) == (0, 2)
    body["records"][1]["checkpoint"] = "Khorgos"
    conflict = app_client.post("/api/v1/border-crossings", json=body, headers=headers)
    assert conflict.status_code == 422
    assert conflict.json()["report"]["errors"][0]["line"] == 2


def test_push_needs_a_key_with_the_borders_scope(
    app_client: TestClient, db_session: Session
) -> None:
    body = {"records": [dict(zip(HEADER, ROWS[0], strict=True))]}
    assert app_client.post("/api/v1/border-crossings", json=body).status_code == 401
    partner = _key(db_session, "partner", {"check"})
    refused = app_client.post(
        "/api/v1/border-crossings", json=body, headers={"Authorization": f"Bearer {partner}"}
    )
    assert refused.status_code == 403


def test_cli_imports_a_file(cli_env: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "crossings.csv", HEADER, ROWS)
    result = CliRunner().invoke(cli_app, ["borders", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 loaded" in result.output
    result = CliRunner().invoke(cli_app, ["borders", "import", str(path)])
    assert "2 already loaded" in result.output
