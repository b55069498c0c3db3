"""Intents, state patches, status and agent assignments on SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple

import msgspec

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
from ...wire.limits import MAX_INT64
from ..intents import IntentFilter, IntentStore
from ..keyset import check_cursor_or_offset, decode_cursor, encode_cursor
from .core import SqliteCore, Tx, dumps, loads, new_uid, rows_within, text_size

INTENT_COLUMNS = (
    "i.id, i.title, i.description, i.created_by, i.status, i.constraints, i.state, i.version,"
    " i.parent_id, i.depends_on, i.created_at, i.updated_at, i.confidence,"
    " i.governance_policy, i.last_activity_at,"
    " (SELECT json_group_array(a.agent_id) FROM intent_agents a WHERE a.intent_id = i.id)"
)


class _Order(NamedTuple):
    by: str
    after: str
    """Rows after the cursor's key, in this order."""
    key: int | None
    """The row's column (index into INTENT_COLUMNS) the cursor carries beside the rowid."""


_UPDATED_AT = 11
# Created order is insertion order: the rowid, which every index carries, so each filter's
# index serves it. Updated order has its own index (migration 0007).
_ORDERS: dict[str, _Order] = {
    "-created_at": _Order("i.rowid DESC", "i.rowid < ?", None),
    "created_at": _Order("i.rowid", "i.rowid > ?", None),
    "-updated_at": _Order(
        "i.updated_at DESC, i.rowid DESC", "(i.updated_at, i.rowid) < (?, ?)", _UPDATED_AT
    ),
    "updated_at": _Order("i.updated_at, i.rowid", "(i.updated_at, i.rowid) > (?, ?)", _UPDATED_AT),
}
_IntentCursor = tuple[
    IntentSort,
    Annotated[str, msgspec.Meta(max_length=64)] | None,
    Annotated[int, msgspec.Meta(ge=0, le=MAX_INT64)],
]
"""(sort, the updated_at of the last row or None for created order, its rowid)."""

MIN_INDEXED_QUERY = 3
"""The trigram index answers substrings of three characters or more; shorter ones scan."""


def fts_phrase(text: str) -> str:
    """`text` as one FTS5 string: nothing in it is query syntax (quotes are doubled)."""
    return '"' + text.replace('"', '""') + '"'


def _filter_clause(filters: IntentFilter) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if filters.status:
        where.append("i.status = ?")
        params.append(filters.status)
    if filters.created_by:
        where.append("i.created_by = ?")
        params.append(filters.created_by)
    if filters.parent_intent_id:
        where.append("i.parent_id = ?")
        params.append(filters.parent_intent_id)
    if filters.text:
        # FTS5 reads its query as a C string: a NUL would end it (and fail the query).
        if len(filters.text) >= MIN_INDEXED_QUERY and "\x00" not in filters.text:
            where.append("i.rowid IN (SELECT rowid FROM intents_fts WHERE intents_fts MATCH ?)")
            params.append(fts_phrase(filters.text))
        else:
            where.append(
                "(instr(lower(i.title), lower(?)) > 0 OR instr(lower(i.description), lower(?)) > 0)"
            )
            params.extend([filters.text, filters.text])
    return where, params


def _count_query(filters: IntentFilter, where: list[str], params: list[Any]) -> tuple[str, list]:
    """`total` for these filters. Unfiltered or by status alone it is read from the counts
    the triggers keep (O(1)); any other filter counts its matches through that filter's
    index (created_by, parent, the search index), so it costs what the matches cost, never
    a pass over the whole table; only a search shorter than three characters scans."""
    if not (filters.created_by or filters.parent_intent_id or filters.text):
        if filters.status:
            return "SELECT COALESCE(SUM(n), 0) FROM intent_counts WHERE status = ?", [
                filters.status
            ]
        return "SELECT COALESCE(SUM(n), 0) FROM intent_counts", []
    return f"SELECT COUNT(*) FROM intents i WHERE {' AND '.join(where)}", list(params)


def intent_from_row(row: tuple) -> Intent:
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
        *_,
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
        created_at=created_at,
        updated_at=updated_at,
        confidence=confidence,
        governance_policy=loads(governance),
        agents=loads(agents) if agents else [],
        last_activity_at=last_activity,
    )


def fetch_intent(conn: sqlite3.Connection | Tx, intent_id: str) -> Intent:
    row = conn.execute(
        f"SELECT {INTENT_COLUMNS} FROM intents i WHERE i.id = ?", (intent_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"Intent {intent_id} not found")
    return intent_from_row(row)


def require_intent(conn: sqlite3.Connection | Tx, intent_id: str) -> None:
    if conn.execute("SELECT 1 FROM intents WHERE id = ?", (intent_id,)).fetchone() is None:
        raise NotFound(f"Intent {intent_id} not found")


def _locked_version(tx: Tx, intent_id: str, expected_version: int) -> tuple[str, str]:
    """Check If-Match against the current row; returns (status, state json)."""
    row = tx.one("SELECT version, status, state FROM intents WHERE id = ?", (intent_id,))
    if row is None:
        raise NotFound(f"Intent {intent_id} not found")
    if row[0] != expected_version:
        raise VersionConflict(row[0])
    return row[1], row[2]


def _locked_intent(tx: Tx, intent_id: str, expected_version: int) -> Intent:
    """The whole intent as it is inside the write transaction, if If-Match still holds.
    A state patch then answers with `replace(intent, ...)` instead of selecting the row
    again (a measurable share of the writer's time in bench/store_load.py)."""
    intent = fetch_intent(tx, intent_id)
    if intent.version != expected_version:
        raise VersionConflict(intent.version)
    return intent


class SqliteIntents(SqliteCore, IntentStore):
    async def create_intent(self, data: IntentCreate, actor: str | None) -> Intent:
        if not data.title.strip():
            raise InvalidInput("title must not be empty", errors=[{"field": "title"}])
        if data.status not in INITIAL_STATUSES:
            raise InvalidInput("a new intent starts as draft or active")
        parent = data.parent_intent_id or data.parent_id
        depends_on = list(dict.fromkeys(data.depends_on))
        created_by = data.created_by or actor

        def op(tx: Tx) -> Intent:
            for ref, field in [(parent, "parent_intent_id")] + [
                (d, "depends_on") for d in depends_on
            ]:
                if ref is not None and tx.one("SELECT 1 FROM intents WHERE id=?", (ref,)) is None:
                    raise InvalidInput(
                        f"{field} refers to intent {ref}, which does not exist",
                        errors=[{"field": field, "value": ref}],
                    )
            intent_id = new_uid()
            tx.conn.execute(
                "INSERT INTO intents (id, title, description, created_by, status, constraints,"
                " state, version, confidence, parent_id, depends_on, governance_policy,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,1,?,?,?,?,?,?)",
                (
                    intent_id,
                    data.title,
                    data.description or "",
                    created_by,
                    data.status,
                    dumps(data.constraints),
                    dumps(data.state),
                    data.confidence,
                    parent,
                    dumps(depends_on),
                    None if data.governance_policy is None else dumps(data.governance_policy),
                    tx.now,
                    tx.now,
                ),
            )
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
            # The actor is who acted (X-Agent-ID first), like every other event; created_by
            # is what the body says and may name someone else.
            tx.emit(intent_id, "intent_created", actor or created_by, payload)
            return fetch_intent(tx, intent_id)

        return await self._write(op)

    async def get_intent(self, intent_id: str) -> Intent:
        return await self._read(lambda c: fetch_intent(c, intent_id))

    async def list_intents(self, filters: IntentFilter) -> IntentList:
        check_cursor_or_offset(filters.cursor, filters.offset)
        sort = filters.sort
        after: tuple[str | None, int] | None = None
        if filters.cursor is not None:
            decoded: tuple[IntentSort, str | None, int] = decode_cursor(
                filters.cursor, _IntentCursor
            )
            cursor_sort, key, rowid = decoded
            if sort is not None and sort != cursor_sort:
                raise InvalidInput(
                    f"The cursor continues sort={cursor_sort}, not sort={sort}",
                    errors=[{"field": "sort", "source": "query"}],
                )
            sort, after = cursor_sort, (key, rowid)
        order = _ORDERS[sort or "-created_at"]
        where, params = _filter_clause(filters)
        counted = _count_query(filters, where, params)
        if after is not None:
            where.append(order.after)
            params.extend(after[1:] if order.key is None else after)
        clause = f" WHERE {' AND '.join(where)}" if where else ""

        def read(conn: sqlite3.Connection) -> tuple[IntentList, Callable[[], int]]:
            total = conn.execute(*counted).fetchone()[0]
            cursor = conn.execute(
                f"SELECT {INTENT_COLUMNS}, i.rowid FROM intents i{clause}"
                f" ORDER BY {order.by} LIMIT ? OFFSET ?",
                [*params, filters.limit + 1, filters.offset],
            )
            rows, more = rows_within(cursor, filters.limit, filters.max_bytes)
            cursor.close()
            next_cursor = None
            if more:
                last = rows[-1]
                key = None if order.key is None else last[order.key]
                next_cursor = encode_cursor(sort or "-created_at", key, last[-1])
            page = IntentList(
                intents=[intent_from_row(r) for r in rows],
                total=total,
                limit=filters.limit,
                offset=filters.offset,
                next_offset=filters.offset + len(rows) if more and after is None else None,
                next_cursor=next_cursor,
            )
            return page, lambda: sum(map(text_size, rows))

        # A console polling the first page reads it again and again between writes.
        return await self._read_cached(("intents", *msgspec.structs.astuple(filters)), read)

    async def intent_counts(self) -> IntentCounts:
        def read(conn: sqlite3.Connection) -> IntentCounts:
            rows = conn.execute("SELECT status, n FROM intent_counts WHERE n > 0").fetchall()
            return IntentCounts(total=sum(n for _, n in rows), by_status=dict(rows))

        return await self._read(read)

    async def patch_state(
        self,
        intent_id: str,
        expected_version: int,
        patches: list[tuple[str, str, Any]],
        actor: str | None,
        max_state_bytes: int | None = None,
    ) -> Intent:
        def op(tx: Tx) -> Intent:
            intent = _locked_intent(tx, intent_id, expected_version)
            # The state was decoded for this op alone: patch it in place, no deep copy.
            new_state = apply_patches(intent.state, patches, copy_state=False)
            for guard in tx.hooks.state_patching:  # the lease guard (SqliteStore.__init__)
                guard(tx, intent_id, [path for _, path, _ in patches], actor)
            version = expected_version + 1
            text = dumps(new_state)
            if max_state_bytes is not None and len(text) > max_state_bytes:
                # Each body is capped, but patch after patch could grow a state without end.
                raise PayloadTooLarge(
                    f"The state would hold {len(text)} bytes of JSON; the limit is "
                    f"{max_state_bytes}",
                    limit_bytes=max_state_bytes,
                )
            tx.conn.execute(
                "UPDATE intents SET state = ?, version = ?, updated_at = ?, last_activity_at = ?"
                " WHERE id = ?",
                (text, version, tx.now, tx.now, intent_id),
            )
            tx.emit(
                intent_id,
                "state_patched",
                actor,
                {
                    "patches": [{"op": o, "path": p, "value": v} for o, p, v in patches],
                    "version": version,
                },
                touch=False,  # last_activity_at is set by the UPDATE above
            )
            # The UPDATE above is the only change to the row.
            return msgspec.structs.replace(
                intent, state=new_state, version=version, updated_at=tx.now, last_activity_at=tx.now
            )

        return await self._write(op)

    async def set_status(
        self,
        intent_id: str,
        expected_version: int,
        status: str,
        reason: str | None,
        actor: str | None,
    ) -> Intent:
        def op(tx: Tx) -> Intent:
            current, _ = _locked_version(tx, intent_id, expected_version)
            check_transition(current, status)
            version = expected_version + 1
            tx.conn.execute(
                "UPDATE intents SET status = ?, version = ?, updated_at = ? WHERE id = ?",
                (status, version, tx.now, intent_id),
            )
            payload: dict[str, Any] = {
                "status": status,
                "old_status": current,
                "new_status": status,
                "version": version,
            }
            if reason:
                payload["reason"] = reason
            tx.emit(intent_id, "status_changed", actor, payload)
            for hook in tx.hooks.status_changed:  # portfolio completion (SqliteStore.__init__)
                hook(tx, intent_id, current, status, actor)
            return fetch_intent(tx, intent_id)

        return await self._write(op)

    async def assign_agent(
        self, intent_id: str, agent_id: str, role: str, actor: str | None
    ) -> AgentAssignment:
        def op(tx: Tx) -> AgentAssignment:
            require_intent(tx, intent_id)
            row = tx.one(
                "SELECT id, role, assigned_at FROM intent_agents"
                " WHERE intent_id = ? AND agent_id = ?",
                (intent_id, agent_id),
            )
            if row is not None:
                return AgentAssignment(
                    id=row[0],
                    intent_id=intent_id,
                    agent_id=agent_id,
                    role=row[1],
                    assigned_at=row[2],
                )
            assignment = AgentAssignment(
                id=new_uid(),
                intent_id=intent_id,
                agent_id=agent_id,
                role=role,
                assigned_at=tx.now,
            )
            tx.conn.execute(
                "INSERT INTO intent_agents (id, intent_id, agent_id, role, assigned_at)"
                " VALUES (?,?,?,?,?)",
                (assignment.id, intent_id, agent_id, role, tx.now),
            )
            tx.emit(intent_id, "agent_assigned", actor, {"agent_id": agent_id, "role": role})
            return assignment

        return await self._write(op)

    async def list_agents(self, intent_id: str) -> list[AgentAssignment]:
        def read(conn: sqlite3.Connection) -> list[AgentAssignment]:
            fetch_intent(conn, intent_id)
            rows = conn.execute(
                "SELECT id, agent_id, role, assigned_at FROM intent_agents WHERE intent_id = ?"
                " ORDER BY assigned_at",
                (intent_id,),
            ).fetchall()
            return [
                AgentAssignment(
                    id=r[0], intent_id=intent_id, agent_id=r[1], role=r[2], assigned_at=r[3]
                )
                for r in rows
            ]

        return await self._read(read)

    async def unassign_agent(self, intent_id: str, agent_id: str, actor: str | None) -> None:
        def op(tx: Tx) -> None:
            require_intent(tx, intent_id)
            deleted = tx.conn.execute(
                "DELETE FROM intent_agents WHERE intent_id = ? AND agent_id = ?",
                (intent_id, agent_id),
            ).rowcount
            if not deleted:
                raise NotFound(f"Agent {agent_id} is not assigned to intent {intent_id}")
            tx.emit(intent_id, "agent_unassigned", actor, {"agent_id": agent_id})

        await self._write(op)
