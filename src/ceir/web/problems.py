"""The Problem schema (RFC 9457) of every error answer, and the OpenAPI document that uses it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

PROBLEM_TYPE = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"

# What each error status means to an integrator, where a route says nothing more specific.
MEANINGS = {
    400: "The request cannot be processed",
    401: "No credentials, or an unknown, revoked or malformed API key (see WWW-Authenticate)",
    403: "The key is valid but lacks the scope this needs",
    404: "No such resource for this caller",
    413: "The body is larger than this route's documented limit; refused before it is read",
    415: "The Content-Type is not one this route accepts",
    422: "The request is malformed: `errors` names each field (or line) and what is wrong",
    429: "Too many requests or the daily quota is spent; retry after Retry-After seconds",
}


class ProblemError(BaseModel):
    location: str = Field(description="field path (items.0.imei) or line of the body")
    message: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details, plus a stable machine-readable `code`."""

    type: str = Field(default="about:blank", examples=["about:blank"])
    title: str = Field(examples=["Invalid input"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["The JSON body does not match the bulk check request."])
    code: str = Field(description="stable error code to branch on", examples=["invalid_input"])
    errors: list[ProblemError] | None = Field(
        default=None, description="each bad field or line, on 422"
    )
    model_config = {"extra": "allow"}  # some problems add members (a dump's `report`)


def problems(*statuses: int, **meanings: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with its meaning; the Problem schema is added to
    every error answer of the document by `problem_openapi`."""
    return {s: {"description": meanings.get(f"s{s}", MEANINGS[s])} for s in statuses}


def problem_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi`: FastAPI's document, with every 4xx/5xx answer described as the Problem
    it really is (FastAPI would show its own HTTPValidationError for 422)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas.update(
            {
                name: schema
                for name, schema in Problem.model_json_schema(
                    ref_template="#/components/schemas/{model}"
                )
                .pop("$defs", {})
                .items()
            }
        )
        schemas["Problem"] = {
            k: v
            for k, v in Problem.model_json_schema(
                ref_template="#/components/schemas/{model}"
            ).items()
            if k != "$defs"
        }
        for path in document.get("paths", {}).values():
            for operation in path.values():
                # Any other client error (a path that matches nothing, a bad header) is a
                # Problem too: documented once, for every operation.
                operation.setdefault("responses", {}).setdefault(
                    "4XX", {"description": "Any other client error"}
                )
                for status, answer in operation["responses"].items():
                    if status[0] in "45":
                        answer["content"] = {PROBLEM_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
                        answer.setdefault("description", "Error")
        app.openapi_schema = document
        return document

    return openapi
