"""Portfolios and memberships on SQLite, with governance auto-completion.

Completion is re-judged inside the transaction of every change that can affect it: a
membership added or removed, or a member's status change (`complete_portfolios_of`, a
status-change hook).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from ...domain.errors import Conflict, NotFound
from ...domain.portfolios import (
    aggregate_status,
    check_portfolio_status,
    completion_due,
    merge_constraints,
)
from ...wire.intents import Intent
from ...wire.limits import MAX_PAGE
from ...wire.portfolios import (
    AggregateStatus,
    Membership,
    MembershipCreate,
    Portfolio,
    PortfolioCreate,
    PortfolioDetail,
    PortfolioIntents,
)
from ..keyset import Slice
from ..portfolios import PortfolioStore
from .core import SqliteCore, Tx, by_rowid, dumps, loads, new_uid, read_keyset, rows_within
from .intents import INTENT_COLUMNS, intent_from_row, require_intent

PORTFOLIO_ORDER = by_rowid("portfolios", "p.rowid")

PORTFOLIO_COLUMNS = (
    "p.id, p.name, p.description, p.created_by, p.status, p.governance_policy, p.metadata,"
    " p.created_at, p.updated_at"
)
MEMBER_COLUMNS = "m.id, m.portfolio_id, m.intent_id, m.role, m.priority, m.added_at"


def portfolio_from_row(row: tuple) -> Portfolio:
    id_, name, description, created_by, status, policy, metadata, created, updated = row
    return Portfolio(
        id=id_,
        name=name,
        description=description,
        created_by=created_by,
        status=status,
        governance_policy=loads(policy),
        metadata=loads(metadata),
        created_at=created,
        updated_at=updated,
        created_at_camel=created,
        updated_at_camel=updated,
    )


def membership_from_row(row: tuple) -> Membership:
    id_, portfolio_id, intent_id, role, priority, added = row
    return Membership(
        id=id_,
        portfolio_id=portfolio_id,
        intent_id=intent_id,
        role=role,
        priority=priority,
        added_at=added,
    )


def fetch_portfolio(conn: sqlite3.Connection | Tx, portfolio_id: str) -> Portfolio:
    row = conn.execute(
        f"SELECT {PORTFOLIO_COLUMNS} FROM portfolios p WHERE p.id = ?", (portfolio_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"Portfolio {portfolio_id} not found")
    return portfolio_from_row(row)


def _members(
    conn: sqlite3.Connection, portfolio: Portfolio, offset: int = 0, max_bytes: int | None = None
) -> tuple[list[Intent], AggregateStatus, list[Membership], int | None]:
    """Members by priority (highest first), each intent showing the shared constraints; from
    `offset`, at most MAX_PAGE and about `max_bytes` of them, with the next offset (None at
    the end). The aggregate always counts every member."""
    statuses = conn.execute(
        "SELECT i.status FROM portfolio_members m JOIN intents i ON i.id = m.intent_id"
        " WHERE m.portfolio_id = ?",
        (portfolio.id,),
    ).fetchall()
    aggregate = AggregateStatus(**aggregate_status(status for (status,) in statuses))
    cursor = conn.execute(
        f"SELECT {MEMBER_COLUMNS}, {INTENT_COLUMNS} FROM portfolio_members m"
        " JOIN intents i ON i.id = m.intent_id WHERE m.portfolio_id = ?"
        " ORDER BY m.priority DESC, m.added_at, m.rowid LIMIT -1 OFFSET ?",
        (portfolio.id, offset),
    )
    rows, more = rows_within(cursor, MAX_PAGE, max_bytes)
    cursor.close()
    shared = portfolio.governance_policy.get("shared_constraints")
    memberships, intents = [], []
    for row in rows:
        memberships.append(membership_from_row(row[:6]))
        intent = intent_from_row(row[6:])
        if isinstance(shared, dict) and shared:
            intent = msgspec.structs.replace(
                intent, constraints=merge_constraints(shared, intent.constraints)
            )
        intents.append(intent)
    return intents, aggregate, memberships, offset + len(rows) if more else None


def _touch(tx: Tx, portfolio_id: str) -> None:
    """A membership change is a change of the portfolio too."""
    tx.execute("UPDATE portfolios SET updated_at = ? WHERE id = ?", (tx.now, portfolio_id))


def _change_status(
    tx: Tx, portfolio: Portfolio, status: str, actor: str | None, **why: Any
) -> None:
    tx.execute(
        "UPDATE portfolios SET status = ?, updated_at = ? WHERE id = ?",
        (status, tx.now, portfolio.id),
    )
    # Logged as the SDK's `status_changed`, attached to the portfolio and to no intent.
    tx.emit(
        None,
        "status_changed",
        actor,
        {
            "portfolio_id": portfolio.id,
            "status": status,
            "old_status": portfolio.status,
            "new_status": status,
            **{k: v for k, v in why.items() if v is not None},
        },
        portfolio_id=portfolio.id,
    )


def complete_if_due(tx: Tx, portfolio_id: str, actor: str | None) -> None:
    """Apply the governance policy: an active portfolio whose members meet it completes."""
    portfolio = fetch_portfolio(tx, portfolio_id)
    if portfolio.status != "active":
        return
    statuses = [
        r[0]
        for r in tx.execute(
            "SELECT i.status FROM portfolio_members m JOIN intents i ON i.id = m.intent_id"
            " WHERE m.portfolio_id = ?",
            (portfolio_id,),
        ).fetchall()
    ]
    if completion_due(portfolio.governance_policy, statuses):
        _change_status(
            tx,
            portfolio,
            "completed",
            actor,
            reason="governance policy met",
            automatic=True,
            aggregate=aggregate_status(statuses),
        )


def complete_portfolios_of(
    tx: Tx, intent_id: str, old_status: str, new_status: str, actor: str | None
) -> None:
    """A status-change hook: a member's new status may complete its portfolios."""
    for (portfolio_id,) in tx.execute(
        "SELECT portfolio_id FROM portfolio_members WHERE intent_id = ?", (intent_id,)
    ).fetchall():
        complete_if_due(tx, portfolio_id, actor)


class SqlitePortfolios(SqliteCore, PortfolioStore):
    async def create_portfolio(self, data: PortfolioCreate, actor: str | None) -> Portfolio:
        created_by = data.created_by or actor
        policy = data.governance_policy or {}

        def op(tx: Tx) -> Portfolio:
            portfolio_id = new_uid()
            tx.execute(
                "INSERT INTO portfolios (id, name, description, created_by, status,"
                " governance_policy, metadata, created_at, updated_at)"
                " VALUES (?,?,?,?,'active',?,?,?,?)",
                (
                    portfolio_id,
                    data.name,
                    data.description,
                    created_by,
                    dumps(policy),
                    dumps(data.metadata or {}),
                    tx.now,
                    tx.now,
                ),
            )
            tx.emit(
                None,
                "portfolio_created",
                created_by,
                {"portfolio_id": portfolio_id, "name": data.name, "governance_policy": policy},
                portfolio_id=portfolio_id,
            )
            return fetch_portfolio(tx, portfolio_id)

        return await self._write(op)

    async def list_portfolios(
        self,
        created_by: str | None = None,
        status: str | None = None,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
        cursor: str | None = None,
    ) -> Slice[Portfolio]:
        where, params = [], []
        if created_by:
            where.append("p.created_by = ?")
            params.append(created_by)
        if status:
            where.append("p.status = ?")
            params.append(status)

        def read(conn: sqlite3.Connection) -> Slice[Portfolio]:
            rows, more, next_cursor = read_keyset(
                conn,
                PORTFOLIO_COLUMNS,
                "portfolios p",
                where,
                params,
                PORTFOLIO_ORDER,
                cursor=cursor,
                offset=offset,
                limit=limit,
                max_bytes=max_bytes,
            )
            return Slice([portfolio_from_row(r) for r in rows], more, next_cursor)

        return await self._read(read)

    async def get_portfolio(
        self, portfolio_id: str, *, offset: int = 0, max_bytes: int | None = None
    ) -> PortfolioDetail:
        def read(conn: sqlite3.Connection) -> PortfolioDetail:
            portfolio = fetch_portfolio(conn, portfolio_id)
            intents, aggregate, memberships, next_offset = _members(
                conn, portfolio, offset, max_bytes
            )
            return PortfolioDetail(
                **msgspec.structs.asdict(portfolio),
                intents=intents,
                aggregate_status=aggregate,
                memberships=memberships,
                next_offset=next_offset,
            )

        return await self._read(read)

    async def portfolio_intents(
        self, portfolio_id: str, *, offset: int = 0, max_bytes: int | None = None
    ) -> PortfolioIntents:
        def read(conn: sqlite3.Connection) -> PortfolioIntents:
            portfolio = fetch_portfolio(conn, portfolio_id)
            intents, aggregate, memberships, next_offset = _members(
                conn, portfolio, offset, max_bytes
            )
            return PortfolioIntents(
                intents=intents,
                aggregate_status=aggregate,
                memberships=memberships,
                next_offset=next_offset,
            )

        return await self._read(read)

    async def portfolio_member_ids(self, portfolio_id: str) -> list[str]:
        def read(conn: sqlite3.Connection) -> list[str]:
            fetch_portfolio(conn, portfolio_id)
            rows = conn.execute(
                "SELECT intent_id FROM portfolio_members WHERE portfolio_id = ?", (portfolio_id,)
            ).fetchall()
            return [r[0] for r in rows]

        return await self._read(read)

    async def set_portfolio_status(
        self, portfolio_id: str, status: str, reason: str | None, actor: str | None
    ) -> Portfolio:
        check_portfolio_status(status)

        def op(tx: Tx) -> Portfolio:
            portfolio = fetch_portfolio(tx, portfolio_id)
            if portfolio.status == status:
                return portfolio  # nothing changes, so nothing is logged
            _change_status(tx, portfolio, status, actor, reason=reason)
            return fetch_portfolio(tx, portfolio_id)

        return await self._write(op)

    async def add_portfolio_member(
        self, portfolio_id: str, data: MembershipCreate, actor: str | None
    ) -> Membership:
        def op(tx: Tx) -> Membership:
            portfolio = fetch_portfolio(tx, portfolio_id)
            require_intent(tx, data.intent_id)
            existing = tx.one(
                "SELECT id FROM portfolio_members WHERE portfolio_id = ? AND intent_id = ?",
                (portfolio_id, data.intent_id),
            )
            if existing is not None:
                raise Conflict(
                    f"Intent {data.intent_id} is already a member of portfolio {portfolio_id}",
                    membership_id=existing[0],
                )
            membership_id = new_uid()
            tx.execute(
                "INSERT INTO portfolio_members (id, portfolio_id, intent_id, role, priority,"
                " added_at) VALUES (?,?,?,?,?,?)",
                (membership_id, portfolio_id, data.intent_id, data.role, data.priority, tx.now),
            )
            _touch(tx, portfolio_id)
            tx.emit(
                data.intent_id,
                "added_to_portfolio",
                actor,
                {
                    "portfolio_id": portfolio_id,
                    "portfolio_name": portfolio.name,
                    "membership_id": membership_id,
                    "role": data.role,
                    "priority": data.priority,
                },
                portfolio_id=portfolio_id,
            )
            complete_if_due(tx, portfolio_id, actor)
            return Membership(
                id=membership_id,
                portfolio_id=portfolio_id,
                intent_id=data.intent_id,
                role=data.role,
                priority=data.priority,
                added_at=tx.now,
            )

        return await self._write(op)

    async def remove_portfolio_member(
        self, portfolio_id: str, intent_id: str, actor: str | None
    ) -> None:
        def op(tx: Tx) -> None:
            portfolio = fetch_portfolio(tx, portfolio_id)
            row = tx.one(
                "SELECT id FROM portfolio_members WHERE portfolio_id = ? AND intent_id = ?",
                (portfolio_id, intent_id),
            )
            if row is None:
                raise NotFound(f"Intent {intent_id} is not a member of portfolio {portfolio_id}")
            tx.execute("DELETE FROM portfolio_members WHERE id = ?", (row[0],))
            _touch(tx, portfolio_id)
            tx.emit(
                intent_id,
                "removed_from_portfolio",
                actor,
                {
                    "portfolio_id": portfolio_id,
                    "portfolio_name": portfolio.name,
                    "membership_id": row[0],
                },
                portfolio_id=portfolio_id,
            )
            complete_if_due(tx, portfolio_id, actor)

        await self._write(op)

    async def intent_portfolios(self, intent_id: str) -> list[Portfolio]:
        def read(conn: sqlite3.Connection) -> list[Portfolio]:
            if conn.execute("SELECT 1 FROM intents WHERE id = ?", (intent_id,)).fetchone() is None:
                raise NotFound(f"Intent {intent_id} not found")
            rows = conn.execute(
                f"SELECT {PORTFOLIO_COLUMNS} FROM portfolios p"
                " JOIN portfolio_members m ON m.portfolio_id = p.id WHERE m.intent_id = ?"
                " ORDER BY m.added_at, m.rowid",
                (intent_id,),
            ).fetchall()
            return [portfolio_from_row(r) for r in rows]

        return await self._read(read)
