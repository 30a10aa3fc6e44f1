"""Open data: every statistics dataset as CSV or JSON (see docs/open-data.md)."""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from ceir.stats import service
from ceir.stats.deps import get_datasets

router = APIRouter(prefix="/api/v1/statistics", tags=["open data"])

LICENCE = "CC-BY-4.0"  # the project's proposal, to be confirmed by the Ministry
DOCUMENTATION = "docs/open-data.md"


class DatasetName(enum.StrEnum):
    REGISTRATIONS = "registrations"
    ENFORCEMENT = "enforcement"
    APPLICATIONS = "applications"
    DECISION_TIMES = "decision_times"
    CHECKS = "checks"
    REASONS = "reasons"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def to_csv(data: service.Dataset) -> str:
    """Header of stable column names, ISO dates, an empty cell for a withheld value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(data.columns)
    for row in data.rows:
        writer.writerow([_cell(row[c]) for c in data.columns])
    return out.getvalue()


def to_json(data: service.Dataset) -> dict[str, Any]:
    return {
        "dataset": data.name,
        "from": data.period.start.isoformat(),
        "to": data.period.end.isoformat(),
        "timezone": str(service.TIMEZONE),
        "suppression_threshold": data.threshold,
        "licence": LICENCE,
        "documentation": DOCUMENTATION,
        "columns": data.columns,
        "rows": [
            {c: v.isoformat() if isinstance(v, dt.date) else v for c, v in row.items()}
            for row in data.rows
        ],
    }


def _filename(data: service.Dataset, extension: str) -> str:
    return f"ceir-{data.name}-{data.period.start}-{data.period.end}.{extension}"


Datasets = Annotated[dict[str, service.Dataset], Depends(get_datasets)]
NamePath = Annotated[DatasetName, Path(description="Which dataset")]


@router.get(
    "/{dataset}.json",
    summary="A statistics dataset as JSON",
    responses={200: {"content": {"application/json": {}}}},
)
def dataset_json(dataset: NamePath, datasets: Datasets) -> Response:
    """Rows of one dataset over a period (`from`, `to`; the last 90 days by default).

    Counts below the suppression threshold are `null` and their row has `suppressed: true`.
    """
    data = datasets[dataset.value]
    return Response(
        json.dumps(to_json(data), ensure_ascii=False),
        media_type="application/json",
        headers={"Content-Disposition": f'inline; filename="{_filename(data, "json")}"'},
    )


@router.get(
    "/{dataset}.csv",
    summary="A statistics dataset as CSV",
    responses={200: {"content": {"text/csv": {}}}},
)
def dataset_csv(dataset: NamePath, datasets: Datasets) -> Response:
    """The same rows as the JSON, as UTF-8 CSV; a withheld count is an empty cell."""
    data = datasets[dataset.value]
    return Response(
        to_csv(data),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(data, "csv")}"'},
    )
