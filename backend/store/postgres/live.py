"""Commit listeners on every instance: the events committed through any server on the
database reach this one's listeners (live SSE streams, the webhook worker's wake-up) once
each, in global order.

Each write transaction that appended events ends with `pg_notify(CHANNEL, <new head>)`;
PostgreSQL delivers notifications after COMMIT, in commit order. The notification only says
"the log now reaches N": the events themselves are read from the log (the source of truth),
from the last one handed out here. So a lost or merged notification loses nothing (the next
one, or the next local commit, catches up), and a local commit's events are handed out
straight from memory once everything before them has been.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from ...wire.events import Event
from ..events import CommitListener

CHANNEL = "openintent_events"
PAGE = 1000
RECHECK_SECONDS = 5.0
"""How often the follower checks its connection even when nothing woke it."""

log = logging.getLogger(__name__)

ReadAfter = Callable[[int, int], Awaitable[list[Event]]]
"""`read_after(global_sequence, limit)`: the log's events after that id, in order."""


class CommitFeed:
    def __init__(self, listeners: list[CommitListener]) -> None:
        self._listeners = listeners
        self._lock = asyncio.Lock()
        self._published = 0
        self._latest = 0
        self._wake = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._follower: asyncio.Task | None = None
        self._read_after: ReadAfter | None = None
        self._dsn = ""
        self._stopping = False

    async def start(self, dsn: str, head: int, read_after: ReadAfter) -> None:
        """Listen from `head` (the committed head when the store opened) on."""
        self._published = self._latest = head
        self._read_after = read_after
        self._dsn = dsn
        self._stopping = False
        await self._listen()
        self._follower = asyncio.create_task(self._follow(), name="postgres-commit-feed")

    async def stop(self) -> None:
        self._stopping = True
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _listen(self) -> asyncpg.Connection:
        conn = self._conn = await asyncpg.connect(self._dsn)
        await conn.add_listener(CHANNEL, self._notified)
        conn.add_termination_listener(lambda _conn: self._wake.set())
        return conn

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self._latest = max(self._latest, int(str(payload)))
        self._wake.set()

    async def _follow(self) -> None:
        while not self._stopping:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancellation
            # that stop() sends when the wake-up lands at the same moment (seen here).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RECHECK_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                if self._conn is None or self._conn.is_closed():
                    # Lost (a restart, a network cut): listen again, and ask the log's head
                    # for whatever was notified meanwhile.
                    conn = await self._listen()
                    head = await conn.fetchval("SELECT last_id FROM event_head")
                    self._latest = max(self._latest, head)
                async with self._lock:
                    await self._catch_up(self._latest)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # The log keeps them: the next notification or local commit catches up.
                log.warning("reading other instances' events failed: %s", exc)

    async def own(self, events: list[Event]) -> None:
        """This instance's committed events (contiguous ids: core.py), after whatever other
        instances committed before them."""
        async with self._lock:
            try:
                await self._catch_up(events[0].global_sequence - 1)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # Not out of order: these too are read from the log when our own
                # notification arrives.
                log.warning("reading other instances' events failed: %s", exc)
                return
            self._hand_out(events)

    async def _catch_up(self, upto: int) -> None:
        assert self._read_after is not None
        while self._published < upto:
            events = [
                e
                for e in await self._read_after(self._published, min(PAGE, upto - self._published))
                if e.global_sequence <= upto
            ]
            if not events:  # not visible yet on this connection's snapshot: next wake-up
                return
            self._hand_out(events)

    def _hand_out(self, events: list[Event]) -> None:
        fresh = [e for e in events if e.global_sequence > self._published]
        if not fresh:
            return
        self._published = fresh[-1].global_sequence
        for listener in self._listeners:
            listener(fresh)
