"""Costs on PostgreSQL, with budget marks logged once per intent in the recording
transaction. Amounts are JSON numbers, so integers stay integers and floats floats, and are
summed in Python by the same `domain.budgets` functions the SQLite store's summary uses."""

from __future__ import annotations

from typing import Any

import asyncpg

from ...domain.budgets import (
    ALERT,
    Budget,
    CostLine,
    budget_of,
    spent_in,
    thresholds_reached,
    totals,
)
from ...domain.clock import iso
from ...domain.errors import NotFound
from ...wire.costs import Cost, CostCreate, CostList, CostSummary
from ..costs import CostStore
from ..sqlite.core import dumps, loads, new_uid
from ..sqlite.costs import budget_status
from .core import PostgresCore, Tx, read_page
from .intents import Queryable

COST_COLUMNS = "id, intent_id, agent_id, cost_type, amount, unit, provider, metadata, recorded_at"


def cost_from_row(row: Any) -> Cost:
    id_, intent_id, agent_id, cost_type, amount, unit, provider, metadata, recorded = row
    recorded_at = iso(recorded)
    return Cost(
        id=id_,
        intent_id=intent_id,
        agent_id=agent_id,
        cost_type=cost_type,
        amount=loads(amount),
        unit=unit,
        provider=provider,
        metadata=loads(metadata),
        recorded_at=recorded_at,
        recorded_at_camel=recorded_at,
    )


async def _constraints(conn: Queryable, intent_id: str) -> dict:
    text = await conn.fetchval("SELECT constraints FROM intents WHERE id = $1", intent_id)
    if text is None:
        raise NotFound(f"Intent {intent_id} not found")
    return loads(text)


async def _cost_lines(conn: Queryable, intent_id: str) -> list[CostLine]:
    rows = await conn.fetch(
        "SELECT agent_id, cost_type, amount, unit FROM costs WHERE intent_id = $1 ORDER BY ord",
        intent_id,
    )
    return [CostLine(r[0], r[1], loads(r[2]), r[3]) for r in rows]


async def _log_budget_marks(tx: Tx, intent_id: str, budget: Budget, actor: str | None) -> None:
    spent = spent_in(await _cost_lines(tx, intent_id), budget.unit)
    for kind in thresholds_reached(budget, spent):
        inserted = await tx.fetchval(
            "INSERT INTO budget_marks (intent_id, kind, reached_at) VALUES ($1,$2,$3)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            intent_id,
            kind,
            tx.moment,
        )
        if inserted is None:
            continue  # already logged once for this intent
        figures = {
            "limit": budget.limit,
            "unit": budget.unit,
            "spent": spent,
            "alert_threshold_percent": budget.alert_threshold_percent,
        }
        # Only SDK EventType values may be logged: no `budget_alert` type exists there.
        if kind == ALERT:
            await tx.emit(
                intent_id,
                "comment",
                actor,
                {
                    "kind": "budget_alert",
                    "message": f"Budget alert: {spent} of {budget.limit} {budget.unit} spent"
                    f" (threshold {budget.alert_threshold_percent}%)",
                    **figures,
                },
            )
        else:
            await tx.emit(
                intent_id,
                "governance.violation",
                actor,
                {
                    "rule": "budget",
                    "detail": f"Budget exceeded: {spent} of {budget.limit} {budget.unit} spent",
                    **figures,
                },
            )


class PostgresCosts(PostgresCore, CostStore):
    async def record_cost(self, intent_id: str, data: CostCreate, agent_id: str | None) -> Cost:
        metadata = data.metadata if data.metadata is not None else (data.cost_metadata or {})

        async def op(tx: Tx) -> Cost:
            budget = budget_of(await _constraints(tx, intent_id))
            row = await tx.fetchrow(
                f"INSERT INTO costs ({COST_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
                f" RETURNING {COST_COLUMNS}",
                new_uid(),
                intent_id,
                agent_id,
                data.cost_type,
                dumps(data.amount),
                data.unit,
                data.provider,
                dumps(metadata),
                tx.moment,
            )
            if budget is not None and budget.unit == data.unit:
                await _log_budget_marks(tx, intent_id, budget, agent_id)
            return cost_from_row(row)

        return await self._write(op)

    async def list_costs(
        self,
        intent_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> CostList:
        async def read(conn: asyncpg.Connection) -> CostList:
            budget = budget_of(await _constraints(conn, intent_id))
            rows = await read_page(
                conn,
                f"SELECT {COST_COLUMNS} FROM costs WHERE intent_id = $1 ORDER BY ord",
                (intent_id,),
                offset=offset,
                limit=limit,
                max_bytes=max_bytes,
            )
            lines = await _cost_lines(conn, intent_id)  # the summary counts every cost
            summary = CostSummary(
                **totals(lines),
                budget=None
                if budget is None
                else budget_status(budget, spent_in(lines, budget.unit)),
            )
            return CostList(costs=[cost_from_row(r) for r in rows], summary=summary)

        return await self._read(read)
