"""Importing the GSMA TAC database: header spellings, separators, updates in place, bad rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ceir.errors import FileRejected
from ceir.tac.models import TacModel
from ceir.tac.service import import_tac_file, lookup
from tests.factories import write_csv

GSMA_HEADER = [
    "TAC",
    "Marketing Name",
    "Manufacturer",
    "Model Name",
    "Device Type",
    "Operating System",
    "Allocation Date",
]


def test_pipe_separated_export_with_gsma_headers_loads(db_session: Session, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "tac.txt",
        GSMA_HEADER,
        [
            ["35467819", "iPhone 17 Pro", "Apple Inc", "A3523", "Smartphone", "iOS", "01-Sep-2025"],
            [
                "01234567",
                "Nokia 105",
                "HMD Global",
                "TA-1551",
                "Mobile Phone/Feature phone",
                "",
                "",
            ],
        ],
        delimiter="|",
    )

    report = import_tac_file(db_session, path, actor="t")
    db_session.commit()

    assert report.rows_accepted == 2
    model = lookup(db_session, "35467819")
    assert model is not None and (model.brand, model.model, model.marketing_name) == (
        "Apple Inc",
        "A3523",
        "iPhone 17 Pro",
    )
    stored = db_session.get(TacModel, "35467819")
    assert stored is not None and stored.allocation_date == dt.date(2025, 9, 1)
    assert lookup(db_session, "01234567") is not None


def test_header_names_match_whatever_their_case_and_spacing(
    db_session: Session, tmp_path: Path
) -> None:
    header = ["tac", "MARKETING_NAME", "brand name", "modelname"]
    path = write_csv(
        tmp_path / "tac.csv", header, [["86241507", "Redmi Note 14 Pro", "Xiaomi", "24115RA8EG"]]
    )
    import_tac_file(db_session, path, actor="t")
    model = lookup(db_session, "86241507")
    assert model is not None and model.brand == "Xiaomi" and model.model == "24115RA8EG"


def test_reimport_updates_in_place_and_counts_unchanged_rows(
    db_session: Session, tmp_path: Path
) -> None:
    rows = [
        ["35467819", "iPhone 17 Pro", "Apple", "A3523", "Smartphone", "iOS", "2025-09-01"],
        ["35467820", "iPhone 17", "Apple", "A3519", "Smartphone", "iOS", "2025-09-01"],
    ]
    import_tac_file(db_session, write_csv(tmp_path / "a.csv", GSMA_HEADER, rows), actor="t")
    db_session.commit()
    rows[1][1] = "iPhone 17 (renamed)"

    report = import_tac_file(
        db_session, write_csv(tmp_path / "b.csv", GSMA_HEADER, rows), actor="t"
    )
    db_session.commit()

    assert (report.rows_accepted, report.rows_skipped) == (1, 1)
    assert db_session.scalar(select(func.count()).select_from(TacModel)) == 2
    model = lookup(db_session, "35467820")
    assert model is not None and model.marketing_name == "iPhone 17 (renamed)"


def test_bad_tacs_refuse_the_file_with_line_numbers(db_session: Session, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "tac.csv",
        GSMA_HEADER,
        [
            ["35467819", "ok", "Apple", "A1", "", "", ""],
            ["1234567", "lost zero", "X", "Y", "", "", ""],
            ["35467819", "again", "Apple", "A1", "", "", ""],
            ["3546781A", "hex", "X", "Y", "", "", "not a date"],
        ],
    )
    with pytest.raises(FileRejected) as caught:
        import_tac_file(db_session, path, actor="t")
    errors = caught.value.report.errors  # type: ignore[attr-defined]
    assert [(e.line, e.field) for e in errors] == [
        (3, "tac"),
        (4, "tac"),
        (5, "tac"),
        (5, "allocation_date"),
    ]
    assert "leading zero" in errors[0].reason
    assert "line 2" in errors[1].reason
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(TacModel)) == 0


def test_a_file_without_a_tac_column_is_refused(db_session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "tac.csv", ["Brand", "Model"], [["A", "B"]])
    with pytest.raises(FileRejected, match="no TAC column"):
        import_tac_file(db_session, path, actor="t")
