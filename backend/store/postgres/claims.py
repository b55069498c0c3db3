"""Per-row claims on an outbox table, so that every instance on a database sends and each
row is sent by one instance at a time (issue 12). Reusable by any outbox whose table has
`id`, `claimed_by text` and `claimed_until timestamptz` columns.

An instance claims due rows with `FOR UPDATE SKIP LOCKED` (instances claiming at the same
moment take different rows and never wait for each other) and writes its name and a
deadline into them. While it lives, `ClaimKeeper` pushes the deadline of its pending claims
on every third of the claim time; a claim past its deadline belongs to nobody, so when an
instance dies (`kill -9`, a lost machine) another takes its rows once their deadline
passes. Deadlines are on the database's clock (`clock_timestamp()`): the instances' clocks
never meet.

The contract this gives: a row is sent by one live instance at a time, and a row its dead
instance had claimed but not started is sent once, by a survivor. A row whose send was in
flight when its instance died is sent again (at least once: nobody can know whether the
receiver got it). A live instance that cannot reach the database for a whole claim time
loses its claims, and a send it has in flight may then be repeated by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

import asyncpg

from ..sqlite.core import new_uid

log = logging.getLogger(__name__)

CLAIM_SECONDS = 10.0
"""Default claim time: how long a dead instance's claimed rows wait before another takes
them (the `postgres_claim_seconds` setting)."""


def instance_name() -> str:
    """Who claims: host and process, for an operator reading `claimed_by`, and a random
    part, since one process may open several stores (tests do)."""
    return f"{socket.gethostname()}:{os.getpid()}:{new_uid()[-8:]}"


class RowClaims:
    """The claim statements of one table. `pending` is the SQL condition of rows still to
    be sent (they are the only ones claimed, renewed or released)."""

    def __init__(self, table: str, pending: str, owner: str, seconds: float) -> None:
        self.table = table
        self.pending = pending
        self.owner = owner
        self.seconds = seconds

    def claimable(self, owner: str = "$1") -> str:
        """The condition of rows `owner` may claim: unclaimed, claimed by a dead instance
        (past the deadline), or its own (which it may have read but not started yet)."""
        return (
            f"({self.pending}) AND (claimed_by IS NULL OR claimed_by = {owner}"
            " OR claimed_until < clock_timestamp())"
        )

    def claim_statement(self, *, where: str, order_by: str, limit: str, returning: str) -> str:
        """An UPDATE that claims up to `limit` claimable rows matching `where`, first by
        `order_by`, and returns `returning` of them (use it as a CTE to join and order).
        `$1` is the owner and `$2` the claim time in seconds (`claim_args`); the caller's
        parameters start at `$3`."""
        return (
            f"UPDATE {self.table} SET claimed_by = $1,"
            " claimed_until = clock_timestamp() + make_interval(secs => $2)"
            f" WHERE id IN (SELECT id FROM {self.table}"
            f" WHERE {self.claimable()} AND ({where})"
            f" ORDER BY {order_by} LIMIT {limit} FOR UPDATE SKIP LOCKED)"
            f" RETURNING {returning}"
        )

    def claim_args(self) -> tuple[str, float]:
        return (self.owner, self.seconds)

    async def renew(self, conn: asyncpg.Pool | asyncpg.Connection) -> None:
        """Push on the deadline of this instance's pending claims. A row locked right now
        (its attempt being recorded) is skipped rather than waited for: waiting could
        deadlock with the writer's batch, and the next renewal comes soon enough."""
        await conn.execute(
            f"UPDATE {self.table}"
            " SET claimed_until = clock_timestamp() + make_interval(secs => $2)"
            f" WHERE id IN (SELECT id FROM {self.table}"
            f" WHERE claimed_by = $1 AND ({self.pending}) FOR UPDATE SKIP LOCKED)",
            self.owner,
            self.seconds,
        )

    async def release(self, conn: asyncpg.Pool | asyncpg.Connection) -> None:
        """Give up this instance's pending claims (it is stopping): others take them at
        once instead of after the deadline."""
        await conn.execute(
            f"UPDATE {self.table} SET claimed_by = NULL, claimed_until = NULL"
            f" WHERE id IN (SELECT id FROM {self.table}"
            f" WHERE claimed_by = $1 AND ({self.pending}) FOR UPDATE SKIP LOCKED)",
            self.owner,
        )


class ClaimKeeper:
    """Renews the claims of one instance while it lives, every third of the claim time."""

    def __init__(self, claims: list[RowClaims]) -> None:
        self.claims = claims
        self._task: asyncio.Task | None = None

    def start(self, pool: asyncpg.Pool) -> None:
        self._task = asyncio.create_task(self._renew_forever(pool), name="postgres-claims")

    async def stop(self, pool: asyncpg.Pool | None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if pool is None:
            return
        for claims in self.claims:
            try:
                await claims.release(pool)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("releasing %s claims failed (they expire): %s", claims.table, exc)

    async def _renew_forever(self, pool: asyncpg.Pool) -> None:
        every = min(c.seconds for c in self.claims) / 3
        while True:
            await asyncio.sleep(every)
            for claims in self.claims:
                try:
                    await claims.renew(pool)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    # The next renewal may get through; a whole claim time without one
                    # hands the rows to another instance (the module's contract).
                    log.warning("renewing %s claims failed: %s", claims.table, exc)
