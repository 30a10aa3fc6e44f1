"""Schemathesis against ceir's own OpenAPI document: no 5xx, every answer as documented.

Each operation gets a few generated requests (valid and invalid), sent with keys that get past
authorization, so the handlers themselves are exercised. Bounded to keep the suite quick.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from ceir.apikeys.service import (
    SCOPE_BORDERS_WRITE,
    SCOPE_CHECK,
    SCOPE_DUMPS_WRITE,
    SCOPE_LISTS_READ,
    SCOPE_REGISTER_DECLARATIONS,
    create_key,
)
from ceir.config import Settings
from ceir.db import session_factory
from ceir.web.app import create_app

KEYS: dict[str, str] = {}
EXAMPLES = 8  # per operation and mode: the whole walk stays within about a minute


@pytest.fixture
def fuzzed_app(settings: Settings, engine: Engine) -> FastAPI:
    with session_factory(engine)() as db:
        for name, kind, owner, scopes in (
            ("partner", "partner", "kaspi", {SCOPE_CHECK, SCOPE_REGISTER_DECLARATIONS}),
            ("operator", "operator", "kcell", {SCOPE_LISTS_READ, SCOPE_DUMPS_WRITE}),
            ("borders", "border_service", "kgd", {SCOPE_BORDERS_WRITE}),
        ):
            _, KEYS[name] = create_key(
                db,
                owner_kind=kind,
                owner=owner,
                scopes=scopes,
                label="fuzz",
                created_by="test",
            )
        db.commit()
    return create_app(settings, engine)


def _key_for(path: str) -> str | None:
    if path.startswith("/api/v1/partners"):
        return KEYS["partner"]
    if path.startswith("/api/v1/operators"):
        return KEYS["operator"]
    if path.startswith("/api/v1/border-crossings"):
        return KEYS["borders"]
    return None


def _fuzz(operation: APIOperation, mode: GenerationMode) -> None:
    key = _key_for(operation.path)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    own = {"operator": "kcell"} if "{operator}" in operation.path else None

    @given(operation.as_strategy(mode, path_parameters=own))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same requests each run: a failure here is reproducible
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers=headers)
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
        case.validate_response(
            response,
            checks=[status_code_conformance, content_type_conformance, response_schema_conformance],
        )
        _media_type_is_documented_exactly(operation, response.status_code, response.headers)

    run()


def _media_type_is_documented_exactly(
    operation: APIOperation, status: int, headers: Mapping[str, list[str]]
) -> None:
    """Schemathesis lets application/problem+json pass for a documented application/json (and
    then validates nothing): the document must name the very media type answered."""
    answers = operation.definition.raw["responses"]
    documented = answers.get(str(status)) or answers.get(f"{str(status)[0]}XX") or {}
    sent = (headers.get("content-type") or [""])[0].split(";")[0]
    if documented.get("content") and sent:
        assert sent in documented["content"], (
            f"{status} {sent} not in {list(documented['content'])}"
        )


def test_every_operation_answers_as_documented_and_never_fails(fuzzed_app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 15
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode)
            except Unsatisfiable:
                continue  # nothing to make invalid (no parameters, no body)
            except (Exception, BaseExceptionGroup) as exc:  # gather them all, then report
                name = f"{operation.method.upper()} {operation.path}"
                failures.append(f"{name} ({mode}): {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
