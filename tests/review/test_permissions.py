"""Who may do what: every route of the back office against every role, and CSRF on every form."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.citizens.models import Application
from ceir.config import Settings
from tests.factories import add_application_document, add_application_in_review
from tests.review.conftest import Desk


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    path: str  # {id}: an application in review; {decided}: an approved one; {doc}: a document
    data: dict[str, str]
    allowed: frozenset[str]  # roles that get through


ROUTES = [
    Route("GET", "/officers/queue", {}, frozenset({"reviewer", "supervisor"})),
    Route("GET", "/officers/cases/{id}", {}, frozenset({"reviewer", "supervisor"})),
    Route("GET", "/officers/documents/{doc}", {}, frozenset({"reviewer", "supervisor"})),
    Route("GET", "/officers/audit", {}, frozenset({"auditor", "supervisor"})),
    Route(
        "POST",
        "/officers/cases/{id}/decision",
        {"outcome": "approve", "reason": "documents_confirm_trip"},
        frozenset({"reviewer", "supervisor"}),
    ),
    Route(
        "POST",
        "/officers/cases/{id}/decision",
        {"outcome": "reject", "reason": "documents_unreadable"},
        frozenset({"reviewer", "supervisor"}),
    ),
    Route("POST", "/officers/cases/{id}/assignment", {"officer": ""}, frozenset({"supervisor"})),
    Route(
        "POST",
        "/officers/cases/{decided}/reversal",
        {"reason": "other", "note": "The receipt is forged."},
        frozenset({"supervisor"}),
    ),
]


def _fill(path: str, doc: str) -> str:
    return path.format(id="WAIT0001", decided="DONE0001", doc=doc)


@pytest.fixture
def cases(db_session: Session, settings: Settings) -> str:
    """An application in review with a document, and an approved one; returns the document id."""
    waiting = add_application_in_review(db_session, public_id="WAIT0001")
    add_application_in_review(db_session, public_id="DONE0001", status="approved")
    return add_application_document(db_session, settings.documents_dir, waiting).id


@pytest.mark.parametrize("role", ["reviewer", "supervisor", "auditor"])
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path} {r.data}")
def test_each_route_admits_exactly_its_roles(
    desk: Callable[..., Desk], cases: str, role: str, route: Route
) -> None:
    officer = desk(f"{role}1", role)
    path = _fill(route.path, cases)

    answer = officer.get(path) if route.method == "GET" else officer.post(path, **route.data)

    if role in route.allowed:
        assert answer.status_code in (200, 303), answer.text
    else:
        assert answer.status_code == 403, answer.text


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/officers/cases/WAIT0001/decision", {"outcome": "approve", "reason": "other"}),
        ("/officers/cases/WAIT0001/assignment", {"officer": "supervisor1"}),
        ("/officers/cases/DONE0001/reversal", {"reason": "other", "note": "forged"}),
    ],
)
@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_forms_without_the_session_token_are_refused(
    desk: Callable[..., Desk],
    cases: str,
    db_session: Session,
    path: str,
    data: dict[str, str],
    token: str,
) -> None:
    chief = desk("supervisor1", "supervisor")

    answer = chief.client.post(path, data={**data, "note": "n", "csrf_token": token})

    assert answer.status_code == 403
    db_session.expire_all()
    statuses = dict(db_session.execute(select(Application.public_id, Application.status)).all())
    assigned = db_session.scalar(
        select(Application.assigned_to).where(Application.public_id == "WAIT0001")
    )
    assert statuses == {"WAIT0001": "in_review", "DONE0001": "approved"}
    assert assigned is None


def test_a_reviewer_cannot_open_or_decide_a_case_assigned_to_another(
    desk: Callable[..., Desk], db_session: Session, settings: Settings
) -> None:
    aliya, bolat = desk("aliya"), desk("bolat")
    theirs = add_application_in_review(
        db_session, public_id="BOLAT001", assigned_to=bolat.officer_id
    )
    document = add_application_document(db_session, settings.documents_dir, theirs)

    assert aliya.get("/officers/cases/BOLAT001").status_code == 403
    assert aliya.get(f"/officers/documents/{document.id}").status_code == 403
    decided = aliya.post(
        "/officers/cases/BOLAT001/decision", outcome="approve", reason="documents_confirm_trip"
    )
    assert decided.status_code == 403
    assert "BOLAT001" not in aliya.get("/officers/queue").text
    assert "BOLAT001" in bolat.get("/officers/queue").text
    assert bolat.get("/officers/cases/BOLAT001").status_code == 200


def test_auditors_are_sent_to_the_audit_log_and_see_no_queue_link(
    desk: Callable[..., Desk],
) -> None:
    auditor = desk("auditor1", "auditor")
    assert auditor.get("/officers/").headers["location"] == "/officers/audit"
    page = auditor.get("/officers/audit")
    assert 'href="/officers/queue"' not in page.text
