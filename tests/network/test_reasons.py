"""Every block carries a reason anyone can read: one code from one list, with its evidence, on the
public check, the operators' lists and the SMS."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ceir.config import Settings
from ceir.network import reasons
from ceir.network.models import DeviceState
from ceir.network.rules import Condition
from ceir.network.signing import public_key_pem
from tests.factories import add_run, add_subscriber, make_imei, register_device
from tests.network.helpers import filler, read_list, run_day

DOCS = Path(__file__).resolve().parents[2] / "docs"
DAY1, DAY2 = dt.date(2026, 11, 1), dt.date(2026, 12, 2)
RU_PHONE = (make_imei("35467819", 930_001), "401020000093001", "77020093001")
KK_PHONE = (make_imei("35467819", 930_002), "401020000093002", "77020093002")


def test_every_reason_code_is_documented_and_worded_in_each_language() -> None:
    operators = (DOCS / "operators.md").read_text(encoding="utf-8")
    table = operators.split("### Reason codes", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE)
    assert documented == [r.value for r in reasons.REASONS]
    assert all(set(words) == set(Condition) for words in reasons.SMS_WORDS.values())
    assert set(reasons.LABELS) == set(Condition)
    assert reasons.primary("duplicate|not_registered") is Condition.NOT_REGISTERED
    assert reasons.primary("") is None


def test_lists_and_sms_carry_the_reason_code_and_its_evidence(
    db_session: Session, settings: Settings, tmp_path: Path, app_client: TestClient
) -> None:
    traffic = filler(60)
    for imei, _imsi, _msisdn in traffic:
        register_device(db_session, [imei])
    add_subscriber(db_session, RU_PHONE[2], "900101300011", language="ru")
    add_subscriber(db_session, KK_PHONE[2], "900101300012", language="kk")
    first = run_day(db_session, settings, tmp_path, DAY1, {"kcell": [*traffic, RU_PHONE]})
    second = run_day(db_session, settings, tmp_path, DAY2, {"kcell": [*traffic, KK_PHONE]})

    blocked = read_list(settings, second.run_id, "kcell", "block_full.csv.gz")
    assert [(r["imei"], r["reasons"], r["reason_code"], r["first_seen"]) for r in blocked] == [
        (RU_PHONE[0][:14], "not_registered", "not_registered", "2026-11-01")
    ]
    folder = settings.lists_dir / str(second.run_id) / "kcell"
    header = gzip.decompress((folder / "block_delta.csv.gz").read_bytes()).decode().split("\n")[0]
    # Earlier columns keep their places; the new ones come last, after change_type.
    assert header == "imei,block_date,reasons,change_type,reason_code,first_seen"
    header = gzip.decompress((folder / "notification_full.csv.gz").read_bytes()).decode()
    assert header.startswith(
        "imei,imsi,msisdn,block_date,reasons,language,sms_text,reason_code,first_seen\n"
    )
    notified = read_list(settings, second.run_id, "kcell", "notification_delta.csv.gz")
    assert {(r["imei"], r["reason_code"], r["first_seen"], r["change_type"]) for r in notified} == {
        (KK_PHONE[0][:14], "not_registered", "2026-12-02", "new"),
        (RU_PHONE[0][:14], "not_registered", "2026-11-01", "blacklisted"),
    }
    kk = next(r["sms_text"] for r in notified if r["imei"] == KK_PHONE[0][:14])
    assert "коды not_registered, 02.12.2026 бастап" in kk and "тізілімде жоқ" in kk
    ru = read_list(settings, first.run_id, "kcell", "notification_full.csv.gz")[0]["sms_text"]
    assert "нет в реестре; код not_registered, с 01.11.2026" in ru and "до 01.12.2026" in ru

    # The manifest still lists the files as they are, and its signature holds.
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    manifest = (folder / "manifest.json").read_bytes()
    key = load_pem_public_key(public_key_pem(settings))
    key.verify((folder / "manifest.json.sig").read_bytes(), manifest)  # type: ignore[union-attr]
    rows = {e["name"]: e["rows"] for e in json.loads(manifest)["files"]}
    assert rows["block_full.csv.gz"] == 1


def test_the_public_check_names_the_reason_and_the_evidence(
    app_client: TestClient, db_session: Session
) -> None:
    blocked, notified, stolen = (make_imei("35467819", n) for n in (931, 932, 933))
    db_session.add_all(
        [
            DeviceState(
                imei=blocked[:14],
                state="blocked",
                reasons="unknown_tac|not_registered",
                first_noncompliant=dt.date(2026, 10, 1),
                block_date=dt.date(2026, 10, 31),
                updated_run=1,
            ),
            DeviceState(
                imei=notified[:14],
                state="notified",
                reasons="not_registered",
                first_noncompliant=dt.date(2026, 11, 20),
                block_date=dt.date(2026, 12, 20),
                updated_run=1,
            ),
        ]
    )
    from ceir.network.models import StolenDevice

    db_session.add(
        StolenDevice(imei=stolen[:14], reported_at=dt.datetime.now(dt.UTC), source="police")
    )
    register_device(db_session, [stolen])
    registered = make_imei("35467819", 934)
    register_device(db_session, [registered])
    db_session.commit()
    add_run(db_session)  # states come from a run: the check's index is then rebuilt

    answer = app_client.get(f"/api/v1/imei/{blocked}?lang=ru").json()
    assert answer["verdict"] == "blocked"
    assert answer["reason"] == {
        "code": "unknown_tac",
        "text": "TAC не выделен",
        "first_seen": "2026-10-01",
        "grace_end": "2026-10-31",
    }
    kk = app_client.get(f"/api/v1/imei/{notified}?lang=kk").json()
    assert (kk["reason"]["code"], kk["reason"]["grace_end"]) == ("not_registered", "2026-12-20")
    assert kk["reason"]["text"] == "тіркелмеген"
    theft = app_client.get(f"/api/v1/imei/{stolen}?lang=en").json()
    assert theft["reason"]["code"] == "stolen" and theft["reason"]["first_seen"] is None
    assert app_client.get(f"/api/v1/imei/{registered}").json()["reason"] is None

    page = app_client.get(f"/?imei={notified}&lang=kk").text
    assert "<code>not_registered</code>" in page
    assert "2026 ж. 20 желтоқсан" in page or "20 желтоқсан" in page
    assert "Жеңілдік мерзімінің соңы" in page
