"""The event-log part of the Store contract. Events are never changed or deleted."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from ..wire.events import Event, EventCreate, EventPage

CommitListener = Callable[[list[Event]], None]


class EventStore(ABC):
    @abstractmethod
    async def append_event(self, intent_id: str, data: EventCreate, actor: str | None) -> Event: ...

    @abstractmethod
    async def list_events(
        self,
        intent_id: str,
        *,
        limit: int = 100,
        cursor: int = 0,
        since: str | None = None,
        event_type: str | None = None,
        max_bytes: int | None = None,
    ) -> EventPage:
        """Oldest first; `cursor` is the per-intent sequence already seen."""

    @abstractmethod
    async def events_after(
        self, global_sequence: int, limit: int = 1000, max_bytes: int | None = None
    ) -> list[Event]:
        """The whole server's log after a global sequence, in order: streams and backfill.
        `max_bytes` ends the list early once its events hold that much text (at least one)."""

    @abstractmethod
    def add_commit_listener(self, listener: CommitListener) -> None:
        """`listener(events)` runs on the event loop after each commit, in commit order."""
