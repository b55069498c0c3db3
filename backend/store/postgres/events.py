"""The append-only event log on PostgreSQL."""

from __future__ import annotations

from typing import Any

import asyncpg

from ...domain.clock import parse_iso
from ...domain.errors import InvalidInput
from ...wire.events import Event, EventCreate, EventPage
from ..events import EventStore
from ..sqlite.events import check_event_type
from .core import EVENT_COLUMNS, PostgresCore, Tx, event_from_row, event_row_size, within
from .intents import require_intent


class PostgresEvents(PostgresCore, EventStore):
    async def append_event(self, intent_id: str, data: EventCreate, actor: str | None) -> Event:
        check_event_type(data.event_type)

        async def op(tx: Tx) -> Event:
            for guard in tx.hooks.event_logging:  # a delegated agent needs events.log
                await guard(tx, intent_id, data.event_type, actor)
            # emit's UPDATE of the intent's sequence head raises NotFound for a missing one
            return await tx.emit(
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
        where = ["intent_id = $1", "seq > $2"]
        params: list[Any] = [intent_id, cursor]
        if since:
            try:
                since_moment = parse_iso(since)
            except ValueError:
                raise InvalidInput(
                    f"since must be an ISO 8601 timestamp, not {since!r}",
                    errors=[{"field": "since"}],
                ) from None
            params.append(since_moment)
            where.append(f"created_at > ${len(params)}")
        if event_type:
            check_event_type(event_type)
            params.append(event_type)
            where.append(f"event_type = ${len(params)}")
        params.append(limit + 1)

        async def read(conn: asyncpg.Connection) -> EventPage:
            await require_intent(conn, intent_id)
            found = await conn.fetch(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join(where)}"
                f" ORDER BY seq LIMIT ${len(params)}",
                *params,
            )
            rows, more = within(found, limit, max_bytes, event_row_size)
            events = [event_from_row(r) for r in rows]
            return EventPage(events=events, next_cursor=events[-1].sequence if more else None)

        return await self._read(read)

    async def events_after(
        self, global_sequence: int, limit: int = 1000, max_bytes: int | None = None
    ) -> list[Event]:
        found = await self._event_rows_after(global_sequence, limit)
        rows, _ = within(found, limit, max_bytes, event_row_size)
        return [event_from_row(r) for r in rows]
