"""Widgets and helpers on their own: the event tail's buffer, and `:` verb parsing."""

from __future__ import annotations

import msgspec
from textual.app import App, ComposeResult

from backend.wire.events import Event
from openintent_tui.commands import parse_verb
from openintent_tui.widgets.event_tail import EventTail, event_line


def event(seq: int, event_type: str = "comment") -> Event:
    return Event(
        id=f"ev-{seq}",
        intent_id="i",
        event_type=event_type,
        actor="bot",
        payload={"n": seq},
        created_at="2030-01-01T09:00:00+00:00",
        sequence=seq,
    )


class TailApp(App):
    def compose(self) -> ComposeResult:
        yield EventTail(max_lines=50, id="tail")


async def test_tail_orders_backfill_after_live_and_drops_duplicates():
    app = TailApp()
    async with app.run_test(size=(80, 10)) as pilot:
        tail = app.query_one(EventTail)
        tail.add_events([event(5), event(6)])  # live events first
        await pilot.pause(0.1)
        tail.add_events([event(s) for s in range(1, 7)])  # then the backfill, overlapping
        await pilot.pause(0.1)
        assert [line.split()[1] for line, _ in tail.lines] == [f"#{s}" for s in range(1, 7)]


async def test_tail_is_bounded_and_pauses_with_a_new_count():
    app = TailApp()
    async with app.run_test(size=(80, 10)) as pilot:
        tail = app.query_one(EventTail)
        tail.focus()
        tail.add_events([event(s) for s in range(1, 121)])
        await pilot.pause(0.1)
        assert len(tail.lines) == 50 and "#120" in tail.lines[-1][0]
        assert tail.following and tail.scroll_y == tail.max_scroll_y
        await pilot.press("k")
        assert not tail.following
        tail.add_events([event(s) for s in range(121, 124)])
        await pilot.pause(0.1)
        assert tail.unseen == 3 and "3 new" in tail.border_subtitle
        await pilot.press("F")
        assert tail.following and tail.unseen == 0 and tail.border_subtitle == "following"


def test_parse_verb():
    assert parse_verb(":intents status=active") == ("intents", [], {"status": "active"})
    assert parse_verb("open abc-123") == ("open", ["abc-123"], {})
    assert parse_verb('ctx "prod eu"') == ("ctx", ["prod eu"], {})
    assert parse_verb("  ") == ("", [], {})


def test_tail_lines_keep_their_columns_whatever_the_names_length():
    short = event(1, "comment")
    long_type = event(2, "coordinator.escalation_resolved")
    long_actor = msgspec.structs.replace(event(3, "llm_request_completed"), actor="x" * 40)
    lines = [event_line(e)[0] for e in (short, long_type, long_actor)]
    starts = {line.index("n=") for line in lines}  # where the payload summary begins
    assert len(starts) == 1, lines
    assert "coordinator.escalatio…" in lines[1] and "llm_request_completed " in lines[2]
    assert "x" * 11 + "…" in lines[2]
