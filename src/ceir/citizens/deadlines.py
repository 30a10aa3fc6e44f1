"""Working days in Kazakhstan and the deadline by which an officer decides an application."""

from __future__ import annotations

import datetime as dt

from ceir.config import CitizenSettings

# Transferred days off per (year, the rules that make them): a deadline walks day by day.
_TRANSFERS: dict[tuple[object, ...], frozenset[dt.date]] = {}


def _holidays(year: int, rules: CitizenSettings) -> tuple[list[dt.date], set[dt.date]]:
    """The year's public holidays, and those of them a weekend does not move (religious)."""
    fixed = []
    for text in rules.holidays_fixed:
        month, day = (int(part) for part in text.split("-"))
        fixed.append(dt.date(year, month, day))
    movable = [d for d in rules.holidays_movable if d.year == year]
    kept = {dt.date(year, *map(int, t.split("-"))) for t in rules.holidays_without_transfer}
    return sorted(set(fixed) | set(movable)), kept | set(movable)


def transferred_days_off(year: int, rules: CitizenSettings) -> frozenset[dt.date]:
    """Days off that replace the year's holidays falling on a Saturday or Sunday.

    Labour Code, art. 85: when a day off and a holiday coincide, the day off moves to the next
    working day after the holiday; religious holidays (Orthodox Christmas, Kurban ait) move
    nothing. Holidays in a row (Nauryz) push each move past the whole run of days off.
    """
    key = (
        year,
        tuple(rules.holidays_fixed),
        tuple(rules.holidays_movable),
        tuple(rules.holidays_without_transfer),
        tuple(rules.days_off_transferred),
        tuple(rules.working_days_transferred),
    )
    if key in _TRANSFERS:
        return _TRANSFERS[key]
    holidays, without_transfer = _holidays(year, rules)
    taken: set[dt.date] = set()
    for holiday in holidays:
        if holiday.weekday() < 5 or holiday in without_transfer:
            continue
        day = holiday + dt.timedelta(days=1)
        while not _ordinary_working_day(day, rules) or day in taken:
            day += dt.timedelta(days=1)
        taken.add(day)
    _TRANSFERS[key] = frozenset(taken)
    return _TRANSFERS[key]


def _is_holiday(day: dt.date, rules: CitizenSettings) -> bool:
    return f"{day:%m-%d}" in rules.holidays_fixed or day in rules.holidays_movable


def _ordinary_working_day(day: dt.date, rules: CitizenSettings) -> bool:
    """Working by the calendar and the government's decrees, before the weekend transfers."""
    if day in rules.working_days_transferred:
        return True
    if day.weekday() >= 5 or day in rules.days_off_transferred:
        return False
    return not _is_holiday(day, rules)


def is_working_day(day: dt.date, rules: CitizenSettings) -> bool:
    """Monday to Friday, unless a public holiday, the day off a weekend holiday moved there, or
    a day the government's decree made a day off; a weekend day the decree made working counts."""
    if not _ordinary_working_day(day, rules):
        return False
    if day in rules.working_days_transferred:
        return True
    # A holiday late in December may move its day off into January.
    return not any(day in transferred_days_off(y, rules) for y in (day.year, day.year - 1))


def add_working_days(start: dt.date, count: int, rules: CitizenSettings) -> dt.date:
    """The `count`-th working day after `start` (the filing day itself does not count)."""
    day = start
    while count > 0:
        day += dt.timedelta(days=1)
        if is_working_day(day, rules):
            count -= 1
    return day


def decision_deadline(filed_on: dt.date, rules: CitizenSettings) -> dt.date:
    return add_working_days(filed_on, rules.decision_working_days, rules)


def is_overdue(deadline: dt.date | None, today: dt.date) -> bool:
    return deadline is not None and today > deadline
