"""Intents, state patches, status and agent assignments on PostgreSQL."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from ...domain.clock import iso
from ...domain.errors import InvalidInput, NotFound, PayloadTooLarge, VersionConflict
from ...domain.lifecycle import INITIAL_STATUSES, check_transition
from ...domain.patches import apply_patches
from ...wire.intents import (
    AgentAssignment,
    Intent,
    IntentCounts,
    IntentCreate,
    IntentList,
    IntentSort,
)
from ..intents import IntentFilter, IntentStore
from ..keyset import check_cursor_or_offset, decode_cursor, encode_cursor
from ..sqlite.core import dumps, loads, new_uid
from ..sqlite.intents import _IntentCursor
from .core import PostgresCore, Tx, iso_or_none, within

INTENT_COLUMNS = (
    "i.id, i.title, i.description, i.created_by, i.status, i.constraints, i.state, i.version,"
    " i.parent_id, i.depends_on, i.created_at, i.updated_at, i.confidence,"
    " i.governance_policy, i.last_activity_at,"
    " ARRAY(SELECT a.agent_id FROM intent_agents a WHERE a.intent_id = i.id"
    " ORDER BY a.assigned_at, a.agent_id)"
)

Queryable = asyncpg.Connection | Tx

_UPDATED_AT = 11  # its index in INTENT_COLUMNS

_ORDERS: dict[str, tuple[str, str]] = {
    # sort: (ORDER BY, the rows after a cursor's key with $K for updated_at, $R for the order)
    "-created_at": ("i.created_order DESC", "i.created_order < $R"),
    "created_at": ("i.created_order", "i.created_order > $R"),
    "-updated_at": (
        "i.updated_at DESC, i.created_order DESC",
        "(i.updated_at, i.created_order) < ($K::text::timestamptz, $R)",
    ),
    "updated_at": (
        "i.updated_at, i.created_order",
        "(i.updated_at, i.created_order) > ($K::text::timestamptz, $R)",
    ),
}


def like_pattern(text: str) -> str:
    """`text` as an ILIKE substring pattern: its own `%`, `_` and `\\` match themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def intent_from_row(row: Any) -> Intent:
    (
        id_,
        title,
        description,
        created_by,
        status,
        constraints,
        state,
        version,
        parent_id,
        depends_on,
        created_at,
        updated_at,
        confidence,
        governance,
        last_activity,
        agents,
    ) = row
    return Intent(
        id=id_,
        title=title,
        description=description,
        created_by=created_by,
        status=status,
        constraints=loads(constraints),
        state=loads(state),
        version=version,
        parent_intent_id=parent_id,
        depends_on=loads(depends_on),
        created_at=iso(created_at),
        updated_at=iso(updated_at),
        confidence=confidence,
        governance_policy=loads(governance),
        agents=list(agents),
        last_activity_at=iso_or_none(last_activity),
    )


async def fetch_intent(conn: Queryable, intent_id: str, *, lock: bool = False) -> Intent:
    row = await conn.fetchrow(
        f"SELECT {INTENT_COLUMNS} FROM intents i WHERE i.id = $1"
        + (" FOR UPDATE OF i" if lock else ""),
        intent_id,
    )
    if row is None:
        raise NotFound(f"Intent {intent_id} not found")
    return intent_from_row(row)


_PATCH_READ = (
    f"SELECT {INTENT_COLUMNS}, EXISTS (SELECT 1 FROM leases l WHERE l.intent_id = i.id"
    " AND l.status = 'active' AND l.expires_at > $2) FROM intents i WHERE i.id = $1"
    " FOR UPDATE OF i"
)
"""A patch's one read: the intent, locked, and whether any lease on it is live (the
state-patching guards are lease rules: without a live lease they have nothing to refuse)."""


async def require_intent(conn: Queryable, intent_id: str) -> None:
    if await conn.fetchval("SELECT 1 FROM intents WHERE id = $1", intent_id) is None:
        raise NotFound(f"Intent {intent_id} not found")


class PostgresIntents(PostgresCore, IntentStore):
    async def create_intent(self, data: IntentCreate, actor: str | None) -> Intent:
        if not data.title.strip():
            raise InvalidInput("title must not be empty", errors=[{"field": "title"}])
        if data.status not in INITIAL_STATUSES:
            raise InvalidInput("a new intent starts as draft or active")
        parent = data.parent_intent_id or data.parent_id
        depends_on = list(dict.fromkeys(data.depends_on))
        created_by = data.created_by or actor

        async def op(tx: Tx) -> Intent:
            refs = [(parent, "parent_intent_id")] + [(d, "depends_on") for d in depends_on]
            wanted = [ref for ref, _ in refs if ref is not None]
            if wanted:
                found = {
                    r[0]
                    for r in await tx.fetch(
                        "SELECT id FROM intents WHERE id = ANY($1::text[])", wanted
                    )
                }
                for ref, field in refs:
                    if ref is not None and ref not in found:
                        raise InvalidInput(
                            f"{field} refers to intent {ref}, which does not exist",
                            errors=[{"field": field, "value": ref}],
                        )
            intent_id = new_uid()
            payload: dict[str, Any] = {
                "title": data.title,
                "status": data.status,
                "created_by": created_by,
            }
            if parent:
                payload["parent_intent_id"] = parent
            if depends_on:
                payload["depends_on"] = depends_on
            if data.governance_policy:
                payload["governance_policy"] = data.governance_policy
            # The row as written (never read back).
            created = Intent(
                id=intent_id,
                title=data.title,
                description=data.description or "",
                created_by=created_by,
                status=data.status,
                constraints=data.constraints,
                state=data.state,
                version=1,
                parent_intent_id=parent,
                depends_on=depends_on,
                created_at=tx.now,
                updated_at=tx.now,
                confidence=data.confidence,
                governance_policy=data.governance_policy,
                agents=[],
                last_activity_at=tx.now,
            )
            governance = None if data.governance_policy is None else dumps(data.governance_policy)
            state = dumps(data.state)
            # The actor is who acted (X-Agent-ID first), as on SQLite. The row and its event
            # are one statement.
            await tx.emit_created(
                (
                    ("id", intent_id),
                    ("title", data.title),
                    ("description", data.description or ""),
                    ("created_by", created_by),
                    ("status", data.status),
                    ("constraints", dumps(data.constraints)),
                    ("state", state),
                    ("version", 1),
                    ("confidence", data.confidence),
                    ("parent_id", parent),
                    ("depends_on", dumps(depends_on)),
                    ("governance_policy", governance),
                    ("created_at", tx.moment),
                    ("updated_at", tx.moment),
                    ("last_activity_at", tx.moment),
                ),
                "intent_created",
                actor or created_by,
                payload,
                created,
                len(state),
            )
            return created

        return await self._write(op)

    async def get_intent(self, intent_id: str) -> Intent:
        return await self._read(lambda conn: fetch_intent(conn, intent_id))

    async def list_intents(self, filters: IntentFilter) -> IntentList:
        check_cursor_or_offset(filters.cursor, filters.offset)
        sort = filters.sort
        after: tuple[str | None, int] | None = None
        if filters.cursor is not None:
            decoded: tuple[IntentSort, str | None, int] = decode_cursor(
                filters.cursor, _IntentCursor
            )
            cursor_sort, key, order_key = decoded
            if sort is not None and sort != cursor_sort:
                raise InvalidInput(
                    f"The cursor continues sort={cursor_sort}, not sort={sort}",
                    errors=[{"field": "sort", "source": "query"}],
                )
            sort, after = cursor_sort, (key, order_key)
        chosen: IntentSort = sort or "-created_at"
        order_by, after_clause = _ORDERS[chosen]
        by_updated = "updated_at" in chosen
        if after is not None and by_updated and after[0] is None:
            raise InvalidInput(
                "cursor is not a cursor this list handed out; start again without it",
                errors=[{"field": "cursor", "source": "query"}],
            )
        where: list[str] = []
        params: list[Any] = []

        def arg(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        if filters.status:
            where.append(f"i.status = {arg(filters.status)}")
        if filters.created_by:
            where.append(f"i.created_by = {arg(filters.created_by)}")
        if filters.parent_intent_id:
            where.append(f"i.parent_id = {arg(filters.parent_intent_id)}")
        if filters.text:
            if "\x00" in filters.text:  # PostgreSQL text cannot hold a NUL: nothing matches
                where.append("FALSE")
            else:
                pattern = arg(like_pattern(filters.text))
                where.append(f"(i.title ILIKE {pattern} OR i.description ILIKE {pattern})")
        # Unfiltered or by status alone, `total` is read from the counts the trigger keeps.
        if filters.created_by or filters.parent_intent_id or filters.text:
            count_sql = "SELECT COUNT(*) FROM intents i" + (
                f" WHERE {' AND '.join(where)}" if where else ""
            )
            count_params = list(params)
        elif filters.status:
            count_sql = "SELECT COALESCE(SUM(n), 0)::bigint FROM intent_counts WHERE status = $1"
            count_params = [filters.status]
        else:
            count_sql, count_params = "SELECT COALESCE(SUM(n), 0)::bigint FROM intent_counts", []
        if after is not None:
            clause = after_clause.replace("$R", arg(after[1]))
            if by_updated:
                clause = clause.replace("$K", arg(after[0]))
            where.append(clause)
        clause = f" WHERE {' AND '.join(where)}" if where else ""

        async def read(conn: asyncpg.Connection) -> IntentList:
            total = await conn.fetchval(count_sql, *count_params)
            found = await conn.fetch(
                f"SELECT {INTENT_COLUMNS}, i.created_order FROM intents i{clause}"
                f" ORDER BY {order_by} LIMIT {arg(filters.limit + 1)}"
                f" OFFSET {arg(filters.offset)}",
                *params,
            )
            rows, more = within(found, filters.limit, filters.max_bytes)
            next_cursor = None
            if more and rows:
                last = rows[-1]
                key = last[_UPDATED_AT].isoformat() if by_updated else None
                next_cursor = encode_cursor(chosen, key, last[-1])
            return IntentList(
                intents=[intent_from_row(tuple(r)[:-1]) for r in rows],
                total=total,
                limit=filters.limit,
                offset=filters.offset,
                next_offset=filters.offset + len(rows) if more and after is None else None,
                next_cursor=next_cursor,
            )

        return await self._read(read)

    async def intent_counts(self) -> IntentCounts:
        rows = await self.pool.fetch("SELECT status, n FROM intent_counts WHERE n > 0")
        return IntentCounts(total=sum(n for _, n in rows), by_status={s: n for s, n in rows})

    async def patch_state(
        self,
        intent_id: str,
        expected_version: int,
        patches: list[tuple[str, str, Any]],
        actor: str | None,
        max_state_bytes: int | None = None,
    ) -> Intent:
        async def op(tx: Tx) -> Intent:
            # Known as last written here (no live lease then) at the expected version, the
            # intent needs no read: the deferred write checks its version and event head
            # (pipeline.py). A conflict is always judged on a read row.
            known = tx.known_intent(intent_id)
            if known is not None and known.version != expected_version:
                known = None
            if known is not None:
                intent, live_lease = known, False
            else:
                row = await tx.fetchrow(_PATCH_READ, intent_id, tx.moment)
                if row is None:
                    raise NotFound(f"Intent {intent_id} not found")
                intent, live_lease = intent_from_row(tuple(row)[:-1]), row[-1]
            if intent.version != expected_version:
                raise VersionConflict(intent.version)
            # A known row may be in answers not yet sent: patch a copy of its state.
            new_state = apply_patches(intent.state, patches, copy_state=known is not None)
            for guard in tx.hooks.state_guards(live_lease):
                await guard(tx, intent_id, [path for _, path, _ in patches], actor)
            version = expected_version + 1
            text = dumps(new_state)
            if max_state_bytes is not None and len(text) > max_state_bytes:
                raise PayloadTooLarge(
                    f"The state would hold {len(text)} bytes of JSON; the limit is "
                    f"{max_state_bytes}",
                    limit_bytes=max_state_bytes,
                )
            patched = msgspec.structs.replace(
                intent, state=new_state, version=version, updated_at=tx.now, last_activity_at=tx.now
            )
            await tx.emit(
                intent_id,
                "state_patched",
                actor,
                {
                    "patches": [{"op": o, "path": p, "value": v} for o, p, v in patches],
                    "version": version,
                },
                also_set=(("state", text), ("version", version), ("updated_at", tx.moment)),
                only_if_version=expected_version,
                becomes=None if live_lease else patched,
                state_bytes=len(text),
            )
            return patched

        return await self._write(op)

    async def set_status(
        self,
        intent_id: str,
        expected_version: int,
        status: str,
        reason: str | None,
        actor: str | None,
    ) -> Intent:
        async def op(tx: Tx) -> Intent:
            row = await tx.fetchrow(
                "SELECT version, status FROM intents WHERE id = $1 FOR UPDATE", intent_id
            )
            if row is None:
                raise NotFound(f"Intent {intent_id} not found")
            if row[0] != expected_version:
                raise VersionConflict(row[0])
            current = row[1]
            check_transition(current, status)
            version = expected_version + 1
            await tx.execute(
                "UPDATE intents SET status = $1, version = $2, updated_at = $3 WHERE id = $4",
                status,
                version,
                tx.moment,
                intent_id,
            )
            payload: dict[str, Any] = {
                "status": status,
                "old_status": current,
                "new_status": status,
                "version": version,
            }
            if reason:
                payload["reason"] = reason
            await tx.emit(intent_id, "status_changed", actor, payload)
            for hook in tx.hooks.status_changed:
                await hook(tx, intent_id, current, status, actor)
            return await fetch_intent(tx, intent_id)

        return await self._write(op)

    async def assign_agent(
        self, intent_id: str, agent_id: str, role: str, actor: str | None
    ) -> AgentAssignment:
        async def op(tx: Tx) -> AgentAssignment:
            await require_intent(tx, intent_id)
            row = await tx.fetchrow(
                "SELECT id, role, assigned_at FROM intent_agents"
                " WHERE intent_id = $1 AND agent_id = $2",
                intent_id,
                agent_id,
            )
            if row is not None:
                return AgentAssignment(
                    id=row[0],
                    intent_id=intent_id,
                    agent_id=agent_id,
                    role=row[1],
                    assigned_at=iso(row[2]),
                )
            assignment = AgentAssignment(
                id=new_uid(), intent_id=intent_id, agent_id=agent_id, role=role, assigned_at=tx.now
            )
            await tx.execute(
                "INSERT INTO intent_agents (id, intent_id, agent_id, role, assigned_at)"
                " VALUES ($1,$2,$3,$4,$5)",
                assignment.id,
                intent_id,
                agent_id,
                role,
                tx.moment,
            )
            await tx.emit(intent_id, "agent_assigned", actor, {"agent_id": agent_id, "role": role})
            return assignment

        return await self._write(op)

    async def list_agents(self, intent_id: str) -> list[AgentAssignment]:
        async def read(conn: asyncpg.Connection) -> list[AgentAssignment]:
            await require_intent(conn, intent_id)
            rows = await conn.fetch(
                "SELECT id, agent_id, role, assigned_at FROM intent_agents WHERE intent_id = $1"
                " ORDER BY assigned_at",
                intent_id,
            )
            return [
                AgentAssignment(
                    id=r[0], intent_id=intent_id, agent_id=r[1], role=r[2], assigned_at=iso(r[3])
                )
                for r in rows
            ]

        return await self._read(read)

    async def unassign_agent(self, intent_id: str, agent_id: str, actor: str | None) -> None:
        async def op(tx: Tx) -> None:
            await require_intent(tx, intent_id)
            gone = await tx.fetchval(
                "DELETE FROM intent_agents WHERE intent_id = $1 AND agent_id = $2 RETURNING 1",
                intent_id,
                agent_id,
            )
            if gone is None:
                raise NotFound(f"Agent {agent_id} is not assigned to intent {intent_id}")
            await tx.emit(intent_id, "agent_unassigned", actor, {"agent_id": agent_id})

        await self._write(op)
