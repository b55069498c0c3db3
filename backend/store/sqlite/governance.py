"""Arbitration requests and decision records on SQLite (RFC-0003 governance)."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from ...domain.errors import Conflict, InvalidInput, NotFound
from ...wire.governance import Arbitration, ArbitrationOption, Decision
from ..governance import GovernanceStore, NewDecision
from ..keyset import Slice
from .core import SqliteCore, Tx, by_rowid, dumps, loads, new_uid, read_keyset
from .intents import require_intent

ARBITRATION_ORDER = by_rowid("arbitrations")
DECISION_ORDER = by_rowid("decisions")

ARBITRATION_COLUMNS = (
    "id, intent_id, requester_id, reason, context, options, status, created_at,"
    " resolved_at, decision_id"
)
DECISION_COLUMNS = (
    "id, intent_id, decision_maker_id, decision_type, outcome, reasoning, evidence,"
    " arbitration_id, created_at"
)


def arbitration_from_row(row: tuple) -> Arbitration:
    id_, intent_id, requester, reason, context, options, status, created, resolved, decision = row
    return Arbitration(
        id=id_,
        intent_id=intent_id,
        requester_id=requester,
        reason=reason,
        context=loads(context),
        options=msgspec.convert(loads(options), list[ArbitrationOption]),
        status=status,
        created_at=created,
        resolved_at=resolved,
        decision_id=decision,
    )


def decision_from_row(row: tuple) -> Decision:
    id_, intent_id, maker, decision_type, outcome, reasoning, evidence, arbitration, created = row
    return Decision(
        id=id_,
        intent_id=intent_id,
        decision_maker_id=maker,
        decision_type=decision_type,
        outcome=outcome,
        reasoning=reasoning,
        rationale=reasoning,
        evidence=loads(evidence),
        arbitration_id=arbitration,
        created_at=created,
    )


def _resolve_arbitration(tx: Tx, intent_id: str, arbitration_id: str, decision_id: str) -> None:
    row = tx.one(
        "SELECT intent_id, status, decision_id FROM arbitrations WHERE id = ?", (arbitration_id,)
    )
    if row is None or row[0] != intent_id:
        raise InvalidInput(
            f"arbitration_id {arbitration_id} is not an arbitration of intent {intent_id}",
            errors=[{"field": "arbitration_id", "value": arbitration_id}],
        )
    if row[1] != "pending":
        # Never say "lease" here: the SDK would raise LeaseConflictError.
        raise Conflict(f"Arbitration {arbitration_id} is already resolved by decision {row[2]}")
    tx.execute(
        "UPDATE arbitrations SET status = 'resolved', resolved_at = ?, decision_id = ?"
        " WHERE id = ? AND status = 'pending'",
        (tx.now, decision_id, arbitration_id),
    )


class SqliteGovernance(SqliteCore, GovernanceStore):
    async def request_arbitration(
        self,
        intent_id: str,
        requester_id: str,
        reason: str,
        context: dict[str, Any],
        options: list[ArbitrationOption],
    ) -> Arbitration:
        def op(tx: Tx) -> Arbitration:
            require_intent(tx, intent_id)
            arbitration = Arbitration(
                id=new_uid(),
                intent_id=intent_id,
                requester_id=requester_id,
                reason=reason,
                context=context,
                options=options,
                status="pending",
                created_at=tx.now,
            )
            tx.execute(
                f"INSERT INTO arbitrations ({ARBITRATION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    arbitration.id,
                    intent_id,
                    requester_id,
                    reason,
                    dumps(context),
                    dumps(options),
                    "pending",
                    tx.now,
                    None,
                    None,
                ),
            )
            tx.emit(
                intent_id,
                "arbitration_requested",
                requester_id,
                {
                    "arbitration_id": arbitration.id,
                    "reason": reason,
                    "context": context,
                    "options": msgspec.to_builtins(options),
                },
            )
            return arbitration

        return await self._write(op)

    async def get_arbitration(self, arbitration_id: str) -> Arbitration:
        def read(conn: sqlite3.Connection) -> Arbitration:
            row = conn.execute(
                f"SELECT {ARBITRATION_COLUMNS} FROM arbitrations WHERE id = ?", (arbitration_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"Arbitration {arbitration_id} not found")
            return arbitration_from_row(row)

        return await self._read(read)

    async def list_arbitrations(
        self,
        intent_id: str | None,
        status: str | None,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
        cursor: str | None = None,
    ) -> Slice[Arbitration]:
        where: list[str] = []
        params: list[Any] = []
        if intent_id is not None:
            where.append("intent_id = ?")
            params.append(intent_id)
        if status is not None:
            where.append("status = ?")
            params.append(status)

        def read(conn: sqlite3.Connection) -> Slice[Arbitration]:
            if intent_id is not None:
                require_intent(conn, intent_id)
            rows, more, next_cursor = read_keyset(
                conn,
                ARBITRATION_COLUMNS,
                "arbitrations",
                where,
                params,
                ARBITRATION_ORDER,
                cursor=cursor,
                offset=offset,
                limit=limit,
                max_bytes=max_bytes,
            )
            return Slice([arbitration_from_row(r) for r in rows], more, next_cursor)

        return await self._read(read)

    async def record_decision(self, intent_id: str, decision: NewDecision) -> Decision:
        def op(tx: Tx) -> Decision:
            require_intent(tx, intent_id)
            decision_id = new_uid()
            if decision.arbitration_id is not None:
                _resolve_arbitration(tx, intent_id, decision.arbitration_id, decision_id)
            record = Decision(
                id=decision_id,
                intent_id=intent_id,
                decision_maker_id=decision.decision_maker_id,
                decision_type=decision.decision_type,
                outcome=decision.outcome,
                reasoning=decision.reasoning,
                rationale=decision.reasoning,
                evidence=decision.evidence,
                arbitration_id=decision.arbitration_id,
                created_at=tx.now,
            )
            tx.execute(
                f"INSERT INTO decisions ({DECISION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    decision_id,
                    intent_id,
                    record.decision_maker_id,
                    record.decision_type,
                    record.outcome,
                    record.reasoning,
                    dumps(record.evidence),
                    record.arbitration_id,
                    tx.now,
                ),
            )
            payload: dict[str, Any] = {
                "decision_id": decision_id,
                "decision_type": record.decision_type,
                "outcome": record.outcome,
                "rationale": record.reasoning,
            }
            if record.arbitration_id:
                payload["arbitration_id"] = record.arbitration_id
            tx.emit(intent_id, "decision_recorded", record.decision_maker_id, payload)
            return record

        return await self._write(op)

    async def list_decisions(
        self,
        intent_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
        cursor: str | None = None,
    ) -> Slice[Decision]:
        def read(conn: sqlite3.Connection) -> Slice[Decision]:
            require_intent(conn, intent_id)
            rows, more, next_cursor = read_keyset(
                conn,
                DECISION_COLUMNS,
                "decisions",
                ["intent_id = ?"],
                [intent_id],
                DECISION_ORDER,
                cursor=cursor,
                offset=offset,
                limit=limit,
                max_bytes=max_bytes,
            )
            return Slice([decision_from_row(r) for r in rows], more, next_cursor)

        return await self._read(read)
