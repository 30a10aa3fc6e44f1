"""Working days in Kazakhstan and the deadline by which an officer decides an application."""

from __future__ import annotations

import datetime as dt

from ceir.config import CitizenSettings


def is_working_day(day: dt.date, rules: CitizenSettings) -> bool:
    """Monday to Friday, unless a public holiday or a transferred day off; a weekend day the
    government made a working day counts."""
    if day in rules.working_days_transferred:
        return True
    if day.weekday() >= 5 or day in rules.days_off_transferred or day in rules.holidays_movable:
        return False
    return f"{day:%m-%d}" not in rules.holidays_fixed


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
