"""The fairness simulation (bench.fairness) at a small size, on both databases: nobody who did
everything right is ever blocked, no registered phone is ever notified, a damaged operator file is
stopped by the safety brake before it reaches a list, and grey imports are blocked."""

from __future__ import annotations

import pytest
from bench.fairness import run


@pytest.mark.parametrize("grace", [4])
def test_honest_owners_are_never_blocked_and_a_damaged_file_reaches_no_list(
    database_url: str, grace: int
) -> None:
    kind = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    figures = run(
        kind, 150, 14, seed=3, damage=0.5, brake_min_devices=5, grace=grace, url=database_url
    )
    stories = figures["stories"]
    notified, blocked = figures["ever notified by story"], figures["ever blocked by story"]

    assert figures["declared devices ever notified or blocked (target 0)"] == 0
    assert figures["honest devices ever blocked, excluding late"] == 0
    assert "damaged-file ghost" not in notified  # the damaged file's run was held, not listed
    assert any("beeline" in held for held in figures["held runs"])
    # Everyone with the trip on record was registered at once; the others went to an officer.
    assert figures["approved automatically by story"].get("trip") == stories["trip"]
    assert figures["approved by an officer by story"].get("no_record") == stories["no_record"]
    assert figures["still in review at the end"] == 0
    # The rules still bite: every grey import is blocked once its grace is over.
    assert blocked.get("illegal") == stories["illegal"]
    assert blocked.get("late", 0) == stories.get("late", 0)
