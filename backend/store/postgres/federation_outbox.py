"""Outbound federation on PostgreSQL, as the SQLite store's
(backend/store/sqlite/federation_outbox.py): dispatch records, the federation outbox
(dispatches and callbacks, drained by the outbound worker as a lane) and the callbacks we
apply.

Several instances drain the one outbox: each claims the jobs it is about to send with a
per-row `UPDATE ... FOR UPDATE SKIP LOCKED` that takes only unclaimed jobs, its own, or
those of an instance that is gone (presence.py's `Presence`). So a job is never sent by
two live instances at once, and a dead instance's jobs are taken over by the next survivor
to look (its worker polls every second). A retry is unclaimed when recorded, so any
instance may send it when it is due.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from ...domain.clock import iso
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
from ..sqlite.core import dumps, loads, new_uid
from ..sqlite.federation_outbox import (
    CALLBACK_EVENTS,
    CALLBACK_STATUS,
    IN_COLUMNS,
    OUT_COLUMNS,
    _inbound_view,
    _outbound_view,
)
from ..subscriptions import AttemptOutcome
from .core import Tx
from .federation_workflows import PostgresFederationWorkflows, change_status
from .intents import Queryable, require_intent
from .presence import claim_free


async def enqueue(tx: Tx, kind: str, dispatch_id: str, url: str, body: dict[str, Any]) -> None:
    await tx.execute(
        "INSERT INTO federation_outbox (id, kind, dispatch_id, url, body, status,"
        " next_attempt_at, created_at) VALUES ($1,$2,$3,$4,$5,'pending',$6,$7)",
        new_uid(),
        kind,
        dispatch_id,
        url,
        dumps(body),
        time.time(),
        tx.moment,
    )


def outbound_view(row: Any) -> DispatchView:
    """The SQLite store's view of a row of OUT_COLUMNS (times as ISO text there)."""
    return _outbound_view((*tuple(row)[:8], iso(row[8]), iso(row[9])))


def inbound_view(row: Any) -> DispatchView:
    """The SQLite store's view of a row of IN_COLUMNS."""
    return _inbound_view((*tuple(row)[:7], iso(row[7])))


async def _finish_origin(
    tx: Tx, intent_id: str, callback: CallbackIn, envelope: dict[str, Any], actor: str
) -> None:
    """The SQLite store's `_finish_origin`: `completed` merges the delta (with
    `state.patch`) and completes the origin intent, `failed` blocks it; only if active."""
    row = await tx.fetchrow(
        "SELECT status, version, state FROM intents WHERE id = $1 FOR UPDATE", intent_id
    )
    if row is None or row[0] != "active":
        return
    _, version, state = row
    delta = callback.state_delta
    scope = envelope.get("delegation_scope") or {}
    if callback.event_type == "completed" and delta and allows(scope, "state.patch"):
        version += 1
        await tx.execute(
            "UPDATE intents SET state = $1, version = $2, updated_at = $3 WHERE id = $4",
            dumps({**loads(state), **delta}),
            version,
            tx.moment,
            intent_id,
        )
        patches = [{"op": "set", "path": k, "value": v} for k, v in delta.items()]
        await tx.emit(intent_id, "state_patched", actor, {"patches": patches, "version": version})
    new_status = "completed" if callback.event_type == "completed" else "blocked"
    reason = f"federation callback {callback.event_type} for {callback.dispatch_id}"
    await change_status(tx, intent_id, new_status, actor, reason)


class PostgresFederationOutbox(PostgresFederationWorkflows, FederationOutbox):
    async def create_dispatch(self, dispatch: OutboundDispatch) -> DispatchView:
        async def op(tx: Tx) -> DispatchView:
            await require_intent(tx, dispatch.intent_id)
            row = await tx.fetchrow(
                "INSERT INTO federation_dispatches (id, intent_id, target_server, target_did,"
                " agent_id, status, complete_on_callback, envelope, created_at, updated_at)"
                " VALUES ($1,$2,$3,$4,$5,'pending',$6,$7,$8,$8)"
                f" RETURNING {OUT_COLUMNS}",
                dispatch.dispatch_id,
                dispatch.intent_id,
                dispatch.target_server,
                dispatch.target_did,
                dispatch.agent_id,
                dispatch.complete_on_callback,
                dumps(dispatch.envelope),
                tx.moment,
            )
            await enqueue(
                tx, "dispatch", dispatch.dispatch_id, dispatch.receive_url, dispatch.envelope
            )
            # A workflow's `dispatch_to` phase is sent once: it stops waiting with this commit.
            await tx.execute(
                "UPDATE federation_workflow_phases SET waiting = false, claimed_by = NULL"
                " WHERE intent_id = $1",
                dispatch.intent_id,
            )
            await tx.emit(dispatch.intent_id, "federation.dispatched", None, dispatch.event_payload)
            return outbound_view(row)

        return await self._write(op)

    async def inbound_for_intent(self, intent_id: str) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            "SELECT envelope, delegation_scope, source_did FROM federation_inbound"
            " WHERE local_intent_id = $1",
            intent_id,
        )
        if row is None:
            return None
        return {"envelope": loads(row[0]), "scope": loads(row[1]), "source_did": row[2]}

    async def due_federation_jobs(
        self, now: float, limit: int, skip: Collection[str] = ()
    ) -> list[OutboxJob]:
        """Claims them for this instance (the module's docstring); `skip` are its jobs in
        flight, which it already holds."""
        me = await self.presence.claim_key()
        rows = await self.pool.fetch(
            "UPDATE federation_outbox o SET claimed_by = $1 FROM (SELECT id"
            " FROM federation_outbox WHERE status = 'pending' AND next_attempt_at <= $2"
            f" AND id <> ALL($3::text[]) AND {claim_free('claimed_by', '$1')}"
            " ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) due"
            " WHERE o.id = due.id"
            " RETURNING o.id, o.kind, o.dispatch_id, o.url, o.body, o.attempts, o.next_attempt_at",
            me,
            now,
            list(skip),
            limit,
        )
        rows = sorted(rows, key=lambda r: (r[6], r[0]))
        return [
            OutboxJob(
                id=r[0], kind=r[1], dispatch_id=r[2], url=r[3], body=loads(r[4]), attempts=r[5]
            )
            for r in rows
        ]

    async def next_federation_due(self) -> float | None:
        # Jobs another live instance holds are not ours to wait for.
        me = await self.presence.claim_key()
        return await self.pool.fetchval(
            "SELECT MIN(next_attempt_at) FROM federation_outbox"
            f" WHERE status = 'pending' AND {claim_free('claimed_by', '$1')}",
            me,
        )

    async def record_federation_attempt(
        self, job: OutboxJob, outcome: AttemptOutcome, result: SendResult | None
    ) -> None:
        retry = outcome.result == "retry"
        me = self.presence.key

        async def op(tx: Tx) -> None:
            attempts = await tx.fetchval(
                "UPDATE federation_outbox SET attempts = attempts + 1, status = $1,"
                " next_attempt_at = $2, last_error = $3, finished_at = $4,"
                " claimed_by = CASE WHEN $5 THEN NULL ELSE claimed_by END"
                " WHERE id = $6 AND status = 'pending' RETURNING attempts",
                "pending" if retry else outcome.result,
                outcome.next_attempt_at if retry else None,
                outcome.error,
                None if retry else tx.moment,
                retry,
                job.id,
            )
            if attempts is None:
                return  # already recorded
            await tx.execute(
                "INSERT INTO federation_attempts (outbox_id, attempt, started_at, status_code,"
                " error, duration_ms, claimed_by) VALUES ($1,$2,$3,$4,$5,$6,$7)",
                job.id,
                attempts,
                outcome.started_at,
                outcome.status_code,
                outcome.error,
                outcome.duration_ms,
                me,
            )
            if job.kind != "dispatch":
                return
            if result is not None:
                status: str | None = result.status
            elif outcome.result == "failed":
                status = "failed"
            else:
                status = None  # still pending
            # A callback may already have moved it on (accepted, completed): never back.
            await tx.execute(
                "UPDATE federation_dispatches SET attempts = $1, last_error = $2,"
                " status = CASE WHEN $3::text IS NOT NULL AND status = 'pending' THEN $3"
                " ELSE status END,"
                " remote_intent_id = COALESCE($4, remote_intent_id), updated_at = $5"
                " WHERE id = $6",
                attempts,
                outcome.error,
                status,
                None if result is None else result.remote_intent_id,
                tx.moment,
                job.dispatch_id,
            )

        await self._write(op)

    async def outbound_target(self, dispatch_id: str) -> OutboundTarget:
        row = await self.pool.fetchrow(
            "SELECT id, intent_id, target_server, status FROM federation_dispatches WHERE id = $1",
            dispatch_id,
        )
        if row is None:
            raise NotFound(f"Dispatch {dispatch_id} not found")
        return OutboundTarget(
            dispatch_id=row[0], intent_id=row[1], target_server=row[2], status=row[3]
        )

    async def apply_callback(self, callback: CallbackIn) -> bool:
        async def op(tx: Tx) -> bool:
            row = await tx.fetchrow(
                "SELECT intent_id, status, complete_on_callback, envelope"
                " FROM federation_dispatches WHERE id = $1",
                callback.dispatch_id,
            )
            if row is None:
                raise NotFound(f"Dispatch {callback.dispatch_id} not found")
            intent_id, status, complete_on_callback, envelope = row
            if callback.idempotency_key is not None:
                inserted = await tx.fetchval(
                    "INSERT INTO federation_callbacks (dispatch_id, idempotency_key, event_type,"
                    " created_at) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING RETURNING 1",
                    callback.dispatch_id,
                    callback.idempotency_key,
                    callback.event_type,
                    tx.moment,
                )
                if inserted is None:
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
            await tx.emit(
                intent_id, "federation.callback", actor, payload, trace_id=callback.trace_id
            )
            if callback.event_type in CALLBACK_EVENTS:
                await tx.emit(intent_id, CALLBACK_EVENTS[callback.event_type], actor, payload)
            new_status = CALLBACK_STATUS.get(callback.event_type)
            if new_status is None and callback.state_delta.get("status") == "accepted":
                new_status = "accepted" if status in ("pending", "delivered") else None
            if new_status is not None:
                await tx.execute(
                    "UPDATE federation_dispatches SET status = $1, updated_at = $2 WHERE id = $3",
                    new_status,
                    tx.moment,
                    callback.dispatch_id,
                )
            if complete_on_callback and callback.event_type in ("completed", "failed"):
                await _finish_origin(tx, intent_id, callback, loads(envelope), actor)
            return False

        return await self._write(op)

    async def get_dispatch(self, dispatch_id: str) -> DispatchView:
        async def read(conn: Queryable) -> DispatchView:
            row = await conn.fetchrow(
                f"SELECT {OUT_COLUMNS} FROM federation_dispatches WHERE id = $1", dispatch_id
            )
            if row is not None:
                return outbound_view(row)
            row = await conn.fetchrow(
                f"SELECT {IN_COLUMNS} FROM federation_inbound WHERE dispatch_id = $1"
                " ORDER BY created_at LIMIT 1",
                dispatch_id,
            )
            if row is None:
                raise NotFound(f"Dispatch {dispatch_id} not found")
            return inbound_view(row)

        return await self._read(read)

    async def dispatch_counts_by_peer(self) -> tuple[dict[str, int], dict[str, int]]:
        async def read(conn: Queryable) -> tuple[dict[str, int], dict[str, int]]:
            sent: dict[str, int] = {}
            for target, count in await conn.fetch(
                "SELECT target_server, COUNT(*) FROM federation_dispatches GROUP BY target_server"
            ):
                key = normalize_url(target)
                sent[key] = sent.get(key, 0) + count
            received = {
                r[0]: r[1]
                for r in await conn.fetch(
                    "SELECT source_key, COUNT(*) FROM federation_inbound GROUP BY source_key"
                )
            }
            return sent, received

        return await self._read(read)

    async def list_dispatches(
        self, *, direction: str, status: str | None, limit: int, offset: int
    ) -> tuple[list[DispatchView], int]:
        params: list[Any]
        if direction == "out":
            table, columns, view = "federation_dispatches", OUT_COLUMNS, outbound_view
            where, params = ("WHERE status = $1", [status]) if status else ("", [])
        else:
            table, columns, view = "federation_inbound", IN_COLUMNS, inbound_view
            if status in ("accepted", "rejected"):
                where, params = "WHERE accepted = $1", [status == "accepted"]
            elif status:
                return [], 0
            else:
                where, params = "", []
        n = len(params)

        async def read(conn: Queryable) -> tuple[list[DispatchView], int]:
            total = await conn.fetchval(f"SELECT COUNT(*) FROM {table} {where}", *params)
            rows = await conn.fetch(
                f"SELECT {columns} FROM {table} {where}"
                f" ORDER BY created_at DESC, id DESC LIMIT ${n + 1} OFFSET ${n + 2}",
                *params,
                limit,
                offset,
            )
            return [view(r) for r in rows], total

        return await self._read(read)
