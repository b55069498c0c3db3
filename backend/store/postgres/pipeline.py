"""What lets the PostgreSQL writer skip round trips: writes deferred and sent together, and
what this instance knows of the intents it wrote last.

A batch's ops run one after another on one connection, and each statement waited for is a
round trip (on a busy machine the database backend must also be scheduled each time). Most
hot writes need no answer from the database: an intent's create, and, once the intent's
event head and row are known, its appends and state patches. `Pipeline` holds such
statements and sends them with asyncpg's `executemany` (pipelined: one round trip for a run
of the same statement) before any statement that reads, and before COMMIT.

`KnownIntents` is what makes an answer unnecessary: an intent's event sequence head and its
row as this instance last wrote them. Every write of any instance locks `event_head` and any
change to an intent appends an event on it, which moves the global head; so if the head at
a batch's start is the one this instance's last COMMIT left, nobody else has written since
and what it knows is still true. Otherwise the writer reads which intents the events
written since are on, and forgets those (another instance's writes to other intents leave
these alone); after any rollback it forgets everything.
Deferred statements check what they assume anyway (`core._known_intent_event_sql`): a wrong
assumption fails the statement, and the batch runs again with a savepoint per op and
without deferring (`PostgresCore._run_batch`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg

from ...wire.intents import Intent

MAX_KNOWN = 4096
MAX_KNOWN_STATE_BYTES = 4096
"""Rows with a larger state (as JSON) are not remembered, only their event head: memory
stays bounded (a few tens of MB at worst) and a large state is read, not held."""
MAX_CATCH_UP = 10_000
"""More events than this written elsewhere since our last commit: forget everything rather
than read which intents they touched."""


class KnownIntents:
    __slots__ = ("_head", "_rows")

    def __init__(self) -> None:
        self._rows: dict[str, tuple[int, Intent | None]] = {}
        self._head: int | None = None

    def stale_since(self, head: int) -> int | None:
        """A batch starts with the global head at `head`: None when that is the head our
        last commit left (nobody else wrote since), else the head up to which what we know
        is true (0: nothing). The caller then names the intents written since
        (`changed`)."""
        if head == self._head:
            return None
        if self._head is None or not 0 < head - self._head <= MAX_CATCH_UP:
            self._rows.clear()
            self._head = head
            return None
        return self._head

    def changed(self, head: int, intent_ids: Iterable[str]) -> None:
        """Events up to `head` were appended elsewhere, on these intents: forget them."""
        for intent_id in intent_ids:
            self._rows.pop(intent_id, None)
        self._head = head

    def committed(self, head: int) -> None:
        self._head = head

    def forget(self) -> None:
        self._rows.clear()
        self._head = None

    def seq(self, intent_id: str) -> int | None:
        known = self._rows.get(intent_id)
        return None if known is None else known[0]

    def intent(self, intent_id: str) -> Intent | None:
        """The intent's row as last written here, when it had no live lease then."""
        known = self._rows.get(intent_id)
        return None if known is None else known[1]

    def remember(
        self, intent_id: str, seq: int, intent: Intent | None, state_bytes: int = 0
    ) -> None:
        """The intent's event head is now `seq`; `intent` its whole row, when known, with
        its state `state_bytes` long as JSON."""
        if state_bytes > MAX_KNOWN_STATE_BYTES:
            intent = None
        self._rows.pop(intent_id, None)
        self._rows[intent_id] = (seq, intent)
        if len(self._rows) > MAX_KNOWN:
            del self._rows[next(iter(self._rows))]  # the least recently written


class Pipeline:
    __slots__ = ("_conn", "_pending", "enabled")

    def __init__(self, conn: asyncpg.Connection, *, enabled: bool) -> None:
        self._conn = conn
        self.enabled = enabled
        """False in a batch rerun with savepoints: each op's statements run as it goes."""
        self._pending: list[tuple[str, tuple[Any, ...]]] = []

    def defer(self, sql: str, args: tuple[Any, ...]) -> None:
        self._pending.append((sql, args))

    async def flush(self) -> None:
        """Send the deferred statements, in order: one `executemany` per run of the same
        statement."""
        pending, self._pending = self._pending, []
        start = 0
        while start < len(pending):
            sql = pending[start][0]
            end = start + 1
            while end < len(pending) and pending[end][0] == sql:
                end += 1
            if end - start == 1:
                await self._conn.execute(sql, *pending[start][1])
            else:
                await self._conn.executemany(sql, [args for _, args in pending[start:end]])
            start = end
