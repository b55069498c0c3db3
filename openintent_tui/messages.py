"""Textual messages the app posts to its screens. Widgets and screens react with `@on`."""

from __future__ import annotations

from textual.message import Message

from backend.wire.events import Event


class EventsReceived(Message):
    """A batch of streamed events (wire `Event` Structs), flushed every ~50 ms."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


class ConnectionChanged(Message):
    """The live stream moved between `connecting`, `live`, `reconnecting` and `offline`, or
    is `unavailable` (this server has no such stream)."""

    def __init__(self, state: str, retry_in: float | None = None) -> None:
        super().__init__()
        self.state = state
        self.retry_in = retry_in


class Resynced(Message):
    """The stream came back after a gap: screens re-read what they show."""
