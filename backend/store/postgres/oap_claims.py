"""How several instances on one PostgreSQL database share OAP chains (`OapClaims`).

A running chain is claimed: `owner` runs it until `claimed_until`, on the database's clock
(instances' clocks may differ), which every write of the owner's and its runner's renewals
move on. A chain whose claim lapsed (its instance died) or was released (it shut down) is
taken over by a live instance. All write transactions of all instances take the
`event_head` row lock first (core.py), so a take-over and the old owner's writes are
ordered (no `FOR UPDATE SKIP LOCKED` is needed: two take-overs never run at once), and once
a chain is taken, its old owner's next write finds another owner (ChainLost)."""

from __future__ import annotations

import asyncpg

from ..oap import OapClaims
from .core import PostgresCore, Tx


def claim_deadline(param: int) -> str:
    """SQL for a claim deadline `$param` seconds from now on the database's clock."""
    return f"clock_timestamp() + make_interval(secs => ${param})"


async def pending_hop(conn: asyncpg.Connection | Tx, chain_id: str) -> int | None:
    return await conn.fetchval(
        "SELECT hop FROM oap_hops WHERE chain_id = $1 AND status = 'pending'"
        " ORDER BY hop DESC LIMIT 1",
        chain_id,
    )


class PostgresOapClaims(PostgresCore, OapClaims):
    async def touch_claim(self, tx: Tx, chain_id: str, *, updated: bool = False) -> None:
        """The owner is alive: its claim moves on with every write it makes."""
        await tx.execute(
            f"UPDATE oap_chains SET heartbeat_at = $1, claimed_until = {claim_deadline(2)},"
            " updated_at = CASE WHEN $4 THEN $1 ELSE updated_at END WHERE chain_id = $3",
            tx.moment,
            self.claim_seconds,
            chain_id,
            updated,
        )

    async def renew_oap_claims(self, owner: str) -> list[str]:
        async def op(tx: Tx) -> list[str]:
            rows = await tx.fetch(
                f"UPDATE oap_chains SET claimed_until = {claim_deadline(2)}, heartbeat_at = $3"
                " WHERE owner = $1 AND status = 'running' RETURNING chain_id",
                owner,
                self.claim_seconds,
                tx.moment,
            )
            return [r[0] for r in rows]

        return await self._write(op)

    async def take_over_oap_chains(self, owner: str, limit: int) -> list[str]:
        lapsed = (
            "status = 'running' AND (owner IS NULL OR claimed_until IS NULL"
            " OR claimed_until < clock_timestamp())"
        )
        # Polled by every instance: a read first, so a quiet database costs no write.
        if not await self.pool.fetchval(f"SELECT EXISTS (SELECT 1 FROM oap_chains WHERE {lapsed})"):
            return []

        async def op(tx: Tx) -> list[str]:
            # The event_head lock (core.py) orders this against every other instance's
            # take-over and the old owner's writes: the rows are re-read under it.
            rows = await tx.fetch(
                f"SELECT chain_id, intent_id, owner, hops_done FROM oap_chains WHERE {lapsed}"
                " ORDER BY claimed_until NULLS FIRST, ord LIMIT $1",
                limit,
            )
            for chain_id, intent_id, previous, hops_done in rows:
                await tx.execute(
                    f"UPDATE oap_chains SET owner = $1, claimed_until = {claim_deadline(2)},"
                    " heartbeat_at = $3, updated_at = $3 WHERE chain_id = $4",
                    owner,
                    self.claim_seconds,
                    tx.moment,
                    chain_id,
                )
                await tx.emit(
                    intent_id,
                    "task.unblocked",
                    None,
                    {
                        "oap": "chain_taken_over",
                        "chain_id": chain_id,
                        "from_owner": previous,
                        "why": "released" if previous is None else "claim_lapsed",
                        "hops_done": hops_done,
                        "resend_hop": await pending_hop(tx, chain_id),
                    },
                )
            return [r[0] for r in rows]

        return await self._write(op)

    async def release_oap_chains(self, owner: str) -> list[str]:
        async def op(tx: Tx) -> list[str]:
            rows = await tx.fetch(
                "UPDATE oap_chains SET owner = NULL, claimed_until = NULL"
                " WHERE owner = $1 AND status = 'running' RETURNING chain_id",
                owner,
            )
            return [r[0] for r in rows]

        return await self._write(op)
