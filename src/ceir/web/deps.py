"""FastAPI dependencies shared by the routers: the database session, a row's id in a path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# The one way a route or dependency asks for the session. Scope "function" commits and gives the
# connection back when the route returns, before a byte of the answer is sent: a client hears of
# success only once it is saved (a failed commit is an error answer), and a client that reads its
# answer slowly holds neither a transaction nor a pooled connection. (The default scope would
# commit after the body, and a second `Depends(get_db)` of another scope would be a second session.)
Db = Annotated[Session, Depends(get_db, scope="function")]


def get_read_db(request: Request) -> Iterator[Session]:
    with request.app.state.read_sessions() as session:
        yield session


# A session for reads that may lag a moment behind the last write: on the streaming replica when
# `CEIR_DATABASE_READ_URL` is set (else on the primary), in autocommit on PostgreSQL. Only for
# what anyone may read and nobody has just written: the public check, the partners' bulk checks.
# A page that shows a user what they have just done reads `Db` (read-your-writes).
ReadDb = Annotated[Session, Depends(get_read_db, scope="function")]

# Ids are 64-bit integers in both databases: a larger number (or one below 1) names no row, and
# SQLite's driver cannot even bind it. Refused as a bad request (422) before any query.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="a row's id")]
