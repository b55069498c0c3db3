"""Column fitting and the overview's pulse: pure functions, no server."""

from __future__ import annotations

from datetime import UTC, datetime

from backend.wire.events import Event
from openintent_tui.pulse import BUCKET_SECONDS, Pulse
from openintent_tui.widgets.virtual_table import Column, fit_columns

COLUMNS = [
    Column("status", "STATUS", 10),
    Column("title", "TITLE", 24, flex=True),
    Column("version", "VER", 5, priority=3),
    Column("agents", "AGENTS", 14, priority=2),
    Column("id", "ID", 36, priority=4),
]


def drawn(widths: list[int]) -> int:
    return sum(widths) + sum(1 for w in widths if w) - 1


def test_columns_drop_least_important_first_and_flex_takes_the_rest():
    wide = fit_columns(COLUMNS, 200, frozenset())
    assert wide[0] == 10 and wide[2:] == [5, 14, 36] and drawn(wide) == 200
    assert fit_columns(COLUMNS, 80, frozenset())[4] == 0  # the id goes first
    narrow = fit_columns(COLUMNS, 45, frozenset())
    assert narrow[2] == narrow[4] == 0 and narrow[3] == 0  # then the version, then agents
    assert narrow[:2] == [10, 34] and drawn(narrow) == 45
    tiny = fit_columns(COLUMNS, 20, frozenset())  # essential columns are never dropped
    assert tiny[:2] == [10, 24]


def test_hidden_columns_free_their_width():
    widths = fit_columns(COLUMNS, 120, frozenset({"agents"}))
    assert widths[3] == 0 and drawn(widths) == 120
    assert fit_columns(COLUMNS, 120, frozenset(c.key for c in COLUMNS))[0] > 0


def event(n: int, event_type: str, created_at: str, **payload) -> Event:
    return Event(
        id=f"e{n}",
        intent_id="i1",
        event_type=event_type,
        actor="a",
        payload=payload,
        created_at=created_at,
        sequence=n,
        global_sequence=n,
    )


def test_pulse_buckets_each_event_once_and_keeps_budget_alerts():
    pulse = Pulse()
    now = datetime(2030, 1, 1, 9, 0, 0, tzinfo=UTC).timestamp()
    pulse.record([event(1, "failure_recorded", "2030-01-01T08:59:55+00:00")])  # a backfill
    pulse.record([event(1, "failure_recorded", "2030-01-01T08:59:55+00:00")])  # again
    pulse.record([event(2, "status_changed", "x")], at=now)  # live: its arrival counts
    budget = {"kind": "budget_alert", "spent": 600, "limit": 1000, "unit": "tokens"}
    pulse.record([event(3, "comment", "x", **budget)], at=now - BUCKET_SECONDS)
    assert pulse.series("failures", now, 3) == [0, 1, 0]
    assert pulse.series("events", now, 3) == [0, 2, 1]
    assert pulse.series("status", now, 1) == [1]
    assert pulse.budgets["i1"][1]["spent"] == 600 and not pulse.budgets["i1"][1]["exceeded"]
    assert [e.id for e in pulse.failures] == ["e1"]
