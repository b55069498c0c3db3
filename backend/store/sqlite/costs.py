"""Costs on SQLite, with budget marks logged once per intent in the recording transaction."""

from __future__ import annotations

import sqlite3

from ...domain.budgets import (
    ALERT,
    EXCEEDED,
    Budget,
    CostLine,
    budget_of,
    spent_in,
    thresholds_reached,
    tidy,
    totals,
)
from ...domain.errors import NotFound
from ...wire.costs import BudgetStatus, Cost, CostCreate, CostList, CostSummary
from ..costs import CostStore
from .core import SqliteCore, Tx, dumps, loads, new_uid, read_page

COST_COLUMNS = "id, intent_id, agent_id, cost_type, amount, unit, provider, metadata, recorded_at"


def cost_from_row(row: tuple) -> Cost:
    id_, intent_id, agent_id, cost_type, amount, unit, provider, metadata, recorded = row
    return Cost(
        id=id_,
        intent_id=intent_id,
        agent_id=agent_id,
        cost_type=cost_type,
        amount=amount,
        unit=unit,
        provider=provider,
        metadata=loads(metadata),
        recorded_at=recorded,
        recorded_at_camel=recorded,
    )


def _constraints(conn: sqlite3.Connection | Tx, intent_id: str) -> dict:
    row = conn.execute("SELECT constraints FROM intents WHERE id = ?", (intent_id,)).fetchone()
    if row is None:
        raise NotFound(f"Intent {intent_id} not found")
    return loads(row[0])


def budget_status(budget: Budget, spent: int | float) -> BudgetStatus:
    reached = thresholds_reached(budget, spent)
    return BudgetStatus(
        limit=budget.limit,
        unit=budget.unit,
        spent=spent,
        remaining=max(tidy(budget.limit - spent), 0),
        exceeded=EXCEEDED in reached,
        alert_threshold_percent=budget.alert_threshold_percent,
        alerted=ALERT in reached,
    )


def _log_budget_marks(tx: Tx, intent_id: str, budget: Budget, actor: str | None) -> None:
    spent = tx.row(
        "SELECT COALESCE(SUM(amount), 0) FROM costs WHERE intent_id = ? AND unit = ?",
        (intent_id, budget.unit),
    )[0]
    spent = tidy(spent)
    for kind in thresholds_reached(budget, spent):
        inserted = tx.execute(
            "INSERT OR IGNORE INTO budget_marks (intent_id, kind, reached_at) VALUES (?,?,?)",
            (intent_id, kind, tx.now),
        ).rowcount
        if not inserted:
            continue  # already logged once for this intent
        figures = {
            "limit": budget.limit,
            "unit": budget.unit,
            "spent": spent,
            "alert_threshold_percent": budget.alert_threshold_percent,
        }
        # Only SDK EventType values may be logged: no `budget_alert` type exists there.
        if kind == ALERT:
            tx.emit(
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
            tx.emit(
                intent_id,
                "governance.violation",
                actor,
                {
                    "rule": "budget",
                    "detail": f"Budget exceeded: {spent} of {budget.limit} {budget.unit} spent",
                    **figures,
                },
            )


class SqliteCosts(SqliteCore, CostStore):
    async def record_cost(self, intent_id: str, data: CostCreate, agent_id: str | None) -> Cost:
        metadata = data.metadata if data.metadata is not None else (data.cost_metadata or {})

        def op(tx: Tx) -> Cost:
            budget = budget_of(_constraints(tx, intent_id))
            cost_id = new_uid()
            tx.execute(
                f"INSERT INTO costs ({COST_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    cost_id,
                    intent_id,
                    agent_id,
                    data.cost_type,
                    data.amount,
                    data.unit,
                    data.provider,
                    dumps(metadata),
                    tx.now,
                ),
            )
            if budget is not None and budget.unit == data.unit:
                _log_budget_marks(tx, intent_id, budget, agent_id)
            return cost_from_row(
                tx.row(f"SELECT {COST_COLUMNS} FROM costs WHERE id = ?", (cost_id,))
            )

        return await self._write(op)

    async def list_costs(
        self,
        intent_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> CostList:
        def read(conn: sqlite3.Connection) -> CostList:
            budget = budget_of(_constraints(conn, intent_id))
            rows = read_page(
                conn,
                f"SELECT {COST_COLUMNS} FROM costs WHERE intent_id = ? ORDER BY recorded_at, rowid",
                (intent_id,),
                offset=offset,
                limit=limit,
                max_bytes=max_bytes,
            )
            costs = [cost_from_row(r) for r in rows]
            # the summary counts every cost, not only this page
            lines = [
                CostLine(*line)
                for line in conn.execute(
                    "SELECT agent_id, cost_type, amount, unit FROM costs WHERE intent_id = ?"
                    " ORDER BY recorded_at, rowid",
                    (intent_id,),
                )
            ]
            summary = CostSummary(
                **totals(lines),
                budget=None
                if budget is None
                else budget_status(budget, spent_in(lines, budget.unit)),
            )
            return CostList(costs=costs, summary=summary)

        return await self._read(read)
