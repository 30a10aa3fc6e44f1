"""Domain errors: each has a stable code, an HTTP status and a sentence a user can act on."""

from __future__ import annotations


class CeirError(Exception):
    code = "ceir_error"
    status = 400
    title = "Request cannot be processed"
    # HTTP headers the answer must carry (WWW-Authenticate on a 401), and extra problem members.
    headers: dict[str, str] | None = None
    extra: dict[str, object] | None = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(CeirError):
    code = "not_found"
    status = 404
    title = "Not found"


class Unauthorized(CeirError):
    """No credentials, or credentials we do not accept (unknown, revoked, malformed)."""

    code = "unauthorized"
    status = 401
    title = "Authentication required"

    def __init__(self, detail: str, *, invalid_token: bool = False) -> None:
        super().__init__(detail)
        # RFC 6750: say which scheme we expect, and whether the token offered was the problem.
        challenge = 'Bearer realm="ceir"'
        if invalid_token:
            challenge += ', error="invalid_token"'
        self.headers = {"WWW-Authenticate": challenge}


class Forbidden(CeirError):
    """Known credentials that do not grant this action."""

    code = "forbidden"
    status = 403
    title = "Forbidden"


class PayloadTooLarge(CeirError):
    code = "payload_too_large"
    status = 413
    title = "Payload too large"


class InvalidInput(CeirError):
    code = "invalid_input"
    status = 422
    title = "Invalid input"

    def __init__(self, detail: str, *, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        if errors:  # each with `location` (field path or line) and `message`
            self.extra = {"errors": errors}


class FileRejected(CeirError):
    """A bulk file was refused as a whole; `report` lists every bad row."""

    code = "file_rejected"
    status = 422
    title = "File rejected"

    def __init__(self, detail: str, report: object) -> None:
        super().__init__(detail)
        self.report = report
