"""Small text helpers shared by screens: relative times, countdowns, status colours."""

from __future__ import annotations

from datetime import datetime

from backend.domain.clock import parse_iso_or_none

STATUS_STYLES = {
    "draft": "dim",
    "active": "bold green",
    "blocked": "bold red",
    "completed": "blue",
    "abandoned": "dim italic",
    "suspended_awaiting_input": "yellow",
    "pending": "bold magenta",
    "resolved": "dim",
    "released": "dim",
    "expired": "yellow",
    "revoked": "red",
}


def ago(ts: str | None, now: datetime) -> str:
    when = parse_iso_or_none(ts)
    if when is None:
        return "-"
    return _span((now - when).total_seconds()) + " ago"


def until(ts: str | None, now: datetime) -> str:
    when = parse_iso_or_none(ts)
    if when is None:
        return "-"
    seconds = (when - now).total_seconds()
    if seconds <= 0:
        return "expired"
    return "in " + _span(seconds)


def _span(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


SHORT_ID = 8


def short_id(value: str | None) -> str:
    """The part of an id that tells it apart: its tail. Ours are UUIDv7, whose head is the
    creation time, so ids made within minutes share their first 8 characters; the tail is
    random. `:open` accepts this tail (or any unique prefix)."""
    return (value or "-")[-SHORT_ID:]
