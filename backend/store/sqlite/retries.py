"""Retry policies and failures on SQLite. A failure is judged against the policy inside the
same transaction that records it, so concurrent failures never both trigger the fallback."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from ...domain.clock import iso, parse_iso
from ...domain.errors import NotFound
from ...domain.retries import next_retry_delay_ms, retries_exhausted
from ...wire.retries import Failure, FailureCreate, RetryPolicy, RetryPolicySet
from ..keyset import KeyColumns, Slice
from ..retries import RetryStore
from .core import RowidKey, SqliteCore, TimeKey, Tx, dumps, loads, new_uid, read_keyset
from .intents import fetch_intent, require_intent

FAILURE_ORDER = KeyColumns("failures", ("created_at", "rowid"), (TimeKey, RowidKey))

POLICY_COLUMNS = (
    "id, intent_id, strategy, max_retries, base_delay_ms, max_delay_ms, fallback_agent_id,"
    " failure_threshold, created_at, updated_at"
)
FAILURE_COLUMNS = (
    "id, intent_id, agent_id, attempt_number, error_code, error_message, recoverable,"
    " retry_scheduled_at, next_retry_delay_ms, retries_exhausted, fallback_agent_id, metadata,"
    " created_at"
)


def policy_from_row(row: tuple) -> RetryPolicy:
    (id_, intent_id, strategy, retries, base, cap, fallback, threshold, created, updated) = row
    return RetryPolicy(
        id=id_,
        intent_id=intent_id,
        strategy=strategy,
        max_retries=retries,
        base_delay_ms=base,
        max_delay_ms=cap,
        fallback_agent_id=fallback,
        failure_threshold=threshold,
        created_at=created,
        updated_at=updated,
        created_at_camel=created,
        updated_at_camel=updated,
    )


def failure_from_row(row: tuple) -> Failure:
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
    return Failure(
        id=id_,
        intent_id=intent_id,
        agent_id=agent_id,
        attempt_number=attempt,
        error_code=code,
        error_message=message,
        recoverable=bool(recoverable),
        retry_scheduled_at=scheduled,
        next_retry_delay_ms=delay,
        retries_exhausted=bool(exhausted),
        fallback_agent_id=fallback,
        metadata=loads(metadata),
        created_at=created,
        created_at_camel=created,
        retry_scheduled_at_camel=scheduled,
    )


def _policy_row(conn: sqlite3.Connection | Tx, intent_id: str) -> tuple | None:
    return conn.execute(
        f"SELECT {POLICY_COLUMNS} FROM retry_policies WHERE intent_id = ?", (intent_id,)
    ).fetchone()


def _assign_fallback(tx: Tx, intent_id: str, agent_id: str, actor: str | None, why: str) -> None:
    exists = tx.one(
        "SELECT 1 FROM intent_agents WHERE intent_id = ? AND agent_id = ?", (intent_id, agent_id)
    )
    if exists is None:
        tx.execute(
            "INSERT INTO intent_agents (id, intent_id, agent_id, role, assigned_at)"
            " VALUES (?,?,?,?,?)",
            (new_uid(), intent_id, agent_id, "fallback", tx.now),
        )
    tx.emit(
        intent_id,
        "agent_assigned",
        actor,
        {"agent_id": agent_id, "role": "fallback", "reason": why},
    )


class SqliteRetries(SqliteCore, RetryStore):
    async def set_retry_policy(
        self, intent_id: str, data: RetryPolicySet, actor: str | None
    ) -> RetryPolicy:
        def op(tx: Tx) -> RetryPolicy:
            require_intent(tx, intent_id)
            tx.execute(
                f"INSERT INTO retry_policies ({POLICY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (intent_id) DO UPDATE SET strategy = excluded.strategy,"
                " max_retries = excluded.max_retries, base_delay_ms = excluded.base_delay_ms,"
                " max_delay_ms = excluded.max_delay_ms,"
                " fallback_agent_id = excluded.fallback_agent_id,"
                " failure_threshold = excluded.failure_threshold,"
                " updated_at = excluded.updated_at",
                (
                    new_uid(),
                    intent_id,
                    data.strategy,
                    data.max_retries,
                    data.base_delay_ms,
                    data.max_delay_ms,
                    data.fallback_agent_id,
                    data.failure_threshold,
                    tx.now,
                    tx.now,
                ),
            )
            policy = policy_from_row(
                tx.row(
                    f"SELECT {POLICY_COLUMNS} FROM retry_policies WHERE intent_id = ?", (intent_id,)
                )
            )
            # No EventType value names a policy change; a comment keeps it in the log.
            tx.emit(
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
        def read(conn: sqlite3.Connection) -> RetryPolicy:
            fetch_intent(conn, intent_id)
            row = _policy_row(conn, intent_id)
            if row is None:
                raise NotFound(f"No retry policy set for intent {intent_id}")
            return policy_from_row(row)

        return await self._read(read)

    async def delete_retry_policy(self, intent_id: str, actor: str | None) -> None:
        def op(tx: Tx) -> None:
            require_intent(tx, intent_id)
            row = _policy_row(tx, intent_id)
            if row is None:
                raise NotFound(f"No retry policy set for intent {intent_id}")
            tx.execute("DELETE FROM retry_policies WHERE intent_id = ?", (intent_id,))
            tx.emit(
                intent_id,
                "comment",
                actor,
                {
                    "kind": "retry_policy_removed",
                    "message": "Retry policy removed",
                    "policy_id": row[0],
                },
            )

        await self._write(op)

    async def record_failure(
        self, intent_id: str, data: FailureCreate, agent_id: str | None
    ) -> Failure:
        def op(tx: Tx) -> Failure:
            require_intent(tx, intent_id)
            policy = _policy_row(tx, intent_id)
            previous, earlier, fallback_done = tx.row(
                "SELECT COALESCE(MAX(attempt_number), 0), COUNT(*),"
                " COUNT(*) FILTER (WHERE fallback_agent_id IS NOT NULL)"
                " FROM failures WHERE intent_id = ?",
                (intent_id,),
            )
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
                scheduled = iso(parse_iso(tx.now) + timedelta(milliseconds=delay))
            failure_id = new_uid()
            tx.execute(
                f"INSERT INTO failures ({FAILURE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    failure_id,
                    intent_id,
                    agent_id,
                    attempt,
                    data.error_code or data.error_type,
                    data.error_message,
                    int(data.recoverable),
                    scheduled,
                    delay,
                    int(exhausted),
                    fallback,
                    dumps(data.metadata or {}),
                    tx.now,
                ),
            )
            failure = failure_from_row(
                tx.row(f"SELECT {FAILURE_COLUMNS} FROM failures WHERE id = ?", (failure_id,))
            )
            tx.emit(
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
                _assign_fallback(
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
        def read(conn: sqlite3.Connection) -> Slice[Failure]:
            fetch_intent(conn, intent_id)
            rows, more, next_cursor = read_keyset(
                conn,
                FAILURE_COLUMNS,
                "failures",
                ["intent_id = ?"],
                [intent_id],
                FAILURE_ORDER,
                cursor=cursor,
                offset=offset,
                limit=limit,
                max_bytes=max_bytes,
            )
            return Slice([failure_from_row(r) for r in rows], more, next_cursor)

        return await self._read(read)
