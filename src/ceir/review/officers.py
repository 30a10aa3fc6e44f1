"""Officers: accounts, roles and permissions, passwords with lockout, sessions and their CSRF."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ceir.audit.service import record
from ceir.config import Settings, get_settings
from ceir.errors import CeirError, Forbidden, InvalidInput, NotFound
from ceir.review.models import Officer, OfficerSession, Role

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024  # argon2 hashes anything, but a megabyte "password" is an attack
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")

# argon2id with the library's defaults (RFC 9106 "low memory" profile); old hashes are upgraded
# at the next sign-in when the parameters change.
_hasher = PasswordHasher()
_dummy_hash: list[str] = []


class Permission(enum.StrEnum):
    REVIEW = "review"  # the queue, case files and their documents
    DECIDE = "decide"
    REASSIGN = "reassign"
    REVERSE = "reverse"
    READ_AUDIT = "read_audit"


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.REVIEWER: frozenset({Permission.REVIEW, Permission.DECIDE}),
    Role.SUPERVISOR: frozenset(Permission),
    # Auditors read the trail of who did what; they neither decide nor open citizens' files.
    Role.AUDITOR: frozenset({Permission.READ_AUDIT}),
    # The police act only on lost and stolen reports (review/police_pages.py checks the role).
    Role.POLICE: frozenset(),
}


class SignInRequired(CeirError):
    code = "sign_in_required"
    status = 401
    title = "Sign-in required"


# --- officers -------------------------------------------------------------------------------


def roles_of(officer: Officer) -> frozenset[Role]:
    known = {r.value for r in Role}
    return frozenset(Role(r) for r in officer.roles.split() if r in known)


def permissions_of(officer: Officer) -> frozenset[Permission]:
    granted: frozenset[Permission] = frozenset()
    for role in roles_of(officer):
        granted |= PERMISSIONS[role]
    return granted


def can(officer: Officer, permission: Permission) -> bool:
    return officer.active and permission in permissions_of(officer)


def require(officer: Officer, permission: Permission) -> None:
    if not can(officer, permission):
        raise Forbidden(
            f"Officer {officer.username!r} may not {permission.value.replace('_', ' ')}."
        )


def actor_of(officer: Officer) -> str:
    """How an officer is named in the audit log and in decisions."""
    return f"officer:{officer.username}"


def _hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _dummy() -> str:
    # Made once per process: unknown usernames cost the same argon2 work as known ones.
    if not _dummy_hash:
        _dummy_hash.append(_hasher.hash(secrets.token_urlsafe(16)))
    return _dummy_hash[0]


def check_password_policy(password: str, username: str) -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput(f"The password must have at least {PASSWORD_MIN_LENGTH} characters.")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidInput(f"The password must have at most {PASSWORD_MAX_LENGTH} characters.")
    if username.lower() in password.lower():
        raise InvalidInput("The password must not contain the username.")
    if len(set(password)) < 5:
        raise InvalidInput("The password must not repeat a few characters.")


def parse_roles(roles: set[str] | list[str] | tuple[str, ...]) -> list[Role]:
    known = {r.value for r in Role}
    wrong = sorted(set(roles) - known)
    if wrong:
        raise InvalidInput(
            f"Unknown roles {', '.join(wrong)}; roles are {', '.join(sorted(known))}."
        )
    if not roles:
        raise InvalidInput("Give at least one role.")
    return sorted((Role(r) for r in set(roles)), key=lambda r: r.value)


def create_officer(
    db: Session,
    username: str,
    full_name: str,
    password: str,
    roles: set[str] | list[str] | tuple[str, ...],
    actor: str,
    now: dt.datetime | None = None,
) -> Officer:
    username = username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidInput(
            "The username must be 2 to 64 characters: Latin letters, digits, '.', '_' or '-'."
        )
    full_name = full_name.strip()
    if not full_name or len(full_name) > 128:
        raise InvalidInput("The full name must be 1 to 128 characters.")
    check_password_policy(password, username)
    parsed = parse_roles(roles)
    if db.scalar(select(Officer.id).where(Officer.username == username)) is not None:
        raise InvalidInput(f"There is already an officer {username!r}.")
    officer = Officer(
        username=username,
        full_name=full_name,
        password_hash=_hash_password(password),
        roles=" ".join(r.value for r in parsed),
        active=True,
        failed_logins=0,
        locked_until=None,
        created_at=now or dt.datetime.now(dt.UTC),
    )
    db.add(officer)
    db.flush()
    record(
        db,
        actor=actor,
        action="officer.create",
        object_type="officer",
        object_id=username,
        details={"roles": [r.value for r in parsed], "full_name": full_name},
    )
    return officer


def get_officer(db: Session, username: str) -> Officer:
    officer = db.scalar(select(Officer).where(Officer.username == username.strip().lower()))
    if officer is None:
        raise NotFound(f"No officer {username!r}.")
    return officer


def list_officers(db: Session) -> list[Officer]:
    return list(db.scalars(select(Officer).order_by(Officer.username)))


def reviewers(db: Session) -> list[Officer]:
    """Active officers a case can be assigned to."""
    return [o for o in list_officers(db) if can(o, Permission.DECIDE)]


def disable_officer(db: Session, username: str, actor: str, now: dt.datetime) -> Officer:
    """Disable an account and end its sessions at once."""
    officer = get_officer(db, username)
    officer.active = False
    db.execute(
        update(OfficerSession)
        .where(OfficerSession.officer_id == officer.id, OfficerSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    record(db, actor=actor, action="officer.disable", object_type="officer", object_id=username)
    return officer


def unlock_officer(db: Session, username: str, actor: str) -> Officer:
    officer = get_officer(db, username)
    officer.failed_logins = 0
    officer.locked_until = None
    record(db, actor=actor, action="officer.unlock", object_type="officer", object_id=username)
    return officer


def set_password(
    db: Session, username: str, password: str, actor: str, now: dt.datetime
) -> Officer:
    """A new password (the same policy as at creation); lifts a lock, ends the old sessions."""
    officer = get_officer(db, username)
    check_password_policy(password, officer.username)
    officer.password_hash = _hash_password(password)
    officer.failed_logins = 0
    officer.locked_until = None
    db.execute(
        update(OfficerSession)
        .where(OfficerSession.officer_id == officer.id, OfficerSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    record(
        db, actor=actor, action="officer.set_password", object_type="officer", object_id=username
    )
    return officer


def authenticate(
    db: Session,
    username: str,
    password: str,
    now: dt.datetime,
    client: str,
    settings: Settings | None = None,
) -> Officer | None:
    """The officer, or None for any failure; the caller cannot (and must not) tell which.

    Every path verifies one argon2 hash, so the answer takes as long for an unknown username, a
    locked or disabled account as for a wrong password. Failures are counted in the database (the
    caller must commit even when this returns None); the limit locks the account for a while.
    """
    policy = (settings or get_settings()).officers
    name = username.strip().lower()
    officer = None
    if USERNAME_PATTERN.fullmatch(name):
        officer = db.scalar(select(Officer).where(Officer.username == name))
    if officer is None:
        _verify_password(_dummy(), password)
        # The username itself is not kept: people type their password into it by mistake.
        _audit_sign_in(db, "officer.sign_in_failed", "?", client, "unknown_username")
        return None
    locked = officer.locked_until is not None and officer.locked_until > now
    if locked or not officer.active:
        _verify_password(_dummy(), password)
        why = "locked" if locked else "disabled"
        _audit_sign_in(db, "officer.sign_in_failed", officer.username, client, why)
        return None
    if not _verify_password(officer.password_hash, password):
        # Counted in SQL so that parallel attempts cannot overwrite each other's counts.
        db.execute(
            update(Officer)
            .where(Officer.id == officer.id)
            .values(failed_logins=Officer.failed_logins + 1)
        )
        db.refresh(officer)
        _audit_sign_in(db, "officer.sign_in_failed", officer.username, client, "wrong_password")
        if officer.failed_logins >= policy.max_failed_logins:
            officer.failed_logins = 0
            officer.locked_until = now + dt.timedelta(minutes=policy.lockout_minutes)
            _audit_sign_in(db, "officer.locked", officer.username, client, "too_many_failures")
        return None
    officer.failed_logins = 0
    officer.locked_until = None
    if _hasher.check_needs_rehash(officer.password_hash):
        officer.password_hash = _hash_password(password)
    _audit_sign_in(db, "officer.sign_in", officer.username, client, None)
    return officer


def _audit_sign_in(db: Session, action: str, username: str, client: str, why: str | None) -> None:
    details: dict[str, object] = {"client": client[:64]}
    if why:
        details["reason"] = why
    record(
        db,
        actor=f"officer:{username}",
        action=action,
        object_type="officer",
        object_id=username,
        details=details,
    )


# --- sessions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    officer: Officer
    session: OfficerSession


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    db: Session, officer: Officer, now: dt.datetime, settings: Settings | None = None
) -> tuple[str, OfficerSession]:
    """A new session; the token goes in the cookie and only its hash in the table."""
    hours = (settings or get_settings()).officers.session_hours
    token = secrets.token_urlsafe(32)
    session = OfficerSession(
        token_hash=_token_hash(token),
        officer_id=officer.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + dt.timedelta(hours=hours),
        ended_at=None,
    )
    db.add(session)
    db.flush()
    return token, session


def find_session(db: Session, token: str | None, now: dt.datetime) -> SignedIn | None:
    """The live session of an active officer that `token` stands for, or None."""
    if not token or len(token) > 128:
        return None
    row = db.execute(
        select(OfficerSession, Officer)
        .join(Officer, Officer.id == OfficerSession.officer_id)
        .where(
            OfficerSession.token_hash == _token_hash(token),
            OfficerSession.ended_at.is_(None),
            OfficerSession.expires_at > now,
            Officer.active.is_(True),
        )
    ).one_or_none()
    if row is None:
        return None
    session, officer = row
    return SignedIn(officer=officer, session=session)


def end_session(db: Session, signed: SignedIn, now: dt.datetime) -> None:
    signed.session.ended_at = now
    record(
        db,
        actor=actor_of(signed.officer),
        action="officer.sign_out",
        object_type="officer",
        object_id=signed.officer.username,
    )


def csrf_matches(signed: SignedIn, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(
        signed.session.csrf_token.encode(), (presented or "").encode()
    )
