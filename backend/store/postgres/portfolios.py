"""Portfolios and memberships on PostgreSQL, with governance auto-completion re-judged
inside the transaction of every change that can affect it (a membership added or removed,
or a member's status change: `complete_portfolios_of`, a status-change hook)."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from ...domain.clock import iso
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
from ..sqlite.core import dumps, loads, new_uid
from .core import PostgresCore, Tx, by_ord, read_keyset, within
from .intents import INTENT_COLUMNS, Queryable, intent_from_row, require_intent

PORTFOLIO_ORDER = by_ord("portfolios", "p.ord")

PORTFOLIO_COLUMNS = (
    "p.id, p.name, p.description, p.created_by, p.status, p.governance_policy, p.metadata,"
    " p.created_at, p.updated_at"
)
MEMBER_COLUMNS = "m.id, m.portfolio_id, m.intent_id, m.role, m.priority, m.added_at"


def portfolio_from_row(row: Any) -> Portfolio:
    id_, name, description, created_by, status, policy, metadata, created, updated = row
    created_at, updated_at = iso(created), iso(updated)
    return Portfolio(
        id=id_,
        name=name,
        description=description,
        created_by=created_by,
        status=status,
        governance_policy=loads(policy),
        metadata=loads(metadata),
        created_at=created_at,
        updated_at=updated_at,
        created_at_camel=created_at,
        updated_at_camel=updated_at,
    )


def membership_from_row(row: Any) -> Membership:
    id_, portfolio_id, intent_id, role, priority, added = row
    return Membership(
        id=id_,
        portfolio_id=portfolio_id,
        intent_id=intent_id,
        role=role,
        priority=priority,
        added_at=iso(added),
    )


async def fetch_portfolio(conn: Queryable, portfolio_id: str) -> Portfolio:
    row = await conn.fetchrow(
        f"SELECT {PORTFOLIO_COLUMNS} FROM portfolios p WHERE p.id = $1", portfolio_id
    )
    if row is None:
        raise NotFound(f"Portfolio {portfolio_id} not found")
    return portfolio_from_row(row)


async def _member_statuses(conn: Queryable, portfolio_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT i.status FROM portfolio_members m JOIN intents i ON i.id = m.intent_id"
        " WHERE m.portfolio_id = $1",
        portfolio_id,
    )
    return [r[0] for r in rows]


async def _members(
    conn: asyncpg.Connection, portfolio: Portfolio, offset: int, max_bytes: int | None
) -> tuple[list[Intent], AggregateStatus, list[Membership], int | None]:
    """As the SQLite store's: members by priority, each intent showing the shared
    constraints; at most MAX_PAGE and about `max_bytes`, with the next offset."""
    aggregate = AggregateStatus(**aggregate_status(await _member_statuses(conn, portfolio.id)))
    found = await conn.fetch(
        f"SELECT {MEMBER_COLUMNS}, {INTENT_COLUMNS} FROM portfolio_members m"
        " JOIN intents i ON i.id = m.intent_id WHERE m.portfolio_id = $1"
        " ORDER BY m.priority DESC, m.added_at, m.ord LIMIT $2 OFFSET $3",
        portfolio.id,
        MAX_PAGE + 1,
        offset,
    )
    rows, more = within(found, MAX_PAGE, max_bytes)
    shared = portfolio.governance_policy.get("shared_constraints")
    memberships, intents = [], []
    for row in rows:
        values = tuple(row)
        memberships.append(membership_from_row(values[:6]))
        intent = intent_from_row(values[6:])
        if isinstance(shared, dict) and shared:
            intent = msgspec.structs.replace(
                intent, constraints=merge_constraints(shared, intent.constraints)
            )
        intents.append(intent)
    return intents, aggregate, memberships, offset + len(rows) if more else None


async def _touch(tx: Tx, portfolio_id: str) -> None:
    """A membership change is a change of the portfolio too."""
    await tx.execute("UPDATE portfolios SET updated_at = $1 WHERE id = $2", tx.moment, portfolio_id)


async def _change_status(
    tx: Tx, portfolio: Portfolio, status: str, actor: str | None, **why: Any
) -> None:
    await tx.execute(
        "UPDATE portfolios SET status = $1, updated_at = $2 WHERE id = $3",
        status,
        tx.moment,
        portfolio.id,
    )
    # Logged as the SDK's `status_changed`, attached to the portfolio and to no intent.
    await tx.emit(
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


async def complete_if_due(tx: Tx, portfolio_id: str, actor: str | None) -> None:
    """Apply the governance policy: an active portfolio whose members meet it completes."""
    portfolio = await fetch_portfolio(tx, portfolio_id)
    if portfolio.status != "active":
        return
    statuses = await _member_statuses(tx, portfolio_id)
    if completion_due(portfolio.governance_policy, statuses):
        await _change_status(
            tx,
            portfolio,
            "completed",
            actor,
            reason="governance policy met",
            automatic=True,
            aggregate=aggregate_status(statuses),
        )


async def complete_portfolios_of(
    tx: Tx, intent_id: str, old_status: str, new_status: str, actor: str | None
) -> None:
    """A status-change hook: a member's new status may complete its portfolios."""
    for row in await tx.fetch(
        "SELECT portfolio_id FROM portfolio_members WHERE intent_id = $1", intent_id
    ):
        await complete_if_due(tx, row[0], actor)


class PostgresPortfolios(PostgresCore, PortfolioStore):
    async def create_portfolio(self, data: PortfolioCreate, actor: str | None) -> Portfolio:
        created_by = data.created_by or actor
        policy = data.governance_policy or {}

        async def op(tx: Tx) -> Portfolio:
            portfolio_id = new_uid()
            await tx.execute(
                "INSERT INTO portfolios (id, name, description, created_by, status,"
                " governance_policy, metadata, created_at, updated_at)"
                " VALUES ($1,$2,$3,$4,'active',$5,$6,$7,$7)",
                portfolio_id,
                data.name,
                data.description,
                created_by,
                dumps(policy),
                dumps(data.metadata or {}),
                tx.moment,
            )
            await tx.emit(
                None,
                "portfolio_created",
                created_by,
                {"portfolio_id": portfolio_id, "name": data.name, "governance_policy": policy},
                portfolio_id=portfolio_id,
            )
            return await fetch_portfolio(tx, portfolio_id)

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
        rows, more, next_cursor = await read_keyset(
            self.pool,
            PORTFOLIO_COLUMNS,
            "portfolios p",
            ["($1::text IS NULL OR p.created_by = $1)", "($2::text IS NULL OR p.status = $2)"],
            (created_by or None, status or None),
            PORTFOLIO_ORDER,
            cursor=cursor,
            offset=offset,
            limit=limit,
            max_bytes=max_bytes,
        )
        return Slice([portfolio_from_row(r) for r in rows], more, next_cursor)

    async def get_portfolio(
        self, portfolio_id: str, *, offset: int = 0, max_bytes: int | None = None
    ) -> PortfolioDetail:
        async def read(conn: asyncpg.Connection) -> PortfolioDetail:
            portfolio = await fetch_portfolio(conn, portfolio_id)
            intents, aggregate, memberships, next_offset = await _members(
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
        async def read(conn: asyncpg.Connection) -> PortfolioIntents:
            portfolio = await fetch_portfolio(conn, portfolio_id)
            intents, aggregate, memberships, next_offset = await _members(
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
        async def read(conn: asyncpg.Connection) -> list[str]:
            await fetch_portfolio(conn, portfolio_id)
            rows = await conn.fetch(
                "SELECT intent_id FROM portfolio_members WHERE portfolio_id = $1", portfolio_id
            )
            return [r[0] for r in rows]

        return await self._read(read)

    async def set_portfolio_status(
        self, portfolio_id: str, status: str, reason: str | None, actor: str | None
    ) -> Portfolio:
        check_portfolio_status(status)

        async def op(tx: Tx) -> Portfolio:
            portfolio = await fetch_portfolio(tx, portfolio_id)
            if portfolio.status == status:
                return portfolio  # nothing changes, so nothing is logged
            await _change_status(tx, portfolio, status, actor, reason=reason)
            return await fetch_portfolio(tx, portfolio_id)

        return await self._write(op)

    async def add_portfolio_member(
        self, portfolio_id: str, data: MembershipCreate, actor: str | None
    ) -> Membership:
        async def op(tx: Tx) -> Membership:
            portfolio = await fetch_portfolio(tx, portfolio_id)
            await require_intent(tx, data.intent_id)
            existing = await tx.fetchval(
                "SELECT id FROM portfolio_members WHERE portfolio_id = $1 AND intent_id = $2",
                portfolio_id,
                data.intent_id,
            )
            if existing is not None:
                raise Conflict(
                    f"Intent {data.intent_id} is already a member of portfolio {portfolio_id}",
                    membership_id=existing,
                )
            membership_id = new_uid()
            await tx.execute(
                "INSERT INTO portfolio_members (id, portfolio_id, intent_id, role, priority,"
                " added_at) VALUES ($1,$2,$3,$4,$5,$6)",
                membership_id,
                portfolio_id,
                data.intent_id,
                data.role,
                data.priority,
                tx.moment,
            )
            await _touch(tx, portfolio_id)
            await tx.emit(
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
            await complete_if_due(tx, portfolio_id, actor)
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
        async def op(tx: Tx) -> None:
            portfolio = await fetch_portfolio(tx, portfolio_id)
            membership_id = await tx.fetchval(
                "DELETE FROM portfolio_members WHERE portfolio_id = $1 AND intent_id = $2"
                " RETURNING id",
                portfolio_id,
                intent_id,
            )
            if membership_id is None:
                raise NotFound(f"Intent {intent_id} is not a member of portfolio {portfolio_id}")
            await _touch(tx, portfolio_id)
            await tx.emit(
                intent_id,
                "removed_from_portfolio",
                actor,
                {
                    "portfolio_id": portfolio_id,
                    "portfolio_name": portfolio.name,
                    "membership_id": membership_id,
                },
                portfolio_id=portfolio_id,
            )
            await complete_if_due(tx, portfolio_id, actor)

        await self._write(op)

    async def intent_portfolios(self, intent_id: str) -> list[Portfolio]:
        async def read(conn: asyncpg.Connection) -> list[Portfolio]:
            await require_intent(conn, intent_id)
            rows = await conn.fetch(
                f"SELECT {PORTFOLIO_COLUMNS} FROM portfolios p"
                " JOIN portfolio_members m ON m.portfolio_id = p.id WHERE m.intent_id = $1"
                " ORDER BY m.added_at, m.ord",
                intent_id,
            )
            return [portfolio_from_row(r) for r in rows]

        return await self._read(read)
