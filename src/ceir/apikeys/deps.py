"""FastAPI dependencies that admit a request only with a live API key holding a given scope."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ceir.apikeys.models import ApiKey
from ceir.apikeys.service import ALL_SCOPES, authenticate, key_scopes
from ceir.db import utcnow
from ceir.errors import Forbidden, Unauthorized
from ceir.ratelimit import RateLimited, RateLimiter
from ceir.web.deps import Db
from ceir.web.limits import client_address

# Failed authentications a client address may make a minute before it is refused outright.
FAILED_AUTHENTICATIONS_PER_MINUTE = 20

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer ceir_<key_id>_<secret>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key, as is")
_limiter_lock = threading.Lock()


def _failure_limiter(app: FastAPI) -> RateLimiter:
    # One limiter per application (tests build many), made on first use.
    with _limiter_lock:
        limiter: RateLimiter | None = getattr(app.state, "apikey_failures", None)
        if limiter is None:
            limiter = RateLimiter(FAILED_AUTHENTICATIONS_PER_MINUTE)
            app.state.apikey_failures = limiter
        return limiter


def require_scope(scope: str) -> Callable[..., ApiKey]:
    """A dependency answering 401 without a live key, 403 when the key lacks `scope`."""
    if scope not in ALL_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def api_key(
        request: Request,
        db: Db,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header: Annotated[str | None, Depends(_header)],
    ) -> ApiKey:
        limiter = _failure_limiter(request.app)
        client = client_address(request, request.app.state.settings.trusted_proxies)
        # A client past its failures is refused before its key is looked at, so a lucky guess
        # answers exactly like a wrong one until the bucket refills.
        if wait := limiter.wait(client):
            raise RateLimited(wait)
        presented = bearer.credentials if bearer else header
        if not presented:
            raise Unauthorized("This API needs a key: send `Authorization: Bearer <key>`.")
        key = authenticate(db, presented, utcnow())
        if key is None:
            if wait := limiter.hit(client):
                raise RateLimited(wait)
            raise Unauthorized("The API key is unknown or revoked.", invalid_token=True)
        if scope not in key_scopes(key):
            raise Forbidden(f"This API key does not have the scope {scope!r}.")
        return key

    return api_key
