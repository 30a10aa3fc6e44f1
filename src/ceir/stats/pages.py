"""The public statistics page: charts drawn as inline SVG, each with its data as a table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from ceir.citizens.models import ApplicationKind
from ceir.config import StatsSettings
from ceir.i18n import LANGUAGES, get_translations, tidy
from ceir.network.reasons import label as reason_label
from ceir.registry.models import RegistrationSource
from ceir.stats import service
from ceir.stats.charts import Chart, Series, build
from ceir.stats.deps import get_datasets, get_period, get_stats_settings
from ceir.web.templating import select_language, templates

router = APIRouter(tags=["pages"])


class _Words:
    """Numbers, dates and labels in one language."""

    def __init__(self, lang: str, threshold: int) -> None:
        self.lang = lang
        self.withheld = f"<{threshold}"
        self._ = get_translations(lang).gettext

    def day(self, day: dt.date) -> str:
        return format_date(day, "d MMM y", locale=self.lang)

    def short_day(self, day: dt.date) -> str:
        return format_date(day, "d MMM", locale=self.lang)

    def count(self, value: float) -> str:
        return format_decimal(round(value), locale=self.lang)

    def hours(self, value: float) -> str:
        return format_decimal(round(value, 1), format="#,##0.#", locale=self.lang)

    def share(self, value: float) -> str:
        return format_percent(value, format="#,##0.#%", locale=self.lang)

    def source(self, source: str) -> str:
        _ = self._
        names: dict[str, str] = {
            RegistrationSource.IMPORTER_DECLARATION: _("importers' declarations"),
            RegistrationSource.CUSTOMS: _("customs"),
            RegistrationSource.PERSONAL_IMPORT: _("personal imports"),
            RegistrationSource.APPEAL: _("appeals"),
            RegistrationSource.AMNESTY: _("amnesty"),
        }
        return names.get(source, source)

    def kind(self, kind: str) -> str:
        _ = self._
        names: dict[str, str] = {
            ApplicationKind.APPEAL: _("appeals"),
            ApplicationKind.PERSONAL_IMPORT: _("personal imports"),
        }
        return names.get(kind, kind)

    def event(self, event: str) -> str:
        _ = self._
        return {"filed": _("filed"), "approved": _("approved"), "rejected": _("rejected")}.get(
            event, event
        )

    def measure(self, measure: str) -> str:
        _ = self._
        return {
            "notified": _("notified (grey list)"),
            "blocked": _("blocked (black list)"),
            "newly_blocked": _("newly blocked"),
            "unblocked": _("unblocked"),
            "second_imei_pending": _("second IMEIs awaiting confirmation"),
        }.get(measure, measure)


def _pivot(
    rows: list[dict[str, Any]], category: str, key: str, value: str, keys: list[str]
) -> tuple[list[Any], dict[str, list[float | None]]]:
    """Long rows -> the categories in order, and one list of values per key."""
    categories: list[Any] = []
    values: dict[str, list[float | None]] = {k: [] for k in keys}
    index: dict[Any, int] = {}
    for row in rows:
        if row[key] not in values:
            continue
        at = index.get(row[category])
        if at is None:
            at = index[row[category]] = len(categories)
            categories.append(row[category])
            for column in values.values():
                column.append(None)
        values[row[key]][at] = row[value]
    return categories, values


def _desc(words: _Words, kind: str, period: service.Period) -> str:
    _ = words._
    what = _("Line chart") if kind == "line" else _("Bar chart")
    text = _(
        "%(what)s from %(start)s to %(end)s. Values below %(threshold)s are withheld and not "
        "drawn. The numbers are in the table below the chart."
    ) % {
        "what": what,
        "start": words.day(period.start),
        "end": words.day(period.end),
        "threshold": words.withheld[1:],
    }
    return tidy(text, words.lang)


def _chart(
    words: _Words,
    period: service.Period,
    *,
    id: str,
    kind: str,
    title: str,
    x_label: str,
    y_label: str,
    categories: list[Any],
    series: list[Series],
    format_value: Callable[[float], str],
) -> Chart:
    dated = all(isinstance(c, dt.date) for c in categories)
    return build(
        id=id,
        kind=kind,
        title=title,
        desc=_desc(words, kind, period),
        x_label=x_label,
        y_label=y_label,
        categories=[words.day(c) if dated else str(c) for c in categories],
        tick_labels=[words.short_day(c) for c in categories] if dated else None,
        series=series,
        format_value=format_value,
        withheld=words.withheld,
    )


def build_charts(
    datasets: dict[str, service.Dataset], period: service.Period, lang: str, threshold: int
) -> list[Chart]:
    words = _Words(lang, threshold)
    _ = words._
    charts: list[Chart] = []

    rows = datasets["registrations"].rows
    sources = list(dict.fromkeys(r["source"] for r in rows))
    shown = [s for s in sources if any(r["registrations"] for r in rows if r["source"] == s)]
    days, values = _pivot(rows, "date", "source", "registrations", shown or sources)
    charts.append(
        _chart(
            words,
            period,
            id="registrations",
            kind="line",
            title=_("Devices registered per day, by source"),
            x_label=_("Day"),
            y_label=_("Devices"),
            categories=days,
            series=[Series(s, words.source(s), values[s]) for s in values],
            format_value=words.count,
        )
    )

    rows = datasets["enforcement"].rows
    for chart_id, title, measures in (
        (
            "enforcement-lists",
            _("Devices on the grey and black lists"),
            ["notified", "blocked", "second_imei_pending"],
        ),
        ("enforcement-changes", _("Devices blocked and unblocked"), ["newly_blocked", "unblocked"]),
    ):
        runs, values = _pivot(rows, "run_date", "measure", "devices", measures)
        charts.append(
            _chart(
                words,
                period,
                id=chart_id,
                kind="line",
                title=title,
                x_label=_("Day of the classification run"),
                y_label=_("Devices"),
                categories=runs,
                series=[Series(m, words.measure(m), values[m]) for m in measures],
                format_value=words.count,
            )
        )

    events = list(service.APPLICATION_EVENTS)
    for kind, title in (
        (ApplicationKind.APPEAL.value, _("Appeals filed and decided per day")),
        (
            ApplicationKind.PERSONAL_IMPORT.value,
            _("Personal-import applications filed and decided per day"),
        ),
    ):
        rows = [r for r in datasets["applications"].rows if r["kind"] == kind]
        days, values = _pivot(rows, "date", "event", "applications", events)
        charts.append(
            _chart(
                words,
                period,
                id=f"applications-{kind.replace('_', '-')}",
                kind="line",
                title=title,
                x_label=_("Day"),
                y_label=_("Applications"),
                categories=days,
                series=[Series(e, words.event(e), values[e]) for e in events],
                format_value=words.count,
            )
        )

    kinds = [k.value for k in ApplicationKind]
    weeks, values = _pivot(
        datasets["decision_times"].rows, "week_start", "kind", "median_hours", kinds
    )
    charts.append(
        _chart(
            words,
            period,
            id="decision-times",
            kind="line",
            title=_("Median time to a decision, by week"),
            x_label=_("Week starting"),
            y_label=_("Hours"),
            categories=weeks,
            series=[Series(k, words.kind(k), values[k]) for k in kinds],
            format_value=words.hours,
        )
    )

    rows = datasets["checks"].rows
    charts.append(
        _chart(
            words,
            period,
            id="checks",
            kind="bar",
            title=_("Share of public checks that found an unregistered device"),
            x_label=_("Day"),
            y_label=_("Share of checks"),
            categories=[r["date"] for r in rows],
            series=[Series("share", _("unregistered"), [r["share"] for r in rows])],
            format_value=words.share,
        )
    )
    return charts


def reason_months(data: service.Dataset, lang: str, threshold: int) -> list[dict[str, Any]]:
    """The reasons dataset as one table per month, newest first, for the page.

    Rows whose every number is withheld are left out: they say no more than their absence.
    """
    words = _Words(lang, threshold)
    _ = words._
    months: dict[str, list[dict[str, Any]]] = {}
    for row in data.rows:
        counts = [row[c] for c in service.REASON_COUNTS]
        if all(value is None for value in counts):
            continue
        cells = [words.withheld if v is None else words.count(v) for v in counts]
        share = row["overturned_share"]
        cells.append(words.withheld if share is None else words.share(share))
        months.setdefault(row["month"], []).append(
            {
                "reason": reason_label(row["reason"], lang),
                "code": row["reason"],
                "operator": _("operator unknown")
                if row["operator"] == service.UNKNOWN_OPERATOR
                else row["operator"],
                "cells": cells,
            }
        )
    return [
        {
            "title": format_date(dt.date.fromisoformat(f"{month}-01"), "LLLL y", locale=lang),
            "rows": rows,
        }
        for month, rows in sorted(months.items(), reverse=True)
    ]


def reason_columns(lang: str) -> list[str]:
    _ = get_translations(lang).gettext
    return [
        _("notified (grey list)"),
        _("blocked (black list)"),
        _("appeals"),
        _("overturned"),
        _("upheld"),
        _("Share overturned"),
    ]


def dataset_titles(lang: str) -> dict[str, str]:
    _ = get_translations(lang).gettext
    return {
        "registrations": _("Registrations per day, by source"),
        "enforcement": _("Notified, blocked and unblocked devices, per classification run"),
        "applications": _("Applications filed and decided per day"),
        "decision_times": _("Median time to a decision, by week"),
        "checks": _("Public checks per day, and the share that found an unregistered device"),
        "reasons": _("Blocks and appeals by reason, operator and month"),
    }


@router.get("/statistics", response_class=HTMLResponse, include_in_schema=False)
def statistics_page(
    request: Request,
    period: Annotated[service.Period, Depends(get_period)],
    datasets: Annotated[dict[str, service.Dataset], Depends(get_datasets)],
    settings: Annotated[StatsSettings, Depends(get_stats_settings)],
) -> Response:
    lang = select_language(request)
    threshold = settings.suppression_threshold
    query = {"from": period.start.isoformat(), "to": period.end.isoformat()}
    words = _Words(lang, threshold)
    context = {
        "lang": lang,
        "language_links": {
            code: "?" + urlencode({**request.query_params, "lang": code}) for code in LANGUAGES
        },
        "period_start": words.day(period.start),
        "period_end": words.day(period.end),
        "threshold": threshold,
        "charts": build_charts(datasets, period, lang, threshold),
        "reason_months": reason_months(datasets["reasons"], lang, threshold),
        "reason_columns": reason_columns(lang),
        "downloads": [
            (
                name,
                dataset_titles(lang)[name],
                f"/api/v1/statistics/{name}.csv?{urlencode(query)}",
                f"/api/v1/statistics/{name}.json?{urlencode(query)}",
            )
            for name in service.DATASETS
        ],
    }
    return templates.TemplateResponse(request, "stats/statistics.html", context)
