"""Leases on SQLite (RFC-0003).

The partial UNIQUE index `leases_one_active_per_scope` makes "one active lease per scope"
a property of the database. Expiry is judged by the server clock inside every write:
a lapsed lease still marked `active` is marked `expired` (and logged) in the same
transaction that would otherwise trip over it, so the index never sees two.

Ops whose refusal should still keep such an expiry mark return the error instead of
raising it (raising rolls the op back); `_outcome` raises it after the commit.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from ...domain.clock import utc_now
from ...domain.errors import Conflict, DomainError, Forbidden, NotFound
from ...domain.leases import (
    ALL_SCOPES,
    effective_status,
    epoch_of,
    expiry_after,
    scopes_touched,
)
from ...wire.leases import Lease, LeaseStatus
from ..keyset import Slice
from ..leases import LeaseStore
from .core import SqliteCore, Tx, by_rowid, new_uid, read_keyset
from .intents import require_intent

LEASE_ORDER = by_rowid("leases")

LEASE_COLUMNS = (
    "id, intent_id, agent_id, scope, status, acquired_at, expires_at, expires_epoch,"
    " released_at, renewed_at, revoked_by, revoke_reason"
)


class LeaseRow(msgspec.Struct, array_like=True):
    id: str
    intent_id: str
    agent_id: str
    scope: str
    status: LeaseStatus
    acquired_at: str
    expires_at: str
    expires_epoch: float
    released_at: str | None
    renewed_at: str | None
    revoked_by: str | None
    revoke_reason: str | None

    def to_lease(self, now_epoch: float) -> Lease:
        status = effective_status(self.status, self.expires_epoch, now_epoch)
        released_at = self.released_at
        if status == "expired" and released_at is None:
            released_at = self.expires_at  # it stopped holding then, swept or not
        return Lease(
            id=self.id,
            intent_id=self.intent_id,
            agent_id=self.agent_id,
            scope=self.scope,
            status=status,
            acquired_at=self.acquired_at,
            created_at=self.acquired_at,
            expires_at=self.expires_at,
            released_at=released_at,
            renewed_at=self.renewed_at,
            revoked_by=self.revoked_by,
            revoke_reason=self.revoke_reason,
        )


def _row(values: tuple) -> LeaseRow:
    return LeaseRow(*values)


def _lease_of_intent(tx: Tx, intent_id: str, lease_id: str) -> LeaseRow:
    values = tx.one(
        f"SELECT {LEASE_COLUMNS} FROM leases WHERE id = ? AND intent_id = ?", (lease_id, intent_id)
    )
    if values is None:
        require_intent(tx, intent_id)
        raise NotFound(f"Lease {lease_id} not found on intent {intent_id}")
    return _row(values)


def _event_payload(row: LeaseRow, action: str, **extra: Any) -> dict[str, Any]:
    return {
        "lease_id": row.id,
        "scope": row.scope,
        "agent_id": row.agent_id,
        "action": action,
        **extra,
    }


def _mark_expired(tx: Tx, row: LeaseRow) -> None:
    """An active row past its expiry becomes `expired`, logged as a release with that reason.
    The actor is None: nobody acted, the clock did."""
    tx.execute(
        "UPDATE leases SET status = 'expired', released_at = ? WHERE id = ?",
        (row.expires_at, row.id),
    )
    row.status, row.released_at = "expired", row.expires_at
    tx.emit(
        row.intent_id,
        "lease_released",
        None,
        _event_payload(row, "expired", reason="expired", expires_at=row.expires_at),
    )


def _log_holding(tx: Tx, row: LeaseRow, action: str, duration_seconds: int) -> None:
    """`lease_acquired` for an acquisition or a renewal (`lease_renewed` is not an SDK
    EventType, and one foreign type makes the SDK fail to read the whole log)."""
    tx.emit(
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


_INSERT_LEASE = f"INSERT INTO leases ({LEASE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
_RELEASE_LIVE = (
    "UPDATE leases SET status = 'released', released_at = ?"
    " WHERE id = ? AND intent_id = ? AND agent_id = ? AND status = 'active' AND expires_epoch > ?"
    f" RETURNING {LEASE_COLUMNS}"
)


def _acquire_contended(
    tx: Tx, row: LeaseRow, now_epoch: float, duration_seconds: int
) -> Lease | DomainError:
    """The INSERT was refused: no such intent, or the scope has an `active` row. A live
    holder is a conflict; a lapsed one is marked expired (and logged) and the scope taken."""
    require_intent(tx, row.intent_id)
    values = tx.one(
        f"SELECT {LEASE_COLUMNS} FROM leases"
        " WHERE intent_id = ? AND scope = ? AND status = 'active'",
        (row.intent_id, row.scope),
    )
    if values is not None:
        current = _row(values)
        if not _is_lapsed(current, now_epoch):
            return _held_conflict(current, now_epoch)
        _mark_expired(tx, current)
    tx.execute(_INSERT_LEASE, msgspec.to_builtins(row))
    _log_holding(tx, row, "acquired", duration_seconds)
    return row.to_lease(now_epoch)


def _outcome(result: Lease | DomainError) -> Lease:
    if isinstance(result, DomainError):
        raise result
    return result


def lease_guard(tx: Tx, intent_id: str, paths: list[str], actor: str | None) -> None:
    """A state-patch guard: refuse a patch into a scope another agent holds a live lease on."""
    scopes = scopes_touched(paths)
    if scopes is not ALL_SCOPES and not scopes:
        return
    now_epoch = epoch_of(tx.now)
    for values in tx.execute(
        f"SELECT {LEASE_COLUMNS} FROM leases INDEXED BY leases_one_active_per_scope"
        " WHERE intent_id = ? AND status = 'active' AND expires_epoch > ?",
        (intent_id, now_epoch),
    ).fetchall():
        row = _row(values)
        if row.agent_id != actor and (scopes is ALL_SCOPES or row.scope in scopes):
            raise Conflict(
                f"Scope {row.scope!r} is under a lease held by {row.agent_id} until"
                f" {row.expires_at}; only the lease holder may patch it",
                existing_lease=msgspec.to_builtins(row.to_lease(now_epoch)),
            )


class SqliteLeases(SqliteCore, LeaseStore):
    async def acquire_lease(
        self, intent_id: str, scope: str, agent_id: str, duration_seconds: int
    ) -> Lease:
        def op(tx: Tx) -> Lease | DomainError:
            now_epoch = epoch_of(tx.now)
            expires_at, expires_epoch = expiry_after(tx.now, duration_seconds)
            row = LeaseRow(
                new_uid(), intent_id, agent_id, scope, "active", tx.now,
                expires_at, expires_epoch, None, None, None, None,
            )  # fmt: skip
            # The common case first: a free scope on an existing intent is one INSERT. The
            # unique index (a holder, lapsed or not) or the foreign key (no such intent)
            # refuses it otherwise, and only that statement is undone: then look.
            try:
                tx.execute(_INSERT_LEASE, msgspec.to_builtins(row))
            except sqlite3.IntegrityError:
                return _acquire_contended(tx, row, now_epoch, duration_seconds)
            _log_holding(tx, row, "acquired", duration_seconds)
            return row.to_lease(now_epoch)

        return _outcome(await self._write(op))

    async def renew_lease(
        self, intent_id: str, lease_id: str, agent_id: str, duration_seconds: int
    ) -> Lease:
        def op(tx: Tx) -> Lease | DomainError:
            row = _lease_of_intent(tx, intent_id, lease_id)
            if row.agent_id != agent_id:
                raise Forbidden(
                    f"Lease {lease_id} is held by {row.agent_id}; only its holder may renew it"
                )
            now_epoch = epoch_of(tx.now)
            if _is_lapsed(row, now_epoch):
                _mark_expired(tx, row)
                return Conflict(
                    f"Lease {lease_id} expired at {row.expires_at} and cannot be renewed;"
                    " acquire the scope again"
                )
            if row.status != "active":
                return Conflict(
                    f"Lease {lease_id} is {row.status}; only an active lease can be renewed"
                )
            expires_at, expires_epoch = expiry_after(tx.now, duration_seconds)
            tx.execute(
                "UPDATE leases SET expires_at = ?, expires_epoch = ?, renewed_at = ? WHERE id = ?",
                (expires_at, expires_epoch, tx.now, lease_id),
            )
            row.expires_at, row.expires_epoch, row.renewed_at = expires_at, expires_epoch, tx.now
            _log_holding(tx, row, "renewed", duration_seconds)
            return row.to_lease(now_epoch)

        return _outcome(await self._write(op))

    async def release_lease(self, intent_id: str, lease_id: str, agent_id: str) -> Lease:
        def op(tx: Tx) -> Lease:
            now_epoch = epoch_of(tx.now)
            # The common case in one statement: the holder releasing its live lease.
            # (fetchall: the UPDATE ... RETURNING statement runs to its end here.)
            released = tx.execute(
                _RELEASE_LIVE, (tx.now, lease_id, intent_id, agent_id, now_epoch)
            ).fetchall()
            if released:
                row = _row(released[0])
                tx.emit(
                    intent_id,
                    "lease_released",
                    agent_id,
                    _event_payload(row, "released", reason="released"),
                )
                return row.to_lease(now_epoch)
            row = _lease_of_intent(tx, intent_id, lease_id)
            if row.agent_id != agent_id:
                raise Forbidden(
                    f"Lease {lease_id} is held by {row.agent_id}; only its holder may release it"
                )
            # The holder's live lease was released above; what is left is a lapsed one (mark
            # it expired) or one that already stopped holding (nothing changes or is logged).
            if _is_lapsed(row, now_epoch):
                _mark_expired(tx, row)
            return row.to_lease(now_epoch)

        return await self._write(op)

    async def revoke_lease(self, intent_id: str, lease_id: str, actor: str, reason: str) -> Lease:
        def op(tx: Tx) -> Lease | DomainError:
            row = _lease_of_intent(tx, intent_id, lease_id)
            now_epoch = epoch_of(tx.now)
            if _is_lapsed(row, now_epoch):
                _mark_expired(tx, row)
            if row.status != "active":
                return Conflict(f"Lease {lease_id} is already {row.status}; nothing to revoke")
            tx.execute(
                "UPDATE leases SET status = 'revoked', released_at = ?, revoked_by = ?,"
                " revoke_reason = ? WHERE id = ?",
                (tx.now, actor, reason, lease_id),
            )
            row.status, row.released_at = "revoked", tx.now
            row.revoked_by, row.revoke_reason = actor, reason
            tx.emit(
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
        now_epoch = utc_now().timestamp()
        where: list[str] = []
        params: list[Any] = []
        if intent_id is not None:
            where.append("intent_id = ?")
            params.append(intent_id)
        if agent_id is not None:
            where.append("agent_id = ?")
            params.append(agent_id)
        if status == "active":
            where.append("status = 'active' AND expires_epoch > ?")
            params.append(now_epoch)
        elif status == "expired":
            where.append("(status = 'expired' OR (status = 'active' AND expires_epoch <= ?))")
            params.append(now_epoch)
        elif status != "all":
            where.append("status = ?")
            params.append(status)
        source = "leases"
        if status == "active":  # only the active rows, not the whole history (migration 0005)
            index = (
                "leases_one_active_per_scope"
                if intent_id is not None
                else "leases_active_by_expiry"
            )
            source = f"leases INDEXED BY {index}"

        def read(conn: sqlite3.Connection) -> Slice[Lease]:
            if intent_id is not None:
                require_intent(conn, intent_id)
            rows, more, next_cursor = read_keyset(
                conn, LEASE_COLUMNS, source, where, params, LEASE_ORDER, cursor=cursor, limit=limit
            )
            return Slice([_row(r).to_lease(now_epoch) for r in rows], more, next_cursor)

        return await self._read(read)

    async def expire_leases(self, limit: int = 500) -> int:
        # Look first on a reader: most sweeps find nothing due and need no write transaction.
        due_query = "SELECT 1 FROM leases WHERE status = 'active' AND expires_epoch <= ? LIMIT 1"
        now_epoch = utc_now().timestamp()
        if await self._read(lambda c: c.execute(due_query, (now_epoch,)).fetchone()) is None:
            return 0

        def op(tx: Tx) -> int:
            rows = tx.execute(
                f"SELECT {LEASE_COLUMNS} FROM leases WHERE status = 'active'"
                " AND expires_epoch <= ? ORDER BY expires_epoch LIMIT ?",
                (epoch_of(tx.now), limit),
            ).fetchall()
            for values in rows:
                _mark_expired(tx, _row(values))
            return len(rows)

        return await self._write(op)
