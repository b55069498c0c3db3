"""Arbitration requests and decision records on PostgreSQL (RFC-0003 governance)."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from ...domain.clock import iso
from ...domain.errors import Conflict, InvalidInput, NotFound
from ...wire.governance import Arbitration, ArbitrationOption, Decision
from ..governance import GovernanceStore, NewDecision
from ..keyset import Slice
from ..sqlite.core import dumps, loads, new_uid
from .core import PostgresCore, Tx, by_ord, iso_or_none, read_keyset
from .intents import require_intent

ARBITRATION_ORDER = by_ord("arbitrations")
DECISION_ORDER = by_ord("decisions")

ARBITRATION_COLUMNS = (
    "id, intent_id, requester_id, reason, context, options, status, created_at,"
    " resolved_at, decision_id"
)
DECISION_COLUMNS = (
    "id, intent_id, decision_maker_id, decision_type, outcome, reasoning, evidence,"
    " arbitration_id, created_at"
)


def arbitration_from_row(row: Any) -> Arbitration:
    id_, intent_id, requester, reason, context, options, status, created, resolved, decision = row
    return Arbitration(
        id=id_,
        intent_id=intent_id,
        requester_id=requester,
        reason=reason,
        context=loads(context),
        options=msgspec.convert(loads(options), list[ArbitrationOption]),
        status=status,
        created_at=iso(created),
        resolved_at=iso_or_none(resolved),
        decision_id=decision,
    )


def decision_from_row(row: Any) -> Decision:
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
        created_at=iso(created),
    )


async def _resolve_arbitration(
    tx: Tx, intent_id: str, arbitration_id: str, decision_id: str
) -> None:
    row = await tx.fetchrow(
        "SELECT intent_id, status, decision_id FROM arbitrations WHERE id = $1 FOR UPDATE",
        arbitration_id,
    )
    if row is None or row[0] != intent_id:
        raise InvalidInput(
            f"arbitration_id {arbitration_id} is not an arbitration of intent {intent_id}",
            errors=[{"field": "arbitration_id", "value": arbitration_id}],
        )
    if row[1] != "pending":
        # Never say "lease" here: the SDK would raise LeaseConflictError.
        raise Conflict(f"Arbitration {arbitration_id} is already resolved by decision {row[2]}")
    await tx.execute(
        "UPDATE arbitrations SET status = 'resolved', resolved_at = $1, decision_id = $2"
        " WHERE id = $3",
        tx.moment,
        decision_id,
        arbitration_id,
    )


class PostgresGovernance(PostgresCore, GovernanceStore):
    async def request_arbitration(
        self,
        intent_id: str,
        requester_id: str,
        reason: str,
        context: dict[str, Any],
        options: list[ArbitrationOption],
    ) -> Arbitration:
        async def op(tx: Tx) -> Arbitration:
            await require_intent(tx, intent_id)
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
            await tx.execute(
                f"INSERT INTO arbitrations ({ARBITRATION_COLUMNS})"
                " VALUES ($1,$2,$3,$4,$5,$6,'pending',$7,NULL,NULL)",
                arbitration.id,
                intent_id,
                requester_id,
                reason,
                dumps(context),
                dumps(options),
                tx.moment,
            )
            await tx.emit(
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
        row = await self.pool.fetchrow(
            f"SELECT {ARBITRATION_COLUMNS} FROM arbitrations WHERE id = $1", arbitration_id
        )
        if row is None:
            raise NotFound(f"Arbitration {arbitration_id} not found")
        return arbitration_from_row(row)

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
        async def read(conn: asyncpg.Connection) -> Slice[Arbitration]:
            if intent_id is not None:
                await require_intent(conn, intent_id)
            rows, more, next_cursor = await read_keyset(
                conn,
                ARBITRATION_COLUMNS,
                "arbitrations",
                ["($1::text IS NULL OR intent_id = $1)", "($2::text IS NULL OR status = $2)"],
                (intent_id, status),
                ARBITRATION_ORDER,
                cursor=cursor,
                offset=offset,
                limit=limit,
                max_bytes=max_bytes,
            )
            return Slice([arbitration_from_row(r) for r in rows], more, next_cursor)

        return await self._read(read)

    async def record_decision(self, intent_id: str, decision: NewDecision) -> Decision:
        async def op(tx: Tx) -> Decision:
            await require_intent(tx, intent_id)
            decision_id = new_uid()
            if decision.arbitration_id is not None:
                await _resolve_arbitration(tx, intent_id, decision.arbitration_id, decision_id)
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
            await tx.execute(
                f"INSERT INTO decisions ({DECISION_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                decision_id,
                intent_id,
                record.decision_maker_id,
                record.decision_type,
                record.outcome,
                record.reasoning,
                dumps(record.evidence),
                record.arbitration_id,
                tx.moment,
            )
            payload: dict[str, Any] = {
                "decision_id": decision_id,
                "decision_type": record.decision_type,
                "outcome": record.outcome,
                "rationale": record.reasoning,
            }
            if record.arbitration_id:
                payload["arbitration_id"] = record.arbitration_id
            await tx.emit(intent_id, "decision_recorded", record.decision_maker_id, payload)
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
        async def read(conn: asyncpg.Connection) -> Slice[Decision]:
            await require_intent(conn, intent_id)
            rows, more, next_cursor = await read_keyset(
                conn,
                DECISION_COLUMNS,
                "decisions",
                ["intent_id = $1"],
                (intent_id,),
                DECISION_ORDER,
                cursor=cursor,
                offset=offset,
                limit=limit,
                max_bytes=max_bytes,
            )
            return Slice([decision_from_row(r) for r in rows], more, next_cursor)

        return await self._read(read)
