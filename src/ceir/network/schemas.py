"""What the operators' API answers (pydantic models, the source of its OpenAPI schema)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class ListFileOut(BaseModel):
    name: str
    kind: str = Field(description="block, notification, exception or manifest")
    variant: str = Field(description="full, delta, manifest or signature")
    rows: int
    size: int = Field(description="bytes")
    sha256: str
    url: str = Field(description="where to download it; supports Range for resuming")


class RunOut(BaseModel):
    run_id: int
    run_date: dt.date
    finished_at: dt.datetime | None
    files: list[ListFileOut]


class RunsOut(BaseModel):
    operator: str
    runs: list[RunOut]
    next_before: int | None = Field(
        description="pass as `before` to get the next, older page; null on the last page"
    )
