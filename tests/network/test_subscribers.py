"""Operators' subscriber snapshots: all or nothing, replaced per operator, ported numbers move."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ceir.cli import app as cli_app
from ceir.config import Settings
from ceir.errors import FileRejected
from ceir.network.models import Subscriber
from ceir.network.subscribers import find_iin_of, import_subscribers
from tests.factories import make_iin, write_csv

HEADER = ("msisdn", "iin", "since", "language")
IIN_A, IIN_B = make_iin(serial=11), make_iin(serial=12)


def _numbers(session: Session, operator: str) -> list[str]:
    rows = session.scalars(select(Subscriber.msisdn).where(Subscriber.operator == operator))
    return sorted(rows)


def test_a_snapshot_replaces_the_operators_previous_one(
    db_session: Session, tmp_path: Path, settings: Settings
) -> None:
    first = write_csv(
        tmp_path / "a.csv",
        HEADER,
        [("+7 701 000 0001", IIN_A, "2024-01-31", "kk"), ("87010000002", IIN_B, "", "")],
    )
    report = import_subscribers(db_session, first, operator="kcell", actor="t", settings=settings)
    db_session.commit()
    assert (report.rows_total, report.rows_loaded) == (2, 2)
    assert find_iin_of(db_session, "77010000001") == IIN_A

    second = write_csv(tmp_path / "b.csv", HEADER, [("77010000003", IIN_A, "", "ru")])
    import_subscribers(db_session, second, operator="kcell", actor="t", settings=settings)
    db_session.commit()
    assert _numbers(db_session, "kcell") == ["77010000003"]


def test_a_number_ported_to_another_operator_leaves_the_first(
    db_session: Session, tmp_path: Path, settings: Settings
) -> None:
    path = write_csv(tmp_path / "a.csv", HEADER, [("77010000001", IIN_A, "", "")])
    import_subscribers(db_session, path, operator="kcell", actor="t", settings=settings)
    import_subscribers(db_session, path, operator="beeline", actor="t", settings=settings)
    db_session.commit()
    assert _numbers(db_session, "kcell") == []
    assert _numbers(db_session, "beeline") == ["77010000001"]


def test_bad_rows_refuse_the_snapshot_naming_line_field_and_reason(
    db_session: Session, tmp_path: Path, settings: Settings
) -> None:
    kept = write_csv(tmp_path / "kept.csv", HEADER, [("77010000009", IIN_B, "", "")])
    import_subscribers(db_session, kept, operator="kcell", actor="t", settings=settings)
    db_session.commit()
    path = write_csv(
        tmp_path / "bad.csv",
        HEADER,
        [
            ("77010000001", IIN_A, "", ""),
            ("12345", "123456789012", "31.01.2024", ""),
            ("77010000001", IIN_B, "", ""),
        ],
    )
    with pytest.raises(FileRejected) as caught:
        import_subscribers(db_session, path, operator="kcell", actor="t", settings=settings)
    db_session.rollback()
    errors = caught.value.report.errors  # type: ignore[attr-defined]
    assert [(e.line, e.field) for e in errors] == [
        (3, "msisdn"),
        (3, "iin"),
        (3, "since"),
        (4, "msisdn"),
    ]
    assert "line 2" in errors[3].reason
    assert _numbers(db_session, "kcell") == ["77010000009"]


def test_cli_replaces_a_snapshot(cli_env: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", ("msisdn", "iin"), [("77010000001", IIN_A)])
    result = CliRunner().invoke(
        cli_app, ["network", "subscribers", str(path), "--operator", "kcell"]
    )
    assert result.exit_code == 0, result.output
    assert "1 subscribers of kcell" in result.output
