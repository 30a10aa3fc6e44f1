"""Documents attached to a form not sent yet: kept for the citizen across a mistake or a sign-in.

A browser never fills a file field for the person, so a form sent back with a mistake would
otherwise ask for every document again (on a slow connection, minutes of uploading). Each
accepted upload is checked as a filed one is (type from the content, size) and kept under a
random name beside the filed documents, for its citizen only; sending the form takes them.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.citizens.documents import Upload, check_upload
from ceir.citizens.models import PendingDocument
from ceir.config import Settings

KINDS = ("boarding_pass", "receipt")  # the appeal form's file fields


def _directory(settings: Settings) -> Path:
    return settings.documents_dir / "pending"


def _path(settings: Settings, document: PendingDocument) -> Path:
    # Ids are 32 hex digits made here; anything else never reaches the file system.
    if len(document.id) != 32 or not all(ch in "0123456789abcdef" for ch in document.id):
        raise ValueError("not a document id")
    return _directory(settings) / document.id


def _forget(db: Session, settings: Settings, documents: list[PendingDocument]) -> None:
    for document in documents:
        _path(settings, document).unlink(missing_ok=True)
        db.delete(document)
    db.flush()


def purge(db: Session, settings: Settings, now: dt.datetime) -> None:
    """Forget every citizen's kept documents older than the allowed time."""
    cutoff = now - dt.timedelta(hours=settings.citizens.pending_document_hours)
    old = db.scalars(select(PendingDocument).where(PendingDocument.uploaded_at < cutoff))
    _forget(db, settings, list(old))


def kept(db: Session, settings: Settings, iin: str, now: dt.datetime) -> dict[str, PendingDocument]:
    """The citizen's kept documents by kind (the newest of each), after forgetting old ones."""
    purge(db, settings, now)
    found = list(
        db.scalars(
            select(PendingDocument)
            .where(PendingDocument.iin == iin)
            .order_by(PendingDocument.uploaded_at, PendingDocument.id)
        )
    )
    # A row whose file is gone (a filing whose commit failed after the files were removed)
    # would show a document that cannot be sent: forget it instead.
    _forget(db, settings, [d for d in found if not _path(settings, d).is_file()])
    return {d.kind: d for d in found if d.kind in KINDS and _path(settings, d).is_file()}


def keep(
    db: Session, settings: Settings, iin: str, upload: Upload, now: dt.datetime
) -> PendingDocument:
    """Check an upload and keep it for the citizen, in place of one of the same kind.

    Raises DocumentRefused for an empty, oversize or other file: nothing is kept then.
    """
    content_type = check_upload(upload, settings.citizens.max_document_bytes)
    kind = upload.kind if upload.kind in KINDS else KINDS[-1]
    remove(db, settings, iin, kind)
    directory = _directory(settings)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    document = PendingDocument(
        id=secrets.token_hex(16),
        iin=iin,
        kind=kind,
        filename=os.path.basename(upload.filename or "")[:256] or "document",
        content_type=content_type,
        size=len(upload.data),
        uploaded_at=now,
    )
    fd = os.open(_path(settings, document), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(upload.data)
    db.add(document)
    db.flush()
    return document


def remove(db: Session, settings: Settings, iin: str, kind: str) -> None:
    """Forget the citizen's kept document of this kind (another citizen's are never touched)."""
    found = db.scalars(
        select(PendingDocument).where(PendingDocument.iin == iin, PendingDocument.kind == kind)
    )
    _forget(db, settings, list(found))


def read(settings: Settings, documents: list[PendingDocument]) -> list[Upload]:
    """The kept documents as uploads, to be filed (and checked) like fresh ones."""
    uploads = []
    for document in documents:
        path = _path(settings, document)
        if path.is_file():  # a file removed by hand is simply not there any more
            uploads.append(Upload(document.kind, document.filename, path.read_bytes()))
    return uploads


def discard(db: Session, settings: Settings, iin: str) -> None:
    """Forget all of the citizen's kept documents: the form was sent, or they signed out."""
    found = db.scalars(select(PendingDocument).where(PendingDocument.iin == iin))
    _forget(db, settings, list(found))
