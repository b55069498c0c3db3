"""Outbound federation on SQLite: dispatch records, the federation outbox (dispatches and
callbacks, drained by the webhook worker as a lane) and the callbacks we apply."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection
from typing import Any

from ...domain.delegation import allows
from ...domain.errors import NotFound
from ...federation.identity import normalize_url
from ..federation import (
    CallbackIn,
    DispatchView,
    FederationOutbox,
    OutboundDispatch,
    OutboundTarget,
    OutboxJob,
    SendResult,
)
from ..subscriptions import AttemptOutcome
from .core import Tx, dumps, loads, new_uid
from .federation_workflows import SqliteFederationWorkflows, change_status
from .intents import require_intent

ACTIVE_STATUSES = ("pending", "delivered", "accepted")
CALLBACK_EVENTS = {
    "completed": "federation.completed",
    "failed": "federation.failed",
    "budget_warning": "federation.budget_warning",
}
# What a callback says about the dispatch it is for.
CALLBACK_STATUS = {"completed": "completed", "failed": "failed"}


def enqueue(tx: Tx, kind: str, dispatch_id: str, url: str, body: dict[str, Any]) -> None:
    tx.execute(
        "INSERT INTO federation_outbox (id, kind, dispatch_id, url, body, status,"
        " next_attempt_at, created_at) VALUES (?,?,?,?,?,'pending',?,?)",
        (new_uid(), kind, dispatch_id, url, dumps(body), time.time(), tx.now),
    )


def _outbound_view(row: tuple) -> DispatchView:
    (did, intent_id, target, target_did, status, attempts, error, remote, created, updated) = row
    return DispatchView(
        dispatch_id=did,
        direction="out",
        intent_id=intent_id,
        target_server=target,
        target_did=target_did,
        status=status,
        attempts=attempts,
        last_error=error,
        remote_intent_id=remote,
        created_at=created,
        updated_at=updated,
    )


OUT_COLUMNS = (
    "id, intent_id, target_server, target_did, status, attempts, last_error, remote_intent_id,"
    " created_at, updated_at"
)
IN_COLUMNS = (
    "dispatch_id, remote_intent_id, source_server, source_did, accepted, local_intent_id,"
    " envelope, created_at"
)


def _inbound_view(row: tuple) -> DispatchView:
    dispatch_id, remote, source, source_did, accepted, local, envelope, created = row
    target = loads(envelope).get("target_server") or ""
    return DispatchView(
        dispatch_id=dispatch_id,
        direction="in",
        intent_id=remote,
        target_server=target,
        status="accepted" if accepted else "rejected",
        created_at=created,
        updated_at=created,
        source_server=source,
        source_did=source_did,
        local_intent_id=local,
    )


def _finish_origin(
    tx: Tx, intent_id: str, callback: CallbackIn, envelope: dict[str, Any], actor: str
) -> None:
    """`complete_on_callback` (a workflow phase run elsewhere): `completed` merges the state
    delta when the dispatch granted `state.patch`, then completes the origin intent; `failed`
    blocks it. Only an active intent moves; anything else was decided here meanwhile."""
    status, version, state = tx.row(
        "SELECT status, version, state FROM intents WHERE id = ?", (intent_id,)
    )
    if status != "active":
        return
    delta = callback.state_delta
    scope = envelope.get("delegation_scope") or {}
    if callback.event_type == "completed" and delta and allows(scope, "state.patch"):
        version += 1
        tx.execute(
            "UPDATE intents SET state = ?, version = ?, updated_at = ? WHERE id = ?",
            (dumps({**loads(state), **delta}), version, tx.now, intent_id),
        )
        patches = [{"op": "set", "path": k, "value": v} for k, v in delta.items()]
        tx.emit(intent_id, "state_patched", actor, {"patches": patches, "version": version})
    new_status = "completed" if callback.event_type == "completed" else "blocked"
    reason = f"federation callback {callback.event_type} for {callback.dispatch_id}"
    change_status(tx, intent_id, new_status, actor, reason)


class SqliteFederationOutbox(SqliteFederationWorkflows, FederationOutbox):
    async def create_dispatch(self, dispatch: OutboundDispatch) -> DispatchView:
        def op(tx: Tx) -> DispatchView:
            require_intent(tx, dispatch.intent_id)
            tx.execute(
                "INSERT INTO federation_dispatches (id, intent_id, target_server, target_did,"
                " agent_id, status, complete_on_callback, envelope, created_at, updated_at)"
                " VALUES (?,?,?,?,?,'pending',?,?,?,?)",
                (
                    dispatch.dispatch_id,
                    dispatch.intent_id,
                    dispatch.target_server,
                    dispatch.target_did,
                    dispatch.agent_id,
                    int(dispatch.complete_on_callback),
                    dumps(dispatch.envelope),
                    tx.now,
                    tx.now,
                ),
            )
            enqueue(tx, "dispatch", dispatch.dispatch_id, dispatch.receive_url, dispatch.envelope)
            # A workflow's `dispatch_to` phase is sent once: it stops waiting with this commit.
            tx.execute(
                "UPDATE federation_workflow_phases SET waiting = 0 WHERE intent_id = ?",
                (dispatch.intent_id,),
            )
            tx.emit(dispatch.intent_id, "federation.dispatched", None, dispatch.event_payload)
            row = tx.row(
                f"SELECT {OUT_COLUMNS} FROM federation_dispatches WHERE id = ?",
                (dispatch.dispatch_id,),
            )
            return _outbound_view(row)

        return await self._write(op)

    async def inbound_for_intent(self, intent_id: str) -> dict[str, Any] | None:
        def read(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(
                "SELECT envelope, delegation_scope, source_did FROM federation_inbound"
                " WHERE local_intent_id = ?",
                (intent_id,),
            ).fetchone()
            if row is None:
                return None
            return {"envelope": loads(row[0]), "scope": loads(row[1]), "source_did": row[2]}

        return await self._read(read)

    async def due_federation_jobs(
        self, now: float, limit: int, skip: Collection[str] = ()
    ) -> list[OutboxJob]:
        # The jobs in flight are left out in SQL: reading (and decoding) them again on every
        # wake-up cost a read of the whole in-flight window per finished attempt.
        skipped = dumps(list(skip))

        def read(conn: sqlite3.Connection) -> list[OutboxJob]:
            rows = conn.execute(
                "SELECT id, kind, dispatch_id, url, body, attempts FROM federation_outbox"
                " WHERE status = 'pending' AND next_attempt_at <= ?"
                " AND id NOT IN (SELECT value FROM json_each(?))"
                " ORDER BY next_attempt_at, id LIMIT ?",
                (now, skipped, limit),
            ).fetchall()
            return [
                OutboxJob(
                    id=r[0], kind=r[1], dispatch_id=r[2], url=r[3], body=loads(r[4]), attempts=r[5]
                )
                for r in rows
            ]

        return await self._read(read)

    async def next_federation_due(self) -> float | None:
        return await self._read(
            lambda conn: conn.execute(
                "SELECT MIN(next_attempt_at) FROM federation_outbox WHERE status = 'pending'"
            ).fetchone()[0]
        )

    async def record_federation_attempt(
        self, job: OutboxJob, outcome: AttemptOutcome, result: SendResult | None
    ) -> None:
        def op(tx: Tx) -> None:
            row = tx.one(
                "UPDATE federation_outbox SET attempts = attempts + 1, status = ?,"
                " next_attempt_at = ?, last_error = ?, finished_at = ?"
                " WHERE id = ? AND status = 'pending' RETURNING attempts",
                (
                    "pending" if outcome.result == "retry" else outcome.result,
                    outcome.next_attempt_at if outcome.result == "retry" else None,
                    outcome.error,
                    None if outcome.result == "retry" else tx.now,
                    job.id,
                ),
            )
            if row is None:
                return  # already recorded (a stale read started it twice)
            tx.execute(
                "INSERT INTO federation_attempts (outbox_id, attempt, started_at, status_code,"
                " error, duration_ms) VALUES (?,?,?,?,?,?)",
                (
                    job.id,
                    row[0],
                    outcome.started_at,
                    outcome.status_code,
                    outcome.error,
                    outcome.duration_ms,
                ),
            )
            if job.kind != "dispatch":
                return
            if result is not None:
                status = result.status
            elif outcome.result == "failed":
                status = "failed"
            else:
                status = None  # still pending
            # A callback may already have moved it on (accepted, completed): never back.
            tx.execute(
                "UPDATE federation_dispatches SET attempts = ?, last_error = ?,"
                " status = CASE WHEN ? IS NOT NULL AND status = 'pending' THEN ? ELSE status END,"
                " remote_intent_id = COALESCE(?, remote_intent_id), updated_at = ?"
                " WHERE id = ?",
                (
                    row[0],
                    outcome.error,
                    status,
                    status,
                    None if result is None else result.remote_intent_id,
                    tx.now,
                    job.dispatch_id,
                ),
            )

        await self._write(op)

    async def outbound_target(self, dispatch_id: str) -> OutboundTarget:
        def read(conn: sqlite3.Connection) -> OutboundTarget:
            row = conn.execute(
                "SELECT id, intent_id, target_server, status FROM federation_dispatches"
                " WHERE id = ?",
                (dispatch_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"Dispatch {dispatch_id} not found")
            return OutboundTarget(
                dispatch_id=row[0], intent_id=row[1], target_server=row[2], status=row[3]
            )

        return await self._read(read)

    async def apply_callback(self, callback: CallbackIn) -> bool:
        def op(tx: Tx) -> bool:
            row = tx.one(
                "SELECT intent_id, status, complete_on_callback, envelope"
                " FROM federation_dispatches WHERE id = ?",
                (callback.dispatch_id,),
            )
            if row is None:
                raise NotFound(f"Dispatch {callback.dispatch_id} not found")
            intent_id, status, complete_on_callback, envelope = row
            if callback.idempotency_key is not None:
                inserted = tx.execute(
                    "INSERT INTO federation_callbacks (dispatch_id, idempotency_key, event_type,"
                    " created_at) VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                    (callback.dispatch_id, callback.idempotency_key, callback.event_type, tx.now),
                )
                if inserted.rowcount == 0:
                    return True
            payload = {
                "dispatch_id": callback.dispatch_id,
                "event_type": callback.event_type,
                "state_delta": callback.state_delta,
                "trace_id": callback.trace_id,
                "idempotency_key": callback.idempotency_key,
                "verified": callback.verified,
            }
            if callback.attestation is not None:
                payload["attestation"] = callback.attestation
            actor = "federation:callback"
            tx.emit(intent_id, "federation.callback", actor, payload, trace_id=callback.trace_id)
            if callback.event_type in CALLBACK_EVENTS:
                tx.emit(intent_id, CALLBACK_EVENTS[callback.event_type], actor, payload)
            new_status = CALLBACK_STATUS.get(callback.event_type)
            if new_status is None and callback.state_delta.get("status") == "accepted":
                new_status = "accepted" if status in ("pending", "delivered") else None
            if new_status is not None:
                tx.execute(
                    "UPDATE federation_dispatches SET status = ?, updated_at = ? WHERE id = ?",
                    (new_status, tx.now, callback.dispatch_id),
                )
            if complete_on_callback and callback.event_type in ("completed", "failed"):
                _finish_origin(tx, intent_id, callback, loads(envelope), actor)
            return False

        return await self._write(op)

    async def get_dispatch(self, dispatch_id: str) -> DispatchView:
        def read(conn: sqlite3.Connection) -> DispatchView:
            row = conn.execute(
                f"SELECT {OUT_COLUMNS} FROM federation_dispatches WHERE id = ?", (dispatch_id,)
            ).fetchone()
            if row is not None:
                return _outbound_view(row)
            row = conn.execute(
                f"SELECT {IN_COLUMNS} FROM federation_inbound WHERE dispatch_id = ?"
                " ORDER BY created_at LIMIT 1",
                (dispatch_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"Dispatch {dispatch_id} not found")
            return _inbound_view(row)

        return await self._read(read)

    async def dispatch_counts_by_peer(self) -> tuple[dict[str, int], dict[str, int]]:
        def read(conn: sqlite3.Connection) -> tuple[dict[str, int], dict[str, int]]:
            sent: dict[str, int] = {}
            for target, count in conn.execute(
                "SELECT target_server, COUNT(*) FROM federation_dispatches GROUP BY target_server"
            ):
                key = normalize_url(target)
                sent[key] = sent.get(key, 0) + count
            received = dict(
                conn.execute(
                    "SELECT source_key, COUNT(*) FROM federation_inbound GROUP BY source_key"
                ).fetchall()
            )
            return sent, received

        return await self._read(read)

    async def list_dispatches(
        self, *, direction: str, status: str | None, limit: int, offset: int
    ) -> tuple[list[DispatchView], int]:
        def read(conn: sqlite3.Connection) -> tuple[list[DispatchView], int]:
            params: list[Any]
            if direction == "out":
                where, params = ("WHERE status = ?", [status]) if status else ("", [])
                return _dispatch_page(
                    conn, "federation_dispatches", OUT_COLUMNS, _outbound_view, where, params
                )
            if status in ("accepted", "rejected"):
                where, params = "WHERE accepted = ?", [int(status == "accepted")]
            elif status:
                return [], 0
            else:
                where, params = "", []
            return _dispatch_page(
                conn, "federation_inbound", IN_COLUMNS, _inbound_view, where, params
            )

        def _dispatch_page(
            conn: sqlite3.Connection,
            table: str,
            columns: str,
            view: Callable[[tuple], DispatchView],
            where: str,
            params: list[Any],
        ) -> tuple[list[DispatchView], int]:
            total = conn.execute(f"SELECT COUNT(*) FROM {table} {where}", params).fetchone()[0]
            rows = conn.execute(
                f"SELECT {columns} FROM {table} {where}"
                " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
            return [view(r) for r in rows], total

        return await self._read(read)
