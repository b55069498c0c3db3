"""Retry policies and failures on PostgreSQL. A failure is judged against the policy inside
the transaction that records it (writes are serialised: core.py), so concurrent failures
never both trigger the fallback."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg

from ...domain.clock import iso
from ...domain.errors import NotFound
from ...domain.retries import next_retry_delay_ms, retries_exhausted
from ...wire.retries import Failure, FailureCreate, RetryPolicy, RetryPolicySet
from ..keyset import Slice
from ..retries import RetryStore
from ..sqlite.core import dumps, loads, new_uid
from .core import PostgresCore, Tx, by_ord, read_keyset
from .intents import Queryable, require_intent

FAILURE_ORDER = by_ord("failures")

POLICY_COLUMNS = (
    "id, intent_id, strategy, max_retries, base_delay_ms, max_delay_ms, fallback_agent_id,"
    " failure_threshold, created_at, updated_at"
)
FAILURE_COLUMNS = (
    "id, intent_id, agent_id, attempt_number, error_code, error_message, recoverable,"
    " retry_scheduled_at, next_retry_delay_ms, retries_exhausted, fallback_agent_id, metadata,"
    " created_at"
)


def policy_from_row(row: Any) -> RetryPolicy:
    (id_, intent_id, strategy, retries, base, cap, fallback, threshold, created, updated) = row
    created_at, updated_at = iso(created), iso(updated)
    return RetryPolicy(
        id=id_,
        intent_id=intent_id,
        strategy=strategy,
        max_retries=retries,
        base_delay_ms=base,
        max_delay_ms=cap,
        fallback_agent_id=fallback,
        failure_threshold=threshold,
        created_at=created_at,
        updated_at=updated_at,
        created_at_camel=created_at,
        updated_at_camel=updated_at,
    )


def failure_from_row(row: Any) -> Failure:
    (
        id_,
        intent_id,
        agent_id,
        attempt,
        code,
        message,
        recoverable,
        scheduled,
        delay,
        exhausted,
        fallback,
        metadata,
        created,
    ) = row
    created_at = iso(created)
    return Failure(
        id=id_,
        intent_id=intent_id,
        agent_id=agent_id,
        attempt_number=attempt,
        error_code=code,
        error_message=message,
        recoverable=recoverable,
        retry_scheduled_at=scheduled,
        next_retry_delay_ms=delay,
        retries_exhausted=exhausted,
        fallback_agent_id=fallback,
        metadata=loads(metadata),
        created_at=created_at,
        created_at_camel=created_at,
        retry_scheduled_at_camel=scheduled,
    )


async def _policy_row(conn: Queryable, intent_id: str) -> Any:
    return await conn.fetchrow(
        f"SELECT {POLICY_COLUMNS} FROM retry_policies WHERE intent_id = $1", intent_id
    )


async def _assign_fallback(
    tx: Tx, intent_id: str, agent_id: str, actor: str | None, why: str
) -> None:
    await tx.execute(
        "INSERT INTO intent_agents (id, intent_id, agent_id, role, assigned_at)"
        " VALUES ($1,$2,$3,'fallback',$4) ON CONFLICT (intent_id, agent_id) DO NOTHING",
        new_uid(),
        intent_id,
        agent_id,
        tx.moment,
    )
    await tx.emit(
        intent_id,
        "agent_assigned",
        actor,
        {"agent_id": agent_id, "role": "fallback", "reason": why},
    )


class PostgresRetries(PostgresCore, RetryStore):
    async def set_retry_policy(
        self, intent_id: str, data: RetryPolicySet, actor: str | None
    ) -> RetryPolicy:
        async def op(tx: Tx) -> RetryPolicy:
            await require_intent(tx, intent_id)
            row = await tx.fetchrow(
                f"INSERT INTO retry_policies ({POLICY_COLUMNS})"
                " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$9)"
                " ON CONFLICT (intent_id) DO UPDATE SET strategy = excluded.strategy,"
                " max_retries = excluded.max_retries, base_delay_ms = excluded.base_delay_ms,"
                " max_delay_ms = excluded.max_delay_ms,"
                " fallback_agent_id = excluded.fallback_agent_id,"
                " failure_threshold = excluded.failure_threshold,"
                f" updated_at = excluded.updated_at RETURNING {POLICY_COLUMNS}",
                new_uid(),
                intent_id,
                data.strategy,
                data.max_retries,
                data.base_delay_ms,
                data.max_delay_ms,
                data.fallback_agent_id,
                data.failure_threshold,
                tx.moment,
            )
            policy = policy_from_row(row)
            # No EventType value names a policy change; a comment keeps it in the log.
            await tx.emit(
                intent_id,
                "comment",
                actor,
                {
                    "kind": "retry_policy_set",
                    "message": f"Retry policy set: {data.strategy}, {data.max_retries} retries",
                    "policy_id": policy.id,
                    "strategy": data.strategy,
                    "max_retries": data.max_retries,
                    "base_delay_ms": data.base_delay_ms,
                    "max_delay_ms": data.max_delay_ms,
                    "fallback_agent_id": data.fallback_agent_id,
                    "failure_threshold": data.failure_threshold,
                },
            )
            return policy

        return await self._write(op)

    async def get_retry_policy(self, intent_id: str) -> RetryPolicy:
        async def read(conn: asyncpg.Connection) -> RetryPolicy:
            await require_intent(conn, intent_id)
            row = await _policy_row(conn, intent_id)
            if row is None:
                raise NotFound(f"No retry policy set for intent {intent_id}")
            return policy_from_row(row)

        return await self._read(read)

    async def delete_retry_policy(self, intent_id: str, actor: str | None) -> None:
        async def op(tx: Tx) -> None:
            await require_intent(tx, intent_id)
            policy_id = await tx.fetchval(
                "DELETE FROM retry_policies WHERE intent_id = $1 RETURNING id", intent_id
            )
            if policy_id is None:
                raise NotFound(f"No retry policy set for intent {intent_id}")
            await tx.emit(
                intent_id,
                "comment",
                actor,
                {
                    "kind": "retry_policy_removed",
                    "message": "Retry policy removed",
                    "policy_id": policy_id,
                },
            )

        await self._write(op)

    async def record_failure(
        self, intent_id: str, data: FailureCreate, agent_id: str | None
    ) -> Failure:
        async def op(tx: Tx) -> Failure:
            await require_intent(tx, intent_id)
            policy = await _policy_row(tx, intent_id)
            counts = await tx.fetchrow(
                "SELECT COALESCE(MAX(attempt_number), 0), COUNT(*),"
                " COUNT(*) FILTER (WHERE fallback_agent_id IS NOT NULL)"
                " FROM failures WHERE intent_id = $1",
                intent_id,
            )
            assert counts is not None  # an aggregate always has its row
            previous, earlier, fallback_done = counts
            failure_count = earlier + 1
            attempt = data.attempt_number or previous + 1
            delay, exhausted, fallback = None, False, None
            if policy is not None:
                _, _, strategy, max_retries, base, cap, fallback_agent, threshold, _, _ = policy
                delay = next_retry_delay_ms(
                    strategy, attempt, max_retries, base, cap, recoverable=data.recoverable
                )
                exhausted = retries_exhausted(strategy, attempt, max_retries)
                if (
                    fallback_agent
                    and not fallback_done
                    and (failure_count >= threshold or exhausted or not data.recoverable)
                ):
                    fallback = fallback_agent
            scheduled = data.retry_scheduled_at
            if scheduled is None and delay is not None:
                scheduled = iso(tx.moment + timedelta(milliseconds=delay))
            failure_id = new_uid()
            row = await tx.fetchrow(
                f"INSERT INTO failures ({FAILURE_COLUMNS})"
                " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"
                f" RETURNING {FAILURE_COLUMNS}",
                failure_id,
                intent_id,
                agent_id,
                attempt,
                data.error_code or data.error_type,
                data.error_message,
                bool(data.recoverable),
                scheduled,
                delay,
                exhausted,
                fallback,
                dumps(data.metadata or {}),
                tx.moment,
            )
            failure = failure_from_row(row)
            await tx.emit(
                intent_id,
                "failure_recorded",
                agent_id,
                {
                    "failure_id": failure_id,
                    "attempt_number": attempt,
                    "error_code": failure.error_code,
                    "error_message": failure.error_message,
                    "recoverable": failure.recoverable,
                    "next_retry_delay_ms": delay,
                    "retry_scheduled_at": scheduled,
                    "retries_exhausted": exhausted,
                },
            )
            if fallback:
                await _assign_fallback(
                    tx, intent_id, fallback, agent_id, f"failure {failure_count} ({failure_id})"
                )
            return failure

        return await self._write(op)

    async def list_failures(
        self,
        intent_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
        cursor: str | None = None,
    ) -> Slice[Failure]:
        async def read(conn: asyncpg.Connection) -> Slice[Failure]:
            await require_intent(conn, intent_id)
            rows, more, next_cursor = await read_keyset(
                conn,
                FAILURE_COLUMNS,
                "failures",
                ["intent_id = $1"],
                (intent_id,),
                FAILURE_ORDER,
                cursor=cursor,
                offset=offset,
                limit=limit,
                max_bytes=max_bytes,
            )
            return Slice([failure_from_row(r) for r in rows], more, next_cursor)

        return await self._read(read)
