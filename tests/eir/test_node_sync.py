"""EIR nodes pull a signed snapshot and journal from the centre and never use unsigned data."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ceir.apikeys.service import SCOPE_EIR_SYNC, SCOPE_LISTS_READ, create_key, revoke
from ceir.config import Settings
from ceir.db import utcnow
from ceir.eir import journal
from ceir.eir.index import GAP_SECONDS, MAX_GAPS, DeviceCode, IndexHolder
from ceir.eir.node import NodeSettings, NodeSync
from ceir.eir.service import IndexRefresher
from ceir.network.signing import load_or_create_key
from ceir.registry.models import RegistrationSource
from ceir.registry.service import register_device
from ceir.web.app import create_app

IMEI_KEY = "35467819000011"


def _key(db: Session, scopes: set[str], owner_kind: str = "operator", owner: str = "kcell") -> str:
    _, plaintext = create_key(
        db, owner_kind=owner_kind, owner=owner, scopes=scopes, label="node", created_by="test"
    )
    db.commit()
    return plaintext


def _register(db: Session, key: str = IMEI_KEY) -> None:
    register_device(
        db, imei_keys=[key], source=RegistrationSource.CUSTOMS, actor="test", evidence={}
    )
    db.commit()


def _node(
    client: TestClient, settings: Settings, tmp_path: Path, api_key: str
) -> tuple[NodeSync, IndexHolder]:
    holder = IndexHolder()
    public = load_or_create_key(settings).public_key()
    node_settings = NodeSettings(
        source="http://testserver", api_key=api_key, public_key=public, folder=tmp_path / "node"
    )
    return NodeSync(holder, node_settings, client=client), holder


def test_snapshot_needs_an_operator_key_with_the_eir_sync_scope(
    app_client: TestClient, db_session: Session
) -> None:
    assert app_client.get("/api/v1/eir/snapshot").status_code == 401
    lists_only = _key(db_session, {SCOPE_LISTS_READ})
    reply = app_client.get(
        "/api/v1/eir/snapshot", headers={"Authorization": f"Bearer {lists_only}"}
    )
    assert reply.status_code == 403


def test_snapshot_manifest_is_signed_and_the_file_supports_etag_and_range(
    app_client: TestClient, db_session: Session, settings: Settings
) -> None:
    _register(db_session)
    auth = {"Authorization": f"Bearer {_key(db_session, {SCOPE_EIR_SYNC})}"}
    reply = app_client.get("/api/v1/eir/snapshot", headers=auth)
    assert reply.status_code == 200
    public = load_or_create_key(settings).public_key()
    public.verify(base64.b64decode(reply.headers["Ceir-Signature"]), reply.content)  # raises
    manifest = json.loads(reply.content)

    url = f"/api/v1/eir/snapshots/{manifest['name']}"
    whole = app_client.get(url, headers=auth)
    assert whole.status_code == 200
    assert hashlib.sha256(whole.content).hexdigest() == manifest["sha256"]
    assert whole.headers["etag"] == f'"{manifest["sha256"]}"'
    assert len(whole.content) == manifest["size"]

    again = app_client.get(url, headers={**auth, "If-None-Match": whole.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    tail = app_client.get(url, headers={**auth, "Range": "bytes=100-"})
    assert tail.status_code == 206
    assert tail.content == whole.content[100:]
    assert app_client.get("/api/v1/eir/snapshots/..%2Fceir.db", headers=auth).status_code == 404


def test_journal_pages_are_signed_and_carry_changes_after_an_id(
    app_client: TestClient, db_session: Session, settings: Settings
) -> None:
    auth = {"Authorization": f"Bearer {_key(db_session, {SCOPE_EIR_SYNC})}"}
    _register(db_session, "35467819000011")
    _register(db_session, "35467819000029")
    first = app_client.get("/api/v1/eir/journal", params={"limit": 1}, headers=auth)
    page = json.loads(first.content)
    load_or_create_key(settings).public_key().verify(
        base64.b64decode(first.headers["Ceir-Signature"]), first.content
    )
    assert [e[1:] for e in page["entries"]] == [[35467819000011, DeviceCode.ALLOWED.value]]
    assert page["more"] is True
    rest = app_client.get(
        "/api/v1/eir/journal", params={"after": page["entries"][0][0]}, headers=auth
    ).json()
    assert [e[1] for e in rest["entries"]] == [35467819000029]
    assert rest["more"] is False and rest["last_id"] == rest["entries"][-1][0]


def test_node_serves_the_centres_snapshot_and_journal(
    app_client: TestClient, db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    node, holder = _node(app_client, settings, tmp_path, _key(db_session, {SCOPE_EIR_SYNC}))
    node.cycle()
    assert node.sync_error is None
    assert holder.current.name.startswith("eir-index-")
    assert holder.current.code_of(int(IMEI_KEY)) is None

    _register(db_session)  # after the snapshot: reaches the node through the journal
    node.cycle()
    assert holder.current.code_of(int(IMEI_KEY)) == DeviceCode.ALLOWED
    assert node.last_error is None


def test_node_refuses_a_snapshot_signed_by_another_key_and_keeps_the_old_one(
    app_client: TestClient, db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    api_key = _key(db_session, {SCOPE_EIR_SYNC})
    node, holder = _node(app_client, settings, tmp_path, api_key)
    node.cycle()
    assert node.sync_error is None

    # The centre's answers are now signed by a key the node does not trust.
    impostor = NodeSettings(
        source="http://testserver",
        api_key=api_key,
        public_key=Ed25519PrivateKey.generate().public_key(),
        folder=tmp_path / "node",
    )
    node.settings = impostor
    node.holder.current.name = "other"  # make the node want a snapshot
    node.cycle()
    assert node.sync_error is not None and "bad signature" in node.sync_error
    assert holder.current.name == "other"  # nothing swapped in
    assert node.metrics.failures.labels("signature")._value.get() == 1  # type: ignore[attr-defined]


def test_node_restarts_from_its_last_verified_snapshot_without_the_centre(
    app_client: TestClient, db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    _register(db_session)
    node, _holder = _node(app_client, settings, tmp_path, _key(db_session, {SCOPE_EIR_SYNC}))
    node.cycle()

    restarted, holder = _node(app_client, settings, tmp_path, "wrong-key")
    assert restarted.load_local()
    assert holder.current.code_of(int(IMEI_KEY)) == DeviceCode.ALLOWED

    tampered = next((tmp_path / "node").glob("eir-index-*.arrow"))
    tampered.write_bytes(tampered.read_bytes() + b"x")
    again, holder = _node(app_client, settings, tmp_path, "wrong-key")
    assert not again.load_local()
    assert holder.current.name == "empty"


def test_node_health_turns_degraded_past_the_staleness_limit(
    app_client: TestClient, db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    node, _holder = _node(app_client, settings, tmp_path, _key(db_session, {SCOPE_EIR_SYNC}))
    node.cycle()
    assert node.last_error is None
    node.last_success -= 3600  # an hour without a sync
    assert node.is_stale()
    assert node.last_error is not None and node.last_error.startswith("stale")


def test_the_centre_exports_its_snapshot_age_journal_and_list_run_metrics(
    settings: Settings, engine: Engine, db_session: Session
) -> None:
    settings = settings.model_copy(update={"metrics_token": "scrape"})
    with TestClient(create_app(settings, engine)) as client:
        auth = {"Authorization": f"Bearer {_key(db_session, {SCOPE_EIR_SYNC})}"}
        _register(db_session)
        client.get("/api/v1/eir/snapshot", headers=auth)  # makes the first snapshot
        text = client.get("/metrics", headers={"Authorization": "Bearer scrape"}).text
    assert "ceir_eir_central_snapshot_age_seconds " in text
    assert "ceir_eir_central_journal_id 1.0" in text


def test_node_resumes_an_interrupted_download_with_a_range_request(
    app_client: TestClient, db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    _register(db_session)
    api_key = _key(db_session, {SCOPE_EIR_SYNC})
    manifest = json.loads(
        app_client.get(
            "/api/v1/eir/snapshot", headers={"Authorization": f"Bearer {api_key}"}
        ).content
    )
    whole = (settings.eir_dir / manifest["name"]).read_bytes()
    partial = tmp_path / "node" / f".{manifest['name']}.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(whole[:200])  # what an earlier, interrupted attempt left
    asked: list[str | None] = []
    app_client.event_hooks["request"].append(lambda r: asked.append(r.headers.get("range")))

    node, holder = _node(app_client, settings, tmp_path, api_key)
    node.cycle()
    assert node.sync_error is None
    assert "bytes=200-" in asked
    assert (tmp_path / "node" / manifest["name"]).read_bytes() == whole
    assert holder.current.code_of(int(IMEI_KEY)) == DeviceCode.ALLOWED


def test_node_refuses_a_file_that_does_not_match_the_signed_digest(
    app_client: TestClient, db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    api_key = _key(db_session, {SCOPE_EIR_SYNC})
    node, holder = _node(app_client, settings, tmp_path, api_key)
    node.sync_snapshot()  # learn the name
    name = holder.current.name
    for path in (tmp_path / "node").iterdir():
        path.unlink()
    partial = tmp_path / "node" / f".{name}.partial"
    partial.write_bytes(b"\0" * 200)  # corrupted bytes the resume would build on
    node.holder.current.name = "older"

    node.cycle()
    assert node.sync_error is not None and "SHA-256 differs" in node.sync_error
    assert holder.current.name == "older"
    assert not partial.exists()  # the next attempt starts over
    node.cycle()
    assert node.sync_error is None and holder.current.name == name


def test_a_revoked_key_stops_the_node_syncing_but_not_answering(
    app_client: TestClient, db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    _register(db_session)
    api_key = _key(db_session, {SCOPE_EIR_SYNC})
    node, holder = _node(app_client, settings, tmp_path, api_key)
    node.cycle()
    revoke(db_session, api_key.split("_")[1], by="test", now=utcnow())
    db_session.commit()

    node.cycle()
    assert node.sync_error is not None and "401" in node.sync_error
    assert node.metrics.failures.labels("http_401")._value.get() == 1  # type: ignore[attr-defined]
    assert holder.current.code_of(int(IMEI_KEY)) == DeviceCode.ALLOWED


def _one_writer_skips(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: its journal ids follow commit order")


def test_a_journal_entry_committed_after_a_later_one_still_reaches_the_node(
    app_client: TestClient, db_session: Session, settings: Settings, tmp_path: Path, engine: Engine
) -> None:
    # Two transactions take journal ids 1 and 2 but commit in the other order (PostgreSQL hands
    # out sequence values at insert, not at commit). A poller that only asks "after the last id
    # I saw" passes id 1 while it is still invisible and never comes back for it.
    _one_writer_skips(engine)
    node, holder = _node(app_client, settings, tmp_path, _key(db_session, {SCOPE_EIR_SYNC}))
    node.cycle()
    first_key, second_key = 35467819000011, 35467819000029
    with engine.connect() as slow, engine.connect() as quick:
        slow_tx = slow.begin()
        journal.record(slow, [(first_key, DeviceCode.STOLEN)])  # takes the smaller id
        quick_tx = quick.begin()
        journal.record(quick, [(second_key, DeviceCode.STOLEN)])
        quick_tx.commit()
        node.cycle()
        assert holder.current.code_of(second_key) is DeviceCode.STOLEN
        assert holder.current.code_of(first_key) is None  # not committed yet
        slow_tx.commit()
    node.cycle()
    assert node.sync_error is None
    assert holder.current.code_of(first_key) is DeviceCode.STOLEN
    assert holder.current.code_of(second_key) is DeviceCode.STOLEN


def test_the_centres_own_index_applies_an_entry_committed_out_of_id_order(
    db_session: Session, settings: Settings, engine: Engine
) -> None:
    _one_writer_skips(engine)
    refresher = IndexRefresher(IndexHolder(), engine, settings)
    first_key, second_key = 35467819000011, 35467819000029
    with engine.connect() as slow, engine.connect() as quick:
        slow_tx = slow.begin()
        journal.record(slow, [(first_key, DeviceCode.BLOCKED)])
        quick_tx = quick.begin()
        journal.record(quick, [(second_key, DeviceCode.BLOCKED)])
        quick_tx.commit()
        refresher.refresh_once()
        slow_tx.commit()
    refresher.refresh_once()
    assert refresher.holder.current.code_of(first_key) is DeviceCode.BLOCKED
    assert refresher.holder.current.code_of(second_key) is DeviceCode.BLOCKED


def test_a_skipped_journal_id_is_asked_for_until_it_comes_or_its_time_is_up() -> None:
    holder = IndexHolder()
    holder.apply([(1, 11, DeviceCode.ALLOWED), (4, 44, DeviceCode.STOLEN)])
    assert holder.open_gaps() == [(2, 3)]
    holder.apply([(3, 33, DeviceCode.BLOCKED), (4, 44, DeviceCode.STOLEN)])  # 4 again: no-op
    assert holder.open_gaps() == [(2, 2)]
    assert holder.current.code_of(33) is DeviceCode.BLOCKED and holder.journal_id == 4
    # Id 2 never comes (its transaction rolled back): it is given up on after GAP_SECONDS.
    assert holder.open_gaps(now=time.monotonic() + GAP_SECONDS + 1) == []


def test_the_journal_refuses_more_gaps_than_a_node_sends(
    app_client: TestClient, db_session: Session
) -> None:
    auth = {"Authorization": f"Bearer {_key(db_session, {SCOPE_EIR_SYNC})}"}
    many = ",".join(f"{n}-{n}" for n in range(1, 2 * MAX_GAPS + 2, 2))  # one more
    assert (
        app_client.get(
            "/api/v1/eir/journal", params={"after": 200, "gaps": many}, headers=auth
        ).status_code
        == 422
    )
    bad = app_client.get("/api/v1/eir/journal", params={"gaps": "1-x"}, headers=auth)
    assert bad.status_code == 422
