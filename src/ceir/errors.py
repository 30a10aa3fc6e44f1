"""Domain errors: each has a stable code, an HTTP status and a sentence a user can act on."""

from __future__ import annotations


class CeirError(Exception):
    code = "ceir_error"
    status = 400
    title = "Request cannot be processed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(CeirError):
    code = "not_found"
    status = 404
    title = "Not found"


class InvalidInput(CeirError):
    code = "invalid_input"
    status = 422
    title = "Invalid input"


class FileRejected(CeirError):
    """A bulk file was refused as a whole; `report` lists every bad row."""

    code = "file_rejected"
    status = 422
    title = "File rejected"

    def __init__(self, detail: str, report: object) -> None:
        super().__init__(detail)
        self.report = report
