"""Uploaded documents: type found from the content, size limited, stored outside the web root."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ceir.citizens.models import Document
from ceir.errors import CeirError

DOCUMENT_KINDS = ("boarding_pass", "receipt", "other")
# The first bytes of each accepted format; the name and the browser's Content-Type are ignored.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


class DocumentRefused(CeirError):
    code = "document_refused"
    status = 422
    title = "Document refused"

    def __init__(self, detail: str, reason: str, filename: str) -> None:
        super().__init__(detail)
        self.reason = reason  # not_allowed_type | too_large | empty
        self.filename = filename


@dataclass(frozen=True, slots=True)
class Upload:
    kind: str
    filename: str
    data: bytes


def sniff(data: bytes) -> str | None:
    """The content type the bytes really are (PDF, JPEG, PNG), or None."""
    for magic, content_type in SIGNATURES:
        if data.startswith(magic):
            return content_type
    return None


def check_upload(upload: Upload, max_bytes: int) -> str:
    """The content type of an acceptable upload; refuses an empty, oversize or other file."""
    name = os.path.basename(upload.filename or "")[:256] or "document"
    if not upload.data:
        raise DocumentRefused(f"{name} is empty.", "empty", name)
    if len(upload.data) > max_bytes:
        raise DocumentRefused(
            f"{name} is larger than {max_bytes // (1024 * 1024)} MB.", "too_large", name
        )
    content_type = sniff(upload.data)
    if content_type is None:
        raise DocumentRefused(f"{name} is not a PDF, JPEG or PNG file.", "not_allowed_type", name)
    return content_type


def store(
    directory: Path, application_id: int, upload: Upload, content_type: str, now: dt.datetime
) -> Document:
    """Write the bytes under a random name (never the uploaded one) and describe them."""
    document_id = write_file(directory, upload.data)
    return Document(
        id=document_id,
        application_id=application_id,
        kind=upload.kind if upload.kind in DOCUMENT_KINDS else "other",
        filename=os.path.basename(upload.filename or "")[:256] or "document",
        content_type=content_type,
        size=len(upload.data),
        sha256=hashlib.sha256(upload.data).hexdigest(),
        uploaded_at=now,
    )


def write_file(directory: Path, data: bytes) -> str:
    """Keep the bytes under a new random id, readable by ceir alone; the id is the file name."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    document_id = secrets.token_hex(16)
    fd = os.open(directory / document_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return document_id


def path_of(directory: Path, document: Document) -> Path:
    # Ids are 32 hex digits made here; anything else never reaches the file system.
    if len(document.id) != 32 or not all(ch in "0123456789abcdef" for ch in document.id):
        raise ValueError("not a document id")
    return directory / document.id
