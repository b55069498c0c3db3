"""Leases on PostgreSQL (RFC-0003), with the SQLite store's rules: the partial unique index
`leases_one_active_per_scope` makes one active lease per scope a property of the database,
and a lapsed lease still marked `active` is marked `expired` (and logged) inside the write
that trips over it. Write transactions are serialised across instances (core.py), so "one
holder at a time" holds for every instance on the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from ...domain.clock import iso, parse_iso, utc_now
from ...domain.errors import Conflict, DomainError, Forbidden, NotFound
from ...domain.leases import ALL_SCOPES, expiry_after, scopes_touched
from ...wire.leases import Lease
from ..keyset import Slice
from ..leases import LeaseStore
from ..sqlite.core import new_uid
from ..sqlite.leases import LeaseRow
from .core import PostgresCore, Tx, by_ord, read_keyset
from .intents import require_intent

LEASE_ORDER = by_ord("leases", "created_order")

LEASE_COLUMNS = (
    "id, intent_id, agent_id, scope, status, acquired_at, expires_at, released_at,"
    " renewed_at, revoked_by, revoke_reason"
)


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def _row(r: Any) -> LeaseRow:
    """The SQLite store's LeaseRow (ISO text and the expiry in Unix seconds), so both stores
    turn a row into a Lease the same way."""
    return LeaseRow(
        r[0], r[1], r[2], r[3], r[4], iso(r[5]), iso(r[6]), r[6].timestamp(),
        _text(r[7]), _text(r[8]), r[9], r[10],
    )  # fmt: skip


async def _lease_of_intent(tx: Tx, intent_id: str, lease_id: str) -> LeaseRow:
    found = await tx.fetchrow(
        f"SELECT {LEASE_COLUMNS} FROM leases WHERE id = $1 AND intent_id = $2",
        lease_id,
        intent_id,
    )
    if found is None:
        await require_intent(tx, intent_id)
        raise NotFound(f"Lease {lease_id} not found on intent {intent_id}")
    return _row(found)


def _event_payload(row: LeaseRow, action: str, **extra: Any) -> dict[str, Any]:
    return {
        "lease_id": row.id,
        "scope": row.scope,
        "agent_id": row.agent_id,
        "action": action,
        **extra,
    }


async def _mark_expired(tx: Tx, row: LeaseRow) -> None:
    """Nobody acted, the clock did: the actor is None."""
    await tx.execute(
        "UPDATE leases SET status = 'expired', released_at = expires_at WHERE id = $1", row.id
    )
    row.status, row.released_at = "expired", row.expires_at
    await tx.emit(
        row.intent_id,
        "lease_released",
        None,
        _event_payload(row, "expired", reason="expired", expires_at=row.expires_at),
    )


async def _log_holding(tx: Tx, row: LeaseRow, action: str, duration_seconds: int) -> None:
    await tx.emit(
        row.intent_id,
        "lease_acquired",
        row.agent_id,
        _event_payload(row, action, expires_at=row.expires_at, duration_seconds=duration_seconds),
    )


def _is_lapsed(row: LeaseRow, now_epoch: float) -> bool:
    return row.status == "active" and row.expires_epoch <= now_epoch


def _held_conflict(row: LeaseRow, now_epoch: float) -> Conflict:
    return Conflict(
        f"Lease conflict: scope {row.scope!r} of intent {row.intent_id} is held by"
        f" {row.agent_id} until {row.expires_at}",
        existing_lease=msgspec.to_builtins(row.to_lease(now_epoch)),
    )


# One statement for the common case (a free scope on an existing intent); nothing is
# inserted when the intent is missing or the scope has an active row, and no error aborts
# the transaction (PostgreSQL would need a savepoint per try otherwise).
_INSERT_IF_FREE = (
    f"INSERT INTO leases ({LEASE_COLUMNS})"
    " SELECT $1,$2,$3,$4,'active',$5,$6,NULL,NULL,NULL,NULL"
    " WHERE EXISTS (SELECT 1 FROM intents WHERE id = $2)"
    " ON CONFLICT (intent_id, scope) WHERE status = 'active' DO NOTHING RETURNING 1"
)


def _outcome(result: Lease | DomainError) -> Lease:
    if isinstance(result, DomainError):
        raise result
    return result


async def lease_guard(tx: Tx, intent_id: str, paths: list[str], actor: str | None) -> None:
    """A state-patch guard: refuse a patch into a scope another agent holds a live lease on."""
    scopes = scopes_touched(paths)
    if scopes is not ALL_SCOPES and not scopes:
        return
    now_epoch = tx.moment.timestamp()
    for found in await tx.fetch(
        f"SELECT {LEASE_COLUMNS} FROM leases"
        " WHERE intent_id = $1 AND status = 'active' AND expires_at > $2",
        intent_id,
        tx.moment,
    ):
        row = _row(found)
        if row.agent_id != actor and (scopes is ALL_SCOPES or row.scope in scopes):
            raise Conflict(
                f"Scope {row.scope!r} is under a lease held by {row.agent_id} until"
                f" {row.expires_at}; only the lease holder may patch it",
                existing_lease=msgspec.to_builtins(row.to_lease(now_epoch)),
            )


class PostgresLeases(PostgresCore, LeaseStore):
    async def acquire_lease(
        self, intent_id: str, scope: str, agent_id: str, duration_seconds: int
    ) -> Lease:
        async def op(tx: Tx) -> Lease | DomainError:
            now_epoch = tx.moment.timestamp()
            expires_at, expires_epoch = expiry_after(tx.now, duration_seconds)
            row = LeaseRow(
                new_uid(), intent_id, agent_id, scope, "active", tx.now,
                expires_at, expires_epoch, None, None, None, None,
            )  # fmt: skip
            args = (row.id, intent_id, agent_id, scope, tx.moment, parse_iso(expires_at))
            if await tx.fetchval(_INSERT_IF_FREE, *args) is None:
                await require_intent(tx, intent_id)
                found = await tx.fetchrow(
                    f"SELECT {LEASE_COLUMNS} FROM leases"
                    " WHERE intent_id = $1 AND scope = $2 AND status = 'active'",
                    intent_id,
                    scope,
                )
                if found is not None:
                    current = _row(found)
                    if not _is_lapsed(current, now_epoch):
                        return _held_conflict(current, now_epoch)
                    await _mark_expired(tx, current)
                await tx.execute(_INSERT_IF_FREE, *args)
            await _log_holding(tx, row, "acquired", duration_seconds)
            return row.to_lease(now_epoch)

        return _outcome(await self._write(op))

    async def renew_lease(
        self, intent_id: str, lease_id: str, agent_id: str, duration_seconds: int
    ) -> Lease:
        async def op(tx: Tx) -> Lease | DomainError:
            row = await _lease_of_intent(tx, intent_id, lease_id)
            if row.agent_id != agent_id:
                raise Forbidden(
                    f"Lease {lease_id} is held by {row.agent_id}; only its holder may renew it"
                )
            now_epoch = tx.moment.timestamp()
            if _is_lapsed(row, now_epoch):
                await _mark_expired(tx, row)
                return Conflict(
                    f"Lease {lease_id} expired at {row.expires_at} and cannot be renewed;"
                    " acquire the scope again"
                )
            if row.status != "active":
                return Conflict(
                    f"Lease {lease_id} is {row.status}; only an active lease can be renewed"
                )
            expires_at, expires_epoch = expiry_after(tx.now, duration_seconds)
            await tx.execute(
                "UPDATE leases SET expires_at = $1, renewed_at = $2 WHERE id = $3",
                parse_iso(expires_at),
                tx.moment,
                lease_id,
            )
            row.expires_at, row.expires_epoch, row.renewed_at = expires_at, expires_epoch, tx.now
            await _log_holding(tx, row, "renewed", duration_seconds)
            return row.to_lease(now_epoch)

        return _outcome(await self._write(op))

    async def release_lease(self, intent_id: str, lease_id: str, agent_id: str) -> Lease:
        async def op(tx: Tx) -> Lease:
            now_epoch = tx.moment.timestamp()
            released = await tx.fetchrow(
                "UPDATE leases SET status = 'released', released_at = $1 WHERE id = $2"
                " AND intent_id = $3 AND agent_id = $4 AND status = 'active' AND expires_at > $1"
                f" RETURNING {LEASE_COLUMNS}",
                tx.moment,
                lease_id,
                intent_id,
                agent_id,
            )
            if released is not None:
                row = _row(released)
                await tx.emit(
                    intent_id,
                    "lease_released",
                    agent_id,
                    _event_payload(row, "released", reason="released"),
                )
                return row.to_lease(now_epoch)
            row = await _lease_of_intent(tx, intent_id, lease_id)
            if row.agent_id != agent_id:
                raise Forbidden(
                    f"Lease {lease_id} is held by {row.agent_id}; only its holder may release it"
                )
            if _is_lapsed(row, now_epoch):
                await _mark_expired(tx, row)
            return row.to_lease(now_epoch)

        return await self._write(op)

    async def revoke_lease(self, intent_id: str, lease_id: str, actor: str, reason: str) -> Lease:
        async def op(tx: Tx) -> Lease | DomainError:
            row = await _lease_of_intent(tx, intent_id, lease_id)
            now_epoch = tx.moment.timestamp()
            if _is_lapsed(row, now_epoch):
                await _mark_expired(tx, row)
            if row.status != "active":
                return Conflict(f"Lease {lease_id} is already {row.status}; nothing to revoke")
            await tx.execute(
                "UPDATE leases SET status = 'revoked', released_at = $1, revoked_by = $2,"
                " revoke_reason = $3 WHERE id = $4",
                tx.moment,
                actor,
                reason,
                lease_id,
            )
            row.status, row.released_at = "revoked", tx.now
            row.revoked_by, row.revoke_reason = actor, reason
            await tx.emit(
                intent_id,
                "lease_released",
                actor,
                _event_payload(row, "revoked", reason=reason, revoked_by=actor),
            )
            return row.to_lease(now_epoch)

        return _outcome(await self._write(op))

    async def list_leases(
        self,
        intent_id: str | None,
        status: str,
        limit: int = 1000,
        agent_id: str | None = None,
        cursor: str | None = None,
    ) -> Slice[Lease]:
        now = utc_now()
        where: list[str] = []
        params: list[Any] = []

        def arg(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        if intent_id is not None:
            where.append(f"intent_id = {arg(intent_id)}")
        if agent_id is not None:
            where.append(f"agent_id = {arg(agent_id)}")
        if status == "active":
            where.append(f"status = 'active' AND expires_at > {arg(now)}")
        elif status == "expired":
            where.append(
                f"(status = 'expired' OR (status = 'active' AND expires_at <= {arg(now)}))"
            )
        elif status != "all":
            where.append(f"status = {arg(status)}")

        async def read(conn: asyncpg.Connection) -> Slice[Lease]:
            if intent_id is not None:
                await require_intent(conn, intent_id)
            rows, more, next_cursor = await read_keyset(
                conn,
                LEASE_COLUMNS,
                "leases",
                where,
                params,
                LEASE_ORDER,
                cursor=cursor,
                limit=limit,
            )
            return Slice([_row(r).to_lease(now.timestamp()) for r in rows], more, next_cursor)

        return await self._read(read)

    async def expire_leases(self, limit: int = 500) -> int:
        # Look first on a reader: most sweeps find nothing due and need no write transaction.
        due = await self.pool.fetchval(
            "SELECT 1 FROM leases WHERE status = 'active' AND expires_at <= $1 LIMIT 1", utc_now()
        )
        if due is None:
            return 0

        async def op(tx: Tx) -> int:
            rows = await tx.fetch(
                f"SELECT {LEASE_COLUMNS} FROM leases WHERE status = 'active'"
                " AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
                tx.moment,
                limit,
            )
            for found in rows:
                await _mark_expired(tx, _row(found))
            return len(rows)

        return await self._write(op)
