"""Operator dumps judged as strictly as DIRBS-Core, each check shown by the smallest file."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import struct
import zipfile
from pathlib import Path

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ceir.apikeys.service import OWNER_OPERATOR, SCOPE_DUMPS_WRITE, create_key
from ceir.cli import app
from ceir.config import Settings
from ceir.network.models import DeviceFlag, DeviceState, OperatorImport
from tests.factories import make_imei, register_device
from tests.network.helpers import filler, read_list, run_day

DAY = dt.date(2026, 11, 1)
NAME = f"kcell_{DAY:%Y%m%d}_{DAY:%Y%m%d}.csv"
HEADER = "date,imei,imsi,msisdn\n"
GOOD = f"{DAY:%Y%m%d},{make_imei('35467819', 1)},401021234567890,77011234567\n"
runner = CliRunner()


def rows(count: int) -> str:
    """`count` ordinary rows, so that one odd row stays under the share thresholds."""
    return "".join(f"{DAY:%Y%m%d},{imei},{imsi},{msisdn}\n" for imei, imsi, msisdn in filler(count))


def cli_import(folder: Path, text: str, name: str = NAME) -> Result:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return runner.invoke(app, ["network", "import", "--operator", "kcell", str(path)])


def refused_for(result: Result, check: str) -> bool:
    said = " ".join(result.output.split())  # the console wraps long lines
    return result.exit_code == 1 and "Refused" in said and check in said


@pytest.fixture
def registered(db_session: Session) -> list[tuple[str, str, str]]:
    """Registered devices' ordinary traffic around the rows a test is about."""
    traffic = filler(60)
    for imei, _imsi, _msisdn in traffic:
        register_device(db_session, [imei])
    db_session.commit()
    return traffic


def test_imeis_that_lost_their_leading_zero_refuse_the_file(cli_env: None, tmp_path: Path) -> None:
    # 013577506015081 through a spreadsheet: a 14-digit number no TAC starts.
    damaged = f"{DAY:%Y%m%d},13577506015081,401021234567890,77011234567\n"
    result = cli_import(tmp_path, HEADER + rows(60) + damaged)
    assert refused_for(result, "leading_zeros_lost"), result.output


def test_spaces_around_an_imei_refuse_the_file_never_list_an_invalid_imei(
    cli_env: None, tmp_path: Path
) -> None:
    spaced = f"{DAY:%Y%m%d}, {make_imei('35467819', 4)} ,401021234567892,77011234568\n"
    result = cli_import(tmp_path, HEADER + rows(60) + spaced)
    assert refused_for(result, "malformed_rows"), result.output
    assert f" {make_imei('35467819', 4)} " in result.output  # the sample shows the value


def test_letters_in_an_msisdn_are_a_reported_error(cli_env: None, tmp_path: Path) -> None:
    bad = f"{DAY:%Y%m%d},{make_imei('35467819', 2)},401021234567891,7701ABC4567\n"
    result = cli_import(tmp_path, HEADER + rows(60) + bad)
    assert refused_for(result, "malformed_rows"), result.output
    assert "7701ABC4567" in result.output  # the sample names the row


def test_an_unknown_rat_code_is_a_reported_error(cli_env: None, tmp_path: Path) -> None:
    result = cli_import(tmp_path, "date,imei,imsi,msisdn,rat\n" + GOOD.rstrip("\n") + ",123\n")
    assert refused_for(result, "malformed_rows"), result.output
    good = cli_import(tmp_path, "date,imei,imsi,msisdn,rat\n" + GOOD.rstrip() + ",104|001\n")
    assert good.exit_code == 0, good.output


def test_a_trailing_comma_on_the_rows_refuses_the_file(cli_env: None, tmp_path: Path) -> None:
    result = cli_import(tmp_path, HEADER + GOOD.replace("\n", ",\n"))
    assert refused_for(result, "rows do not match the header"), result.output
    assert "line 2 has 5 fields" in " ".join(result.output.split())


def test_bad_imeis_and_bad_imsis_together_over_the_limit_refuse_the_file(
    cli_env: None, tmp_path: Path
) -> None:
    # 4 % bad IMEIs and 4 % bad IMSIs, each under its 5 %, 8 % together.
    bad_imeis = "".join(
        f"{DAY:%Y%m%d},ABCDEF{n:08d},401020000000001,77010000001\n" for n in range(4)
    )
    bad_imsis = "".join(
        f"{DAY:%Y%m%d},{make_imei('35467819', 800 + n)},4010200,77010000002\n" for n in range(4)
    )
    result = cli_import(tmp_path, HEADER + rows(92) + bad_imeis + bad_imsis)
    assert refused_for(result, "invalid_imei_or_imsi"), result.output


def test_a_month_sent_again_is_judged_against_the_last_days_with_data(
    cli_env: None, tmp_path: Path
) -> None:
    for offset in range(3):  # three ordinary days of 60 devices
        day = DAY + dt.timedelta(days=offset)
        text = HEADER + rows(60).replace(f"{DAY:%Y%m%d}", f"{day:%Y%m%d}")
        assert cli_import(tmp_path, text, f"kcell_{day:%Y%m%d}_{day:%Y%m%d}.csv").exit_code == 0
    # A day from two months before, with a third of today's volume: no history in the 30 days
    # before it, yet DIRBS (and now ceir) compare it with the last 30 days that have data.
    old = DAY - dt.timedelta(days=60)
    text = HEADER + rows(20).replace(f"{DAY:%Y%m%d}", f"{old:%Y%m%d}")
    result = cli_import(tmp_path, text, f"kcell_{old:%Y%m%d}_{old:%Y%m%d}.csv")
    assert refused_for(result, "only 20 distinct IMEIs"), result.output


def test_the_home_country_is_a_setting(
    cli_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ceir import config

    pakistani = f"{DAY:%Y%m%d},{make_imei('35467819', 3)},410011234567890,923001234567\n"
    monkeypatch.setenv("CEIR_NETWORK__OPERATORS", '{"kcell": ["41001"]}')
    monkeypatch.setenv("CEIR_NETWORK__HOME_MCC", "410")
    config.get_settings.cache_clear()
    assert refused_for(cli_import(tmp_path, HEADER + pakistani), "foreign_imsi_or_msisdn")

    monkeypatch.setenv("CEIR_NETWORK__HOME_MSISDN_PREFIXES", '["92"]')
    config.get_settings.cache_clear()
    result = cli_import(tmp_path, HEADER + pakistani)
    assert result.exit_code == 0, result.output


def test_dirbs_file_names_with_a_label_are_accepted(cli_env: None, tmp_path: Path) -> None:
    result = cli_import(tmp_path, HEADER + GOOD, f"kcell_msc-north_{DAY:%Y%m%d}_{DAY:%Y%m%d}.csv")
    assert result.exit_code == 0, result.output


def _zip(text: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("dump.csv", text)
    return buffer.getvalue()


def damaged_files() -> dict[str, tuple[str, bytes]]:
    csv = (HEADER + GOOD * 2000).encode()
    good_zip, good_gzip = _zip(csv), gzip.compress(csv)
    stem = f"kcell_{DAY:%Y%m%d}_{DAY:%Y%m%d}"
    # The zip says it holds 100 bytes; inflating it gives far more.
    understated = good_zip.replace(struct.pack("<I", len(csv)), struct.pack("<I", 100))
    return {
        "not a zip": (f"{stem}.zip", csv),
        "truncated zip": (f"{stem}.zip", good_zip[: len(good_zip) // 2]),
        "understated zip": (f"{stem}.zip", understated),
        "not gzip": (f"{stem}.csv.gz", csv),
        "truncated gzip": (f"{stem}.csv.gz", good_gzip[: len(good_gzip) // 2]),
        "binary junk": (f"{stem}.csv", bytes(range(256)) * 64),
        "UTF-16": (f"{stem}.csv", (HEADER + GOOD).encode("utf-16")),
        "gzip bomb": (f"{stem}.csv.gz", gzip.compress(b"0" * 200_000)),
    }


@pytest.mark.parametrize("damage", list(damaged_files()))
def test_a_damaged_archive_is_a_recorded_refusal_over_the_api(
    app_client: TestClient, settings: Settings, db_session: Session, damage: str
) -> None:
    settings.network.max_inflated_bytes = 100_000
    _, secret = create_key(
        db_session,
        owner_kind=OWNER_OPERATOR,
        owner="kcell",
        scopes={SCOPE_DUMPS_WRITE},
        label="kcell dumps",
        created_by="test",
    )
    db_session.commit()
    name, content = damaged_files()[damage]

    answer = app_client.post(
        "/api/v1/operators/kcell/dumps",
        params={"filename": name},
        content=content,
        headers={"Authorization": f"Bearer {secret}"},
    )

    assert answer.status_code == 422, answer.text
    assert answer.json()["reasons"]
    db_session.expire_all()
    assert db_session.scalars(select(OperatorImport.status)).all() == ["refused"]


def test_a_damaged_archive_is_a_recorded_refusal_by_the_cli(
    cli_env: None, tmp_path: Path, db_session: Session
) -> None:
    for number, (name, content) in enumerate(damaged_files().values()):
        if "bomb" in name:
            continue
        path = tmp_path / str(number) / name
        path.parent.mkdir()
        path.write_bytes(content)
        result = runner.invoke(app, ["network", "import", "--operator", "kcell", str(path)])
        assert result.exit_code == 1 and "Refused" in result.output, (name, result.output)


def test_a_formula_sent_as_an_imei_never_reaches_a_list(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list[tuple[str, str, str]]
) -> None:
    formula = '=HYPERLINK("http://x.example/a","call")'
    traffic = [*registered, (formula, "401020000009001", "77010009001")]
    with pytest.raises(Exception, match="malformed_rows"):
        run_day(db_session, settings, tmp_path, DAY, {"kcell": traffic})
    db_session.rollback()

    # Even where a network's rows may be tolerated, the row itself is rejected, never listed.
    settings.network.max_share_malformed_rows = 0.05
    report = run_day(
        db_session,
        settings,
        tmp_path,
        DAY,
        {"kcell": [*traffic, ("@SUM(1+1)*12345678", "401020000009002", "77010009002")]},
    )
    assert report.counts["condition_invalid_imei"] == 0
    for name in ("notification_full.csv.gz", "block_full.csv.gz"):
        for row in read_list(settings, report.run_id, "kcell", name):
            assert not row["imei"].startswith(("=", "+", "-", "@")), row


def test_a_device_seen_only_without_an_imsi_is_not_heading_for_a_block(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list[tuple[str, str, str]]
) -> None:
    silent = make_imei("35467819", 900_002)
    report = run_day(
        db_session, settings, tmp_path, DAY, {"kcell": [*registered, (silent, "", "77010009002")]}
    )
    assert db_session.scalars(select(DeviceState)).all() == []
    assert report.counts["devices_not_reachable"] == 1


def test_rows_without_an_msisdn_are_counted_not_reachable_and_kept_off_the_sms_list(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list[tuple[str, str, str]]
) -> None:
    phone = make_imei("35467819", 900_003)
    only_imsi = make_imei("35467819", 900_004)
    traffic = [
        *registered,
        (phone, "401020000009003", "77010009003"),
        (phone, "401020000009004", ""),  # its second SIM, whose number the network did not give
        (only_imsi, "401020000009005", ""),
    ]
    report = run_day(db_session, settings, tmp_path, DAY, {"kcell": traffic})

    notices = read_list(settings, report.run_id, "kcell", "notification_full.csv.gz")
    assert [(n["imei"], n["msisdn"]) for n in notices] == [(phone[:14], "77010009003")]
    assert report.counts["notifications_not_reachable"] == 1
    # A device nobody can be told about is not notified at all (and so never blocked).
    assert {s.imei for s in db_session.scalars(select(DeviceState))} == {phone[:14]}
    assert report.counts["devices_not_reachable"] == 1


def test_a_clone_seen_with_roamers_imsis_is_detected_unless_the_setting_says_home_only(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list[tuple[str, str, str]]
) -> None:
    clone = make_imei("35467819", 900_005)
    register_device(db_session, [clone])
    home = [(clone, f"4010290000000{n:02d}", f"770200000{n:02d}") for n in range(3)]
    roamers = [(clone, f"2500190000000{n:02d}", f"791600000{n:02d}") for n in range(4)]
    run_day(db_session, settings, tmp_path, DAY, {"kcell": [*registered, *home, *roamers]})
    assert db_session.scalars(select(DeviceFlag.imei)).all() == [clone[:14]]

    settings.network.duplicate_counts_foreign_imsis = False
    run_day(db_session, settings, tmp_path, DAY + dt.timedelta(days=1), {"kcell": registered})
    assert db_session.scalars(select(DeviceFlag.imei)).all() == []
