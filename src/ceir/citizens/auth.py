"""Citizens' sign-in: a one-time SMS code to the number the operators tie to the IIN, sessions.

Codes are kept as HMAC-SHA256 under a server secret, not argon2: a code has only a million values
and lives five minutes, so a slow hash would not stop anyone who had the table *and* the secret,
while the secret (never in the database) makes the table alone worthless. HMAC also costs the
same microseconds on every path, which keeps the answer's timing from telling anything, and no
CPU-heavy hash becomes a lever for denial of service on a public form.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from ceir import identifiers
from ceir.citizens.models import CitizenSession, SignInCode
from ceir.config import Settings
from ceir.errors import InvalidInput
from ceir.i18n import gettext
from ceir.network.subscribers import find_iin_of
from ceir.ratelimit import RateLimited
from ceir.sms import service as sms

CODE_DIGITS = 6
_secrets: dict[Path, bytes] = {}
_secret_lock = threading.Lock()


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


SIGN_IN_SMS = N_(
    "ceir code: %(code)s. It is valid for %(minutes)s minutes. Do not tell it to anyone."
)


def server_secret(settings: Settings) -> bytes:
    """The configured secret, or one made on first use and kept under the data directory."""
    if settings.citizens.secret_key:
        return settings.citizens.secret_key.encode("utf-8")
    path = (settings.data_dir / "keys" / "citizens-secret").resolve()
    with _secret_lock:
        if path not in _secrets:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_hex(32))
            _secrets[path] = path.read_text().strip().encode("utf-8")
        return _secrets[path]


def _code_hash(secret: bytes, iin: str, msisdn: str, code: str) -> str:
    return hmac.new(secret, f"{iin}:{msisdn}:{code}".encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """Session tokens are 32 random bytes: a plain SHA-256 is enough (nothing to guess)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def sign(settings: Settings, value: str) -> str:
    """`value.signature`, so a cookie's value cannot be swapped for another's."""
    mac = hmac.new(server_secret(settings), f"cookie:{value}".encode(), hashlib.sha256)
    return f"{value}.{mac.hexdigest()[:32]}"


def unsign(settings: Settings, signed: str | None) -> str | None:
    if not signed or "." not in signed:
        return None
    value = signed.rsplit(".", 1)[0]
    return value if hmac.compare_digest(sign(settings, value), signed) else None


def _window_count(
    db: Session, since: dt.datetime, *conditions: ColumnElement[bool]
) -> tuple[int, dt.datetime | None]:
    row = db.execute(
        select(func.count(), func.min(SignInCode.created_at)).where(
            SignInCode.created_at > since, *conditions
        )
    ).one()
    return int(row[0]), row[1]


def request_code(
    db: Session,
    iin_text: str,
    phone_text: str,
    *,
    client: str,
    language: str,
    settings: Settings,
    now: dt.datetime,
) -> int:
    """Make a code for (IIN, number) and text it, only if the operators say the number is theirs.

    Returns the id of the code row, made in either case, so the caller answers the same way
    whether or not the pair exists; a pair that does not exist gets a code no one can enter.
    Every request counts per number and per client. The IIN's own allowance counts only the
    requests with the number the operators tie to it: strangers who know an IIN but not its
    number must not be able to lock its holder out of sign-in.
    """
    try:
        iin = identifiers.parse_iin(iin_text).value
    except identifiers.IdentifierError as exc:
        raise InvalidInput(str(exc)) from exc
    try:
        msisdn = identifiers.normalize_msisdn(phone_text)
    except identifiers.IdentifierError as exc:
        raise InvalidInput(str(exc)) from exc
    c = settings.citizens
    hour_ago = now - dt.timedelta(hours=1)
    client = client[:64]
    holder = find_iin_of(db, msisdn)
    matched = holder is not None and hmac.compare_digest(holder, iin)
    limits: list[tuple[tuple[ColumnElement[bool], ...], int]] = [
        ((SignInCode.msisdn == msisdn,), c.codes_per_hour_per_msisdn),
        ((SignInCode.client == client,), c.codes_per_hour_per_client),
    ]
    if matched:
        # Only someone who already knows the pair can spend this allowance.
        pair = (SignInCode.iin == iin, SignInCode.msisdn == msisdn)
        limits.insert(0, (pair, c.codes_per_hour_per_iin))
    for conditions, limit in limits:
        count, oldest = _window_count(db, hour_ago, *conditions)
        if count >= limit:
            wait = (oldest + dt.timedelta(hours=1) - now).total_seconds() if oldest else 3600
            raise RateLimited(max(1, math.ceil(wait)))
    secret = server_secret(settings)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    # The unmatched pair gets the hash of a value no six digits can equal.
    stored = _code_hash(secret, iin, msisdn, code if matched else secrets.token_hex(16))
    row = SignInCode(
        iin=iin,
        msisdn=msisdn,
        code_hash=stored,
        created_at=now,
        expires_at=now + dt.timedelta(minutes=c.code_minutes),
        attempts=0,
        client=client,
    )
    db.add(row)
    db.flush()
    if matched:
        text = gettext(language, SIGN_IN_SMS, code=code, minutes=c.code_minutes)
        sms.send(db, msisdn, text, purpose="sign_in", settings=settings, now=now)
    return row.id


@dataclass(frozen=True, slots=True)
class CodeCheck:
    token: str | None  # the new session's token when the code was right
    problem: str | None  # wrong_code | expired (ask for a new one)
    attempts_left: int = 0


def spend_attempt(
    db: Session, counter: InstrumentedAttribute[int], limit: int, *where: ColumnElement[bool]
) -> int | None:
    """Count one try at a code: the tries made with this one, or None when `where` no longer
    holds or no try is left.

    One conditional UPDATE, never a read then a write: on SQLite a read takes no lock, so parallel
    guesses all read the same count and each was judged.
    """
    table = counter.class_
    spent = db.scalar(
        update(table)
        .where(counter < limit, *where)
        .values({counter: counter + 1})
        .returning(counter)
        .execution_options(synchronize_session=False)
    )
    return None if spent is None else int(spent)


def verify_code(
    db: Session, code_id: int, entered: str, *, settings: Settings, now: dt.datetime
) -> CodeCheck:
    """Check an entered code; on success open a session. Every try counts, right or wrong.

    Returns a result rather than raising so the caller commits the spent attempt.
    """
    c = settings.citizens
    live = (SignInCode.id == code_id, SignInCode.used_at.is_(None), SignInCode.expires_at > now)
    if spend_attempt(db, SignInCode.attempts, c.code_attempts, *live) is None:
        return CodeCheck(None, "expired")
    row = db.get_one(SignInCode, code_id, populate_existing=True)
    digits = entered.strip().replace(" ", "")
    expected = row.code_hash
    given = _code_hash(server_secret(settings), row.iin, row.msisdn, digits)
    if not (len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit()):
        given = ""
    if not hmac.compare_digest(expected, given):
        left = c.code_attempts - row.attempts
        return CodeCheck(None, "wrong_code" if left > 0 else "expired", left)
    row.used_at = now
    token = secrets.token_urlsafe(32)
    db.add(
        CitizenSession(
            token_hash=token_hash(token),
            iin=row.iin,
            msisdn=row.msisdn,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + dt.timedelta(minutes=c.session_minutes),
        )
    )
    db.flush()
    return CodeCheck(token, None)


def session_of(db: Session, token: str | None, now: dt.datetime) -> CitizenSession | None:
    """The live session a cookie's token stands for, if any."""
    if not token or len(token) > 128:
        return None
    session = db.get(CitizenSession, token_hash(token))
    if session is None or session.ended_at is not None or session.expires_at <= now:
        return None
    return session


def end_session(db: Session, session: CitizenSession, now: dt.datetime) -> None:
    session.ended_at = now
