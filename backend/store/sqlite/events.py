"""The append-only event log on SQLite."""

from __future__ import annotations

import sqlite3

from ...domain.clock import iso, parse_iso
from ...domain.errors import InvalidInput
from ...wire.events import EVENT_TYPES, Event, EventCreate, EventPage, event_type_error_detail
from ..events import EventStore
from .core import (
    EVENT_COLUMNS,
    SqliteCore,
    Tx,
    event_from_row,
    event_row_size,
    rows_within,
)
from .intents import require_intent


def check_event_type(event_type: str) -> None:
    if event_type not in EVENT_TYPES:
        raise InvalidInput(
            f"Unknown event_type {event_type!r}; see `errors` for the allowed values",
            errors=[event_type_error_detail()],
        )


class SqliteEvents(SqliteCore, EventStore):
    async def append_event(self, intent_id: str, data: EventCreate, actor: str | None) -> Event:
        check_event_type(data.event_type)

        def op(tx: Tx) -> Event:
            require_intent(tx, intent_id)
            for guard in tx.hooks.event_logging:  # a delegated agent needs events.log
                guard(tx, intent_id, data.event_type, actor)
            return tx.emit(
                intent_id,
                data.event_type,
                actor,
                data.payload,
                trace_id=data.trace_id,
                parent_event_id=data.parent_event_id,
            )

        return await self._write(op)

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
        where = ["intent_id = ?", "seq > ?"]
        params: list = [intent_id, cursor]
        if since:
            try:
                since_iso = iso(parse_iso(since))
            except ValueError:
                raise InvalidInput(
                    f"since must be an ISO 8601 timestamp, not {since!r}",
                    errors=[{"field": "since"}],
                ) from None
            where.append("created_at > ?")
            params.append(since_iso)
        if event_type:
            check_event_type(event_type)
            where.append("event_type = ?")
            params.append(event_type)

        def read(conn: sqlite3.Connection) -> EventPage:
            require_intent(conn, intent_id)
            cursor = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join(where)}"
                " ORDER BY seq LIMIT ?",
                [*params, limit + 1],
            )
            rows, more = rows_within(cursor, limit, max_bytes, event_row_size)
            cursor.close()
            events = [event_from_row(r) for r in rows]
            return EventPage(events=events, next_cursor=events[-1].sequence if more else None)

        return await self._read(read)

    async def events_after(
        self, global_sequence: int, limit: int = 1000, max_bytes: int | None = None
    ) -> list[Event]:
        def read(conn: sqlite3.Connection) -> list[Event]:
            cursor = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (global_sequence, limit),
            )
            rows, _ = rows_within(cursor, limit, max_bytes, event_row_size)
            cursor.close()
            return [event_from_row(r) for r in rows]

        return await self._read(read)
