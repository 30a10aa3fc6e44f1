"""The operators' API: each key reaches only its own operator's lists; downloads resume; dumps."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ceir.apikeys.deps import FAILED_AUTHENTICATIONS_PER_MINUTE
from ceir.apikeys.service import (
    SCOPE_CHECK,
    SCOPE_DUMPS_WRITE,
    SCOPE_LISTS_READ,
    create_key,
    revoke,
)
from ceir.config import Settings
from ceir.db import utcnow
from ceir.errors import FileRejected
from ceir.network import api as network_api
from ceir.network import dumps, signing
from tests.factories import add_run, make_imei, publish_list_file

BASE = "/api/v1/operators"
GUIDE = Path(__file__).parents[2] / "docs" / "operators.md"


def _key(
    db: Session,
    owner: str = "kcell",
    scopes: set[str] | None = None,
    owner_kind: str = "operator",
) -> dict[str, str]:
    _, plaintext = create_key(
        db,
        owner_kind=owner_kind,
        owner=owner,
        scopes=scopes or {SCOPE_LISTS_READ},
        label="test",
        created_by="test",
    )
    db.commit()
    return {"Authorization": f"Bearer {plaintext}"}


@pytest.fixture
def kcell(db_session: Session) -> dict[str, str]:
    return _key(db_session, "kcell")


def test_a_key_lists_its_operators_runs_newest_first_with_their_files(
    app_client: TestClient, db_session: Session, settings: Settings, kcell: dict[str, str]
) -> None:
    older = add_run(db_session, dt.date(2026, 11, 19))
    newer = add_run(db_session, dt.date(2026, 11, 20))
    add_run(db_session, dt.date(2026, 11, 21), finished=False)  # still writing: not shown
    for run in (older, newer):
        publish_list_file(db_session, settings.lists_dir, run, "kcell", rows=[["1" * 14, "x", "y"]])
    delta = publish_list_file(
        db_session, settings.lists_dir, newer, "kcell", "block_delta.csv.gz", variant="delta"
    )
    publish_list_file(db_session, settings.lists_dir, newer, "beeline", "beeline_only.csv.gz")

    answer = app_client.get(f"{BASE}/kcell/runs", headers=kcell)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["operator"] == "kcell" and body["next_before"] is None
    assert [r["run_id"] for r in body["runs"]] == [newer.id, older.id]
    files = body["runs"][0]["files"]
    assert [f["name"] for f in files] == ["block_full.csv.gz", "block_delta.csv.gz"]
    assert files[1] == {
        "name": "block_delta.csv.gz",
        "kind": "block",
        "variant": "delta",
        "rows": 0,
        "size": delta.size,
        "sha256": delta.sha256,
        "url": f"http://testserver{BASE}/kcell/runs/{newer.id}/files/block_delta.csv.gz",
    }


def test_runs_come_in_pages(
    app_client: TestClient, db_session: Session, settings: Settings, kcell: dict[str, str]
) -> None:
    runs = [add_run(db_session, dt.date(2026, 11, day)) for day in (1, 2, 3)]
    for run in runs:
        publish_list_file(db_session, settings.lists_dir, run, "kcell")

    first = app_client.get(f"{BASE}/kcell/runs", params={"limit": 2}, headers=kcell).json()
    assert [r["run_id"] for r in first["runs"]] == [runs[2].id, runs[1].id]
    second = app_client.get(
        f"{BASE}/kcell/runs", params={"limit": 2, "before": first["next_before"]}, headers=kcell
    ).json()
    assert [r["run_id"] for r in second["runs"]] == [runs[0].id]
    assert second["next_before"] is None


def test_latest_run_and_one_run_by_id(
    app_client: TestClient, db_session: Session, settings: Settings, kcell: dict[str, str]
) -> None:
    assert app_client.get(f"{BASE}/kcell/runs/latest", headers=kcell).status_code == 404
    older, newer = add_run(db_session), add_run(db_session)
    for run in (older, newer):
        publish_list_file(db_session, settings.lists_dir, run, "kcell")

    latest = app_client.get(f"{BASE}/kcell/runs/latest", headers=kcell)
    assert latest.status_code == 200 and latest.json()["run_id"] == newer.id
    by_id = app_client.get(f"{BASE}/kcell/runs/{older.id}", headers=kcell)
    assert by_id.status_code == 200 and by_id.json()["run_id"] == older.id


def test_a_key_never_reaches_another_operators_runs_or_files(
    app_client: TestClient, db_session: Session, settings: Settings, kcell: dict[str, str]
) -> None:
    run = add_run(db_session)
    publish_list_file(db_session, settings.lists_dir, run, "beeline")
    publish_list_file(db_session, settings.lists_dir, run, "kcell", "kcell.csv.gz")

    for path in (
        f"{BASE}/beeline/runs",
        f"{BASE}/beeline/runs/latest",
        f"{BASE}/beeline/runs/{run.id}",
        f"{BASE}/beeline/runs/{run.id}/files/block_full.csv.gz",
        f"{BASE}/kcell/runs/{run.id}/files/block_full.csv.gz",  # beeline's name, kcell's path
        f"{BASE}/megafon/runs",
    ):
        answer = app_client.get(path, headers=kcell)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"


def test_a_partner_key_cannot_pull_lists(
    app_client: TestClient, db_session: Session, settings: Settings
) -> None:
    partner = _key(db_session, "shop", {SCOPE_CHECK}, owner_kind="partner")
    assert app_client.get(f"{BASE}/kcell/runs", headers=partner).status_code == 403


def test_without_a_key_the_answer_is_401_with_a_bearer_challenge(app_client: TestClient) -> None:
    answer = app_client.get(f"{BASE}/kcell/runs")

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="ceir"'
    assert answer.json()["code"] == "unauthorized"
    wrong = app_client.get(f"{BASE}/kcell/runs", headers={"Authorization": "Bearer ceir_x_y"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == 'Bearer realm="ceir", error="invalid_token"'


def test_the_key_may_come_in_x_api_key(
    app_client: TestClient, db_session: Session, kcell: dict[str, str]
) -> None:
    plaintext = kcell["Authorization"].removeprefix("Bearer ")
    answer = app_client.get(f"{BASE}/kcell/runs", headers={"X-API-Key": plaintext})
    assert answer.status_code == 200


def test_a_revoked_key_stops_working_at_once(
    app_client: TestClient, db_session: Session, kcell: dict[str, str]
) -> None:
    assert app_client.get(f"{BASE}/kcell/runs", headers=kcell).status_code == 200
    key_id = kcell["Authorization"].split("_")[1]

    revoke(db_session, key_id, "officer", utcnow())
    db_session.commit()

    assert app_client.get(f"{BASE}/kcell/runs", headers=kcell).status_code == 401


def test_repeated_failed_keys_from_one_address_are_refused_even_with_a_good_key(
    app_client: TestClient, kcell: dict[str, str]
) -> None:
    bad = {"Authorization": "Bearer ceir_000000000000_guess"}
    answers = [
        app_client.get(f"{BASE}/kcell/runs", headers=bad).status_code
        for _ in range(FAILED_AUTHENTICATIONS_PER_MINUTE + 1)
    ]

    assert answers == [401] * FAILED_AUTHENTICATIONS_PER_MINUTE + [429]
    locked = app_client.get(f"{BASE}/kcell/runs", headers=kcell)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1


@pytest.fixture
def published(db_session: Session, settings: Settings) -> tuple[str, bytes]:
    rows = [[make_imei(serial=n), "2026-12-20", "not_registered"] for n in range(200)]
    file = publish_list_file(
        db_session, settings.lists_dir, add_run(db_session), "kcell", rows=rows
    )
    data = (settings.lists_dir / str(file.run_id) / "kcell" / file.name).read_bytes()
    return f"{BASE}/kcell/runs/{file.run_id}/files/{file.name}", data


def test_a_list_file_downloads_whole_and_is_the_gzip_csv_listed(
    app_client: TestClient, kcell: dict[str, str], published: tuple[str, bytes]
) -> None:
    url, data = published

    answer = app_client.get(url, headers=kcell)

    assert answer.status_code == 200
    assert answer.content == data
    assert answer.headers["content-type"] == "application/gzip"
    assert answer.headers["accept-ranges"] == "bytes"
    lines = gzip.decompress(answer.content).decode().splitlines()
    assert lines[0] == "imei,block_date,reasons" and len(lines) == 201


def test_a_broken_download_resumes_with_range(
    app_client: TestClient, kcell: dict[str, str], published: tuple[str, bytes]
) -> None:
    url, data = published

    answer = app_client.get(url, headers={**kcell, "Range": "bytes=100-"})

    assert answer.status_code == 206
    assert answer.content == data[100:]
    assert answer.headers["content-range"] == f"bytes 100-{len(data) - 1}/{len(data)}"
    middle = app_client.get(url, headers={**kcell, "Range": "bytes=10-19"})
    assert middle.status_code == 206 and middle.content == data[10:20]


def test_a_range_beyond_the_file_is_416(
    app_client: TestClient, kcell: dict[str, str], published: tuple[str, bytes]
) -> None:
    url, data = published

    answer = app_client.get(url, headers={**kcell, "Range": f"bytes={len(data) + 10}-"})

    assert answer.status_code == 416
    assert answer.headers["content-range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "..%5C..%5Cceir.db",
        "%2e%2e",
        "block_full.csv.gz%00",
        "BLOCK_FULL.CSV.GZ",
    ],
)
def test_only_recorded_names_are_served_never_a_path(
    app_client: TestClient,
    kcell: dict[str, str],
    published: tuple[str, bytes],
    settings: Settings,
    name: str,
) -> None:
    url, _ = published
    (settings.data_dir / "ceir.secret").write_text("not for operators")

    answer = app_client.get(url.rsplit("/", 1)[0] + "/" + name, headers=kcell)

    assert answer.status_code == (422 if "%00" in name else 404)  # a NUL is refused on sight
    assert b"not for operators" not in answer.content


def test_a_recorded_name_that_escapes_its_directory_is_not_served(
    app_client: TestClient, db_session: Session, settings: Settings, kcell: dict[str, str]
) -> None:
    run = add_run(db_session)
    publish_list_file(db_session, settings.lists_dir, run, "kcell")
    evil = publish_list_file(db_session, settings.lists_dir, run, "kcell", "x.csv.gz")
    evil.name = "../../../ceir.secret"
    db_session.commit()
    (settings.data_dir / "ceir.secret").write_text("not for operators")

    answer = app_client.get(f"{BASE}/kcell/runs/{run.id}/files/..%2F..%2F..%2Fceir.secret")
    assert answer.status_code in (401, 404)
    answer = app_client.get(
        f"{BASE}/kcell/runs/{run.id}/files/..%2F..%2F..%2Fceir.secret", headers=kcell
    )
    assert answer.status_code == 404


def test_the_signing_key_is_public_and_verifies_what_ceir_signs(
    app_client: TestClient, settings: Settings
) -> None:
    answer = app_client.get(f"{BASE}/signing-key")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-pem-file"
    public = serialization.load_pem_public_key(answer.content)
    assert isinstance(public, Ed25519PublicKey)
    manifest = b'{"files": []}'
    public.verify(signing.sign(settings, manifest), manifest)  # raises if it does not match


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_documented_openssl_command_verifies_a_manifest(
    app_client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    manifest = json.dumps({"files": [{"name": "block_full.csv.gz", "rows": 1}]}).encode()
    (tmp_path / "manifest.json").write_bytes(manifest)
    (tmp_path / "manifest.json.sig").write_bytes(signing.sign(settings, manifest))
    (tmp_path / "ceir.pub").write_bytes(app_client.get(f"{BASE}/signing-key").content)
    # The very command operators are told to run.
    [documented] = [line for line in GUIDE.read_text().splitlines() if "pkeyutl" in line]
    command = shlex.split(documented)

    good = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert "Signature Verified Successfully" in good.stdout, good.stderr
    (tmp_path / "manifest.json").write_bytes(manifest.replace(b'"rows": 1', b'"rows": 2'))
    bad = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode != 0


# Pushing dumps. The first tests replace the import itself, to pin down only how the upload is
# received; the last ones run the real import.


@pytest.fixture
def pusher(db_session: Session) -> dict[str, str]:
    return _key(db_session, "kcell", {SCOPE_LISTS_READ, SCOPE_DUMPS_WRITE})


@pytest.fixture
def imports(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Calls of a stand-in import_dump that records what it received."""
    calls: list[dict[str, Any]] = []

    def fake_import(db: Session, path: Path, **kwargs: Any) -> dumps.DumpReport:
        calls.append({"path": path, "data": path.read_bytes(), **kwargs})
        report = dumps.DumpReport("kcell", path.name, "0" * 64)
        if b"refuse" in path.read_bytes():
            report.reasons.append("too many nulls")
            raise FileRejected("refused", report)
        report.status = "loaded"
        return report

    monkeypatch.setattr(dumps, "import_dump", fake_import)
    return calls


def test_a_dump_pushed_as_raw_body_lands_in_the_inbox_and_is_imported(
    app_client: TestClient, pusher: dict[str, str], settings: Settings, imports: list[Any]
) -> None:
    answer = app_client.post(
        f"{BASE}/kcell/dumps",
        params={"filename": "kcell_20261101_20261130.csv"},
        content=b"date,imei,imsi,msisdn\n",
        headers=pusher,
    )

    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "loaded"
    assert answer.json()["filename"] == "kcell_20261101_20261130.csv"
    [call] = imports
    assert call["data"] == b"date,imei,imsi,msisdn\n"
    assert call["operator"] == "kcell"
    assert call["actor"] == f"operator:kcell:{pusher['Authorization'].split('_')[1]}"
    assert call["path"].parent.parent == settings.data_dir / "inbox" / "kcell"


def test_a_dump_pushed_as_multipart_keeps_a_sanitised_name(
    app_client: TestClient, pusher: dict[str, str], settings: Settings, imports: list[Any]
) -> None:
    answer = app_client.post(
        f"{BASE}/kcell/dumps",
        files={"file": ("../../evil name;.csv", b"a,b\n1,2\n", "text/csv")},
        headers=pusher,
    )

    assert answer.status_code == 201, answer.text
    [call] = imports
    assert call["path"].name == "evil_name_.csv"
    assert call["data"] == b"a,b\n1,2\n"
    assert call["path"].resolve().is_relative_to((settings.data_dir / "inbox" / "kcell").resolve())


def test_a_refused_dump_is_a_422_problem_with_the_report(
    app_client: TestClient, pusher: dict[str, str], imports: list[Any]
) -> None:
    answer = app_client.post(
        f"{BASE}/kcell/dumps", params={"filename": "kcell.csv"}, content=b"refuse", headers=pusher
    )

    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "file_rejected"
    assert body["reasons"] == ["too many nulls"]
    assert body["report"]["status"] == "refused"
    assert body["report"]["reasons"] == ["too many nulls"]


def test_a_raw_dump_needs_a_name_and_content(
    app_client: TestClient, pusher: dict[str, str], imports: list[Any]
) -> None:
    unnamed = app_client.post(f"{BASE}/kcell/dumps", content=b"x", headers=pusher)
    assert unnamed.status_code == 422 and "filename" in unnamed.json()["detail"]
    empty = app_client.post(
        f"{BASE}/kcell/dumps", params={"filename": "kcell.csv"}, content=b"", headers=pusher
    )
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    assert imports == []


def test_a_dump_over_the_size_limit_is_refused_and_not_kept(
    app_client: TestClient,
    pusher: dict[str, str],
    settings: Settings,
    imports: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(network_api, "MAX_DUMP_BYTES", 1000)
    monkeypatch.setattr(network_api, "MULTIPART_OVERHEAD", 500)

    def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 200  # streamed without Content-Length: the limit acts while receiving

    raw = app_client.post(
        f"{BASE}/kcell/dumps", params={"filename": "kcell.csv"}, content=chunks(), headers=pusher
    )
    declared = app_client.post(
        f"{BASE}/kcell/dumps",
        params={"filename": "kcell.csv"},
        content=b"x" * 1600,
        headers=pusher,
    )
    multipart = app_client.post(
        f"{BASE}/kcell/dumps", files={"file": ("kcell.csv", b"x" * 1200)}, headers=pusher
    )

    assert [raw.status_code, declared.status_code, multipart.status_code] == [413, 413, 413]
    assert imports == []
    inbox = settings.data_dir / "inbox" / "kcell"
    assert not inbox.exists() or not any(inbox.rglob("*.csv"))


def test_a_key_without_dumps_write_cannot_push(
    app_client: TestClient, kcell: dict[str, str], imports: list[Any]
) -> None:
    answer = app_client.post(
        f"{BASE}/kcell/dumps", params={"filename": "kcell.csv"}, content=b"x", headers=kcell
    )
    assert answer.status_code == 403
    assert answer.json()["code"] == "forbidden"
    assert imports == []


def test_a_key_cannot_push_for_another_operator(
    app_client: TestClient, pusher: dict[str, str], imports: list[Any]
) -> None:
    answer = app_client.post(
        f"{BASE}/beeline/dumps", params={"filename": "b.csv"}, content=b"x", headers=pusher
    )
    assert answer.status_code == 404
    assert imports == []


def _dump(days_ago: int = 2, rows: int = 50) -> tuple[str, bytes]:
    day = dt.date.today() - dt.timedelta(days=days_ago)
    lines = ["date,imei,imsi,msisdn"] + [
        f"{day:%Y%m%d},{make_imei(serial=n)},40102{n:010d},7701{n:07d}" for n in range(rows)
    ]
    return f"kcell_{day:%Y%m%d}_{day:%Y%m%d}.csv", ("\n".join(lines) + "\n").encode()


def test_a_good_dump_is_loaded_once_then_recognised(
    app_client: TestClient, pusher: dict[str, str]
) -> None:
    name, data = _dump()

    first = app_client.post(
        f"{BASE}/kcell/dumps", files={"file": (name, data, "text/csv")}, headers=pusher
    )
    again = app_client.post(
        f"{BASE}/kcell/dumps", params={"filename": name}, content=data, headers=pusher
    )

    assert first.status_code == 201, first.text
    assert first.json()["status"] == "loaded"
    assert first.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "already_imported"


def test_a_bad_dump_is_refused_with_its_reasons(
    app_client: TestClient, pusher: dict[str, str]
) -> None:
    name, _ = _dump()

    answer = app_client.post(
        f"{BASE}/kcell/dumps",
        params={"filename": name},
        content=b"day,imei\n20261101,1\n",
        headers=pusher,
    )

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "file_rejected"
    assert any("header" in reason for reason in answer.json()["reasons"])
