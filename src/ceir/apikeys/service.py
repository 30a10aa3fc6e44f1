"""Issuing, checking and revoking API keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.apikeys.models import ApiKey
from ceir.audit.service import record
from ceir.config import Settings, get_settings
from ceir.errors import InvalidInput, NotFound

KEY_PREFIX = "ceir"
KEY_ID_LENGTH = 12

OWNER_OPERATOR = "operator"
OWNER_PARTNER = "partner"
OWNER_BORDER_SERVICE = "border_service"

# Operators pull their lists and push their dumps.
SCOPE_LISTS_READ = "lists:read"
SCOPE_DUMPS_WRITE = "dumps:write"
# An operator's EIR nodes pull the real-time index (snapshot and journal).
SCOPE_EIR_SYNC = "eir:sync"
# Partners (merchants, importers): bulk checks and declarations, once their APIs exist.
SCOPE_CHECK = "check"
SCOPE_REGISTER_DECLARATIONS = "register-declarations"
# The border service pushes crossing records.
SCOPE_BORDERS_WRITE = "borders:write"

# Which scopes each kind of owner may hold: an operator key never registers devices.
SCOPES_BY_OWNER_KIND: dict[str, frozenset[str]] = {
    OWNER_OPERATOR: frozenset({SCOPE_LISTS_READ, SCOPE_DUMPS_WRITE, SCOPE_EIR_SYNC}),
    OWNER_PARTNER: frozenset({SCOPE_CHECK, SCOPE_REGISTER_DECLARATIONS}),
    OWNER_BORDER_SERVICE: frozenset({SCOPE_BORDERS_WRITE}),
}
ALL_SCOPES: frozenset[str] = frozenset().union(*SCOPES_BY_OWNER_KIND.values())

# last_used_at is a hint for administrators; writing it on every request would cost a write each.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def key_scopes(key: ApiKey) -> frozenset[str]:
    return frozenset(key.scopes.split())


def create_key(
    db: Session,
    *,
    owner_kind: str,
    owner: str,
    scopes: set[str],
    label: str,
    created_by: str,
    rate_per_minute: int | None = None,
    daily_quota: int | None = None,
    now: dt.datetime | None = None,
    settings: Settings | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its plaintext `ceir_<key_id>_<secret>`, kept nowhere and shown only now."""
    settings = settings or get_settings()
    allowed = SCOPES_BY_OWNER_KIND.get(owner_kind)
    if allowed is None:
        raise InvalidInput(f"Owner kind must be one of {', '.join(sorted(SCOPES_BY_OWNER_KIND))}.")
    if owner_kind == OWNER_OPERATOR and owner not in settings.network.operators:
        known = ", ".join(sorted(settings.network.operators))
        raise InvalidInput(f"Unknown operator {owner!r}; operators are {known}.")
    if not owner.strip() or len(owner) > 64:
        raise InvalidInput("The owner must be 1 to 64 characters.")
    if not scopes:
        raise InvalidInput("Give at least one scope.")
    if not scopes <= allowed:
        wrong = ", ".join(sorted(scopes - allowed))
        raise InvalidInput(
            f"Scopes {wrong} are not for {owner_kind} keys; allowed: {', '.join(sorted(allowed))}."
        )
    if not label.strip() or len(label) > 128:
        raise InvalidInput("The label must be 1 to 128 characters.")
    for name, limit in (("rate per minute", rate_per_minute), ("daily quota", daily_quota)):
        if limit is not None and limit < 1:
            raise InvalidInput(f"The {name} must be at least 1.")

    key_id = secrets.token_hex(KEY_ID_LENGTH // 2)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        key_id=key_id,
        secret_hash=_hash(secret),
        owner_kind=owner_kind,
        owner=owner,
        scopes=" ".join(sorted(scopes)),
        label=label.strip(),
        rate_per_minute=rate_per_minute,
        daily_quota=daily_quota,
        created_at=now or dt.datetime.now(dt.UTC),
        created_by=created_by,
    )
    db.add(key)
    db.flush()
    record(
        db,
        actor=created_by,
        action="apikey.create",
        object_type="api_key",
        object_id=key_id,
        details={
            "owner_kind": owner_kind,
            "owner": owner,
            "scopes": sorted(scopes),
            "label": key.label,
        },
    )
    return key, f"{KEY_PREFIX}_{key_id}_{secret}"


def authenticate(db: Session, presented: str, now: dt.datetime) -> ApiKey | None:
    """The live key `presented` stands for, or None (malformed, unknown, wrong secret, revoked)."""
    prefix, _, rest = presented.strip().partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or len(key_id) != KEY_ID_LENGTH or not secret:
        return None
    key = db.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return None
    if key.revoked_at is not None:
        return None
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
    return key


def revoke(db: Session, key_id: str, by: str, now: dt.datetime) -> ApiKey:
    """Revoke a key at once; revoking it again changes nothing."""
    key = db.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None:
        raise NotFound(f"No API key {key_id!r}.")
    if key.revoked_at is None:
        key.revoked_at = now
        record(db, actor=by, action="apikey.revoke", object_type="api_key", object_id=key_id)
    return key


def list_keys(db: Session, owner_kind: str | None = None, owner: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.id)
    if owner_kind is not None:
        query = query.where(ApiKey.owner_kind == owner_kind)
    if owner is not None:
        query = query.where(ApiKey.owner == owner)
    return list(db.scalars(query))
