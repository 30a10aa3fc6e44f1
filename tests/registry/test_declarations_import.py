"""Importing customs declarations: validation before loading, atomicity, idempotency, conflicts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ceir import bulk, importing
from ceir.audit.models import AuditEvent
from ceir.errors import FileRejected, InvalidInput
from ceir.registry import declarations
from ceir.registry.models import Declaration, Device, DeviceImei, Registration
from ceir.registry.service import find_registration, import_declarations
from tests.factories import make_imei, write_csv

HEADER = [
    "declaration_number",
    "declaration_date",
    "importer_bin",
    "brand",
    "model",
    "imei1",
    "imei2",
]
BIN = "960440000220"


def row(
    number: str,
    serial: int,
    *,
    tac: str = "35467819",
    second: bool = True,
    date: str = "2025-05-02",
    bin_: str = BIN,
) -> list[str]:
    return [
        number,
        date,
        bin_,
        "Apple",
        "iPhone 17 Pro",
        make_imei(tac, serial),
        make_imei(tac, serial + 500_000) if second else "",
    ]


def counts(session: Session) -> tuple[int, int, int, int]:
    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Device, DeviceImei, Registration, Declaration)
    )


def test_good_file_registers_every_device_with_its_evidence(
    db_session: Session, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "decl.csv", HEADER, [row("D-1", 1), row("D-1", 2, second=False), row("D-2", 3)]
    )

    report = import_declarations(db_session, path, actor="importer:test")
    db_session.commit()

    assert (report.rows_total, report.rows_accepted, report.rows_rejected) == (3, 3, 0)
    assert counts(db_session) == (3, 5, 3, 2)
    found = find_registration(db_session, make_imei("35467819", 500_001)[:14])
    assert found is not None
    assert found.source == "importer_declaration"
    assert found.declaration_number == "D-1"
    registration = db_session.scalars(select(Registration).order_by(Registration.id)).first()
    assert registration is not None
    assert (registration.actor, registration.line_no) == ("importer:test", 2)
    event = db_session.scalars(select(AuditEvent)).one()
    assert event.action == "registry.import_declarations"
    assert event.details is not None and event.details["accepted"] == 3


def test_importing_the_same_file_twice_changes_nothing(db_session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "decl.csv", HEADER, [row("D-1", i) for i in range(1, 6)])
    import_declarations(db_session, path, actor="t")
    db_session.commit()
    before = counts(db_session)

    again = import_declarations(db_session, path, actor="t")
    db_session.commit()

    assert (again.rows_accepted, again.rows_skipped) == (0, 5)
    assert counts(db_session) == before


def test_bad_rows_refuse_the_whole_file_and_each_is_reported_by_line(
    db_session: Session, tmp_path: Path
) -> None:
    good = row("D-1", 1)
    bad_check_digit = row("D-1", 2)
    bad_check_digit[5] = bad_check_digit[5][:-1] + str((int(bad_check_digit[5][-1]) + 1) % 10)
    no_imei = row("D-1", 3)
    no_imei[5] = ""
    bad_bin = row("D-3", 4, bin_="123456789012")
    future = row("D-4", 5, date="2999-01-01")
    duplicate = row("D-1", 6)
    duplicate[6] = good[5]
    path = write_csv(
        tmp_path / "decl.csv", HEADER, [good, bad_check_digit, no_imei, bad_bin, future, duplicate]
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write("D-9,2025-01-01,960440000220,Apple\n")  # too few fields, line 8

    with pytest.raises(FileRejected) as caught:
        import_declarations(db_session, path, actor="t")
    db_session.rollback()

    report = caught.value.report
    by_line = {(e.line, e.field) for e in report.errors}  # type: ignore[attr-defined]
    assert {
        (3, "imei1"),
        (4, "imei1"),
        (5, "importer_bin"),
        (6, "declaration_date"),
        (7, "imei2"),
        (8, "row"),
    } <= by_line
    reasons = " ".join(e.reason for e in report.errors)  # type: ignore[attr-defined]
    assert "expected" in reasons and "line 2" in reasons and "future" in reasons
    assert report.rows_rejected == 6  # type: ignore[attr-defined]
    assert counts(db_session) == (0, 0, 0, 0)


def test_accept_good_loads_good_rows_and_writes_the_rest_to_a_rejects_file(
    db_session: Session, tmp_path: Path
) -> None:
    bad = row("D-1", 2)
    bad[5] = "35467819ABCDEF1"
    path = write_csv(tmp_path / "decl.csv", HEADER, [row("D-1", 1), bad, row("D-1", 3)])
    rejects = tmp_path / "rejects.csv"

    report = import_declarations(
        db_session, path, actor="t", accept_good=True, rejects_path=rejects
    )
    db_session.commit()

    assert (report.rows_accepted, report.rows_rejected) == (2, 1)
    assert counts(db_session)[0] == 2
    with rejects.open(encoding="utf-8") as handle:
        rejected = list(csv.DictReader(handle))
    assert [r["line"] for r in rejected] == ["3"]
    assert "imei1" in rejected[0]["reasons"]


def test_imei_registered_under_another_declaration_is_a_conflict_never_overwritten(
    db_session: Session, tmp_path: Path
) -> None:
    first = write_csv(tmp_path / "a.csv", HEADER, [row("D-1", 1)])
    import_declarations(db_session, first, actor="t")
    db_session.commit()
    clash = row("D-2", 9)
    clash[6] = row("D-1", 1)[5]
    second = write_csv(tmp_path / "b.csv", HEADER, [row("D-2", 8), clash])

    with pytest.raises(FileRejected) as caught:
        import_declarations(db_session, second, actor="t")
    db_session.rollback()

    errors = caught.value.report.errors  # type: ignore[attr-defined]
    assert [(e.line, "D-1" in e.reason) for e in errors] == [(3, True)]
    found = find_registration(db_session, row("D-1", 1)[5][:14])
    assert found is not None and found.declaration_number == "D-1"
    assert counts(db_session)[0] == 1


def test_a_rerun_checked_in_small_chunks_skips_loaded_rows_and_reports_each_conflict(
    db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of 3 keys split devices (two IMEIs each) across the registry look-ups' chunks.
    monkeypatch.setattr(declarations, "LOAD_CHUNK", 3)
    loaded = [row("D-1", i) for i in range(1, 21)]
    import_declarations(db_session, write_csv(tmp_path / "a.csv", HEADER, loaded), actor="t")
    db_session.commit()
    before = counts(db_session)
    rows = [r for r in loaded if r[5] != row("D-1", 5)[5]]
    rows.insert(10, row("D-2", 5))  # D-1's IMEIs of its fifth device under another declaration
    rows += [row("D-3", i) for i in range(30, 36)]
    path = write_csv(tmp_path / "b.csv", HEADER, rows)

    report = import_declarations(
        db_session, path, actor="t", accept_good=True, rejects_path=tmp_path / "rejects.csv"
    )
    db_session.commit()

    assert (report.rows_accepted, report.rows_skipped, report.rows_rejected) == (6, 19, 1)
    assert [(e.line, e.field, "declaration D-1" in e.reason) for e in report.errors] == [
        (12, "imei", True),
        (12, "imei", True),
    ]
    assert counts(db_session) == (before[0] + 6, before[1] + 12, before[2] + 6, before[3] + 1)


@pytest.mark.parametrize("table", ["devices", "registrations", "device_imeis"])
def test_a_crash_after_some_loaded_chunks_leaves_no_partial_data(
    db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    import_declarations(
        db_session, write_csv(tmp_path / "old.csv", HEADER, [row("D-0", 900)]), actor="t"
    )
    db_session.commit()
    before = counts(db_session)
    path = write_csv(tmp_path / "decl.csv", HEADER, [row(f"D-{i // 7}", i) for i in range(1, 50)])
    monkeypatch.setattr(declarations, "CHUNK_ROWS", 10)
    monkeypatch.setattr(importing, "LOAD_CHUNK", 10)
    real_insert = bulk.insert_batches

    def crash_on_third_chunk(conn, name, batches):  # type: ignore[no-untyped-def]
        # On PostgreSQL the error comes from the helper thread that makes the next chunk while
        # the first two are already in the database, inside the table's open COPY.
        def until_the_third():  # type: ignore[no-untyped-def]
            for n, batch in enumerate(batches, 1):
                if name == table and n == 3:
                    raise OSError("disk full")
                yield batch

        return real_insert(conn, name, until_the_third())

    monkeypatch.setattr(declarations, "insert_batches", crash_on_third_chunk)
    with pytest.raises(OSError, match="disk full"):
        import_declarations(db_session, path, actor="t")
    db_session.rollback()

    assert counts(db_session) == before
    monkeypatch.setattr(declarations, "insert_batches", real_insert)
    report = import_declarations(db_session, path, actor="t")
    db_session.commit()
    assert report.rows_accepted == 49
    assert counts(db_session)[0] == before[0] + 49


def test_errors_past_the_kept_sample_are_counted_and_all_written_to_the_rejects_file(
    db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "MAX_ERRORS_KEPT", 5)
    monkeypatch.setattr(declarations, "CHUNK_ROWS", 7)
    rows = [row("D-1", i) for i in range(1, 40)]
    for bad in rows[::3]:
        bad[3] = ""
    path = write_csv(tmp_path / "decl.csv", HEADER, rows)
    rejects = tmp_path / "rejects.csv"

    report = import_declarations(
        db_session, path, actor="t", accept_good=True, rejects_path=rejects
    )
    db_session.commit()

    assert (report.rows_rejected, report.rows_accepted) == (13, 26)
    assert [e.line for e in report.errors] == [2, 5, 8, 11, 14]
    with rejects.open(encoding="utf-8") as handle:
        rejected = list(csv.DictReader(handle))
    assert [int(r["line"]) for r in rejected] == list(range(2, 41, 3))
    assert all(r["brand"] == "" and r["reasons"] == "brand: required" for r in rejected)


def test_missing_columns_are_named(db_session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "decl.csv", ["declaration_number", "imei1"], [["D-1", "1"]])
    with pytest.raises(FileRejected) as caught:
        import_declarations(db_session, path, actor="t")
    error = caught.value.report.errors[0]  # type: ignore[attr-defined]
    assert error.line == 1 and "importer_bin" in error.reason


def test_more_imei_columns_case_insensitive_header_and_leading_zero_tacs(
    db_session: Session, tmp_path: Path
) -> None:
    header = [h.upper() for h in HEADER] + ["IMEI3"]
    imeis = [make_imei("01234567", s) for s in (1, 2, 3)]
    path = write_csv(
        tmp_path / "decl.csv", header, [["D-1", "2025-05-02", BIN, "Nokia", "105", *imeis]]
    )

    import_declarations(db_session, path, actor="t")
    db_session.commit()

    device = db_session.scalars(select(Device)).one()
    assert device.tac == "01234567"
    assert find_registration(db_session, imeis[2][:14]) is not None


def test_a_declaration_continued_in_a_later_file_must_keep_its_date_and_importer(
    db_session: Session, tmp_path: Path
) -> None:
    import_declarations(
        db_session, write_csv(tmp_path / "a.csv", HEADER, [row("D-1", 1)]), actor="t"
    )
    db_session.commit()
    import_declarations(
        db_session, write_csv(tmp_path / "b.csv", HEADER, [row("D-1", 2)]), actor="t"
    )
    db_session.commit()
    assert counts(db_session) == (2, 4, 2, 1)

    other_date = write_csv(tmp_path / "c.csv", HEADER, [row("D-1", 3, date="2025-06-01")])
    with pytest.raises(FileRejected) as caught:
        import_declarations(db_session, other_date, actor="t")
    assert "another date" in caught.value.report.errors[0].reason  # type: ignore[attr-defined]


def test_a_row_over_two_lines_keeps_the_line_numbers_of_the_rows_after_it(
    db_session: Session, tmp_path: Path
) -> None:
    two_lines = row("D-1", 2)
    two_lines[4] = "iPhone 17\nPro"
    path = write_csv(
        tmp_path / "decl.csv",
        HEADER,
        [row("D-1", 1), two_lines, row("D-3", 3, bin_="123456789012")],
    )

    with pytest.raises(FileRejected) as caught:
        import_declarations(db_session, path, actor="t")

    errors = caught.value.report.errors  # type: ignore[attr-defined]
    assert [(e.line, e.field) for e in errors] == [(5, "importer_bin")]


def test_a_file_that_turns_out_not_utf8_after_some_chunks_is_refused_with_the_offset(
    db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the first MiB, which the header's reader decodes; Arrow has staged chunks by then.
    path = write_csv(tmp_path / "decl.csv", HEADER, [row(f"D-{i}", i) for i in range(1, 13_000)])
    offset = path.stat().st_size + len("D-0,2025-05-02,960440000220,")
    with path.open("ab") as handle:
        handle.write("D-0,2025-05-02,960440000220,Сяоми,Mi 15,,\n".encode("cp1251"))
    monkeypatch.setattr(declarations, "CHUNK_ROWS", 1000)
    monkeypatch.setattr(importing, "PLAIN_BLOCK_BYTES", 64 << 10)

    with pytest.raises(InvalidInput, match=rf"not UTF-8.*offset {offset}\b"):
        import_declarations(db_session, path, actor="t")
    db_session.rollback()

    assert counts(db_session) == (0, 0, 0, 0)
