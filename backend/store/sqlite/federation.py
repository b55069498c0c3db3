"""Federation records on SQLite: received dispatches and the intents they create."""

from __future__ import annotations

import sqlite3
from typing import Any

from ...domain.delegation import allows, normalize_scope
from ...domain.errors import Conflict, Forbidden
from ..federation import FederationCounts, FederationStore, InboundDispatch, InboundOutcome
from .core import SqliteCore, Tx, dumps, loads, new_uid

ACCEPTED_MESSAGE = "Intent received and accepted for processing"
IDEMPOTENT_MESSAGE = "Already processed (idempotent)"
# No word of the request is echoed: "lease" anywhere in a 409 body makes the SDK raise
# LeaseConflictError instead of ConflictError.
REUSED_MESSAGE = "dispatch_id already used with different content"


def _earlier(tx: Tx, dispatch: InboundDispatch) -> tuple[str, str] | None:
    row = tx.one(
        "SELECT content_sha256, answer FROM federation_inbound"
        " WHERE source_key = ? AND dispatch_id = ?",
        (dispatch.source_key, dispatch.dispatch_id),
    )
    if row is None and dispatch.idempotency_key is not None:
        row = tx.one(
            "SELECT content_sha256, answer FROM federation_inbound"
            " WHERE source_key = ? AND idempotency_key = ?",
            (dispatch.source_key, dispatch.idempotency_key),
        )
    return row


def _create_local_intent(tx: Tx, dispatch: InboundDispatch, actor: str) -> str:
    intent_id = new_uid()
    tx.execute(
        "INSERT INTO intents (id, title, description, created_by, status, constraints, state,"
        " version, confidence, parent_id, depends_on, governance_policy, created_at,"
        " updated_at) VALUES (?,?,?,?,'active',?,?,1,0,NULL,'[]',?,?,?)",
        (
            intent_id,
            dispatch.title,
            dispatch.description,
            actor,
            dumps(dispatch.constraints),
            dumps(dispatch.state),
            None if dispatch.governance_policy is None else dumps(dispatch.governance_policy),
            tx.now,
            tx.now,
        ),
    )
    created: dict[str, Any] = {"title": dispatch.title, "status": "active", "created_by": actor}
    if dispatch.governance_policy:
        created["governance_policy"] = dispatch.governance_policy
    tx.emit(intent_id, "intent_created", actor, created)
    if dispatch.agent_id:
        tx.execute(
            "INSERT INTO intent_agents (id, intent_id, agent_id, role, assigned_at)"
            " VALUES (?,?,?,'worker',?)",
            (new_uid(), intent_id, dispatch.agent_id, tx.now),
        )
        tx.emit(
            intent_id, "agent_assigned", actor, {"agent_id": dispatch.agent_id, "role": "worker"}
        )
    return intent_id


class SqliteFederation(SqliteCore, FederationStore):
    async def receive_dispatch(self, dispatch: InboundDispatch) -> InboundOutcome:
        def op(tx: Tx) -> InboundOutcome:
            earlier = _earlier(tx, dispatch)
            if earlier is not None:
                content, answer = earlier
                if content != dispatch.content_sha256:
                    raise Conflict(REUSED_MESSAGE)
                return InboundOutcome(
                    answer={**loads(answer), "message": IDEMPOTENT_MESSAGE}, replayed=True
                )
            local_intent_id = None
            if dispatch.rejection is None:
                actor = f"federation:{dispatch.source_did or dispatch.source_server}"
                local_intent_id = _create_local_intent(tx, dispatch, actor)
                tx.emit(
                    local_intent_id,
                    "federation.received",
                    actor,
                    {**dispatch.event_payload, "local_intent_id": local_intent_id},
                )
                answer = {
                    "dispatch_id": dispatch.dispatch_id,
                    "accepted": True,
                    "local_intent_id": local_intent_id,
                    "message": ACCEPTED_MESSAGE,
                }
            else:
                answer = {
                    "dispatch_id": dispatch.dispatch_id,
                    "accepted": False,
                    "local_intent_id": None,
                    "message": dispatch.rejection,
                }
            tx.execute(
                "INSERT INTO federation_inbound (id, source_key, dispatch_id, idempotency_key,"
                " source_server, source_did, remote_intent_id, agent_id, content_sha256,"
                " verified, accepted, local_intent_id, answer, envelope, delegation_scope,"
                " callback_url, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    new_uid(),
                    dispatch.source_key,
                    dispatch.dispatch_id,
                    dispatch.idempotency_key,
                    dispatch.source_server,
                    dispatch.source_did,
                    dispatch.remote_intent_id,
                    dispatch.agent_id,
                    dispatch.content_sha256,
                    int(dispatch.verified),
                    int(answer["accepted"]),
                    local_intent_id,
                    dumps(answer),
                    dumps(dispatch.envelope),
                    None if dispatch.delegation_scope is None else dumps(dispatch.delegation_scope),
                    dispatch.callback_url,
                    tx.now,
                ),
            )
            return InboundOutcome(answer=answer, replayed=False)

        return await self._write(op)

    async def federation_counts(self) -> FederationCounts:
        def read(conn: sqlite3.Connection) -> FederationCounts:
            (received,) = conn.execute(
                "SELECT COUNT(*) FROM federation_inbound WHERE accepted = 1"
            ).fetchone()
            return FederationCounts(total_received=received)

        return await self._read(read)


# The delegated scope binds the remote agent on the intent its dispatch created. Only that
# agent is bound: local operators keep every right on the intent.
STATE_PERMISSION = "state.patch"
STATUS_PERMISSION = "status.update"


def _delegated_scope(tx: Tx, intent_id: str, actor: str | None) -> dict[str, Any] | None:
    if actor is None:
        return None
    row = tx.one(
        "SELECT delegation_scope FROM federation_inbound INDEXED BY"
        " federation_inbound_local_intent WHERE local_intent_id = ? AND agent_id = ?",
        (intent_id, actor),
    )
    if row is None:
        return None
    return normalize_scope(loads(row[0]))  # none sent: the SDK's default scope


def delegated_state_guard(tx: Tx, intent_id: str, paths: list[str], actor: str | None) -> None:
    """A state-patch guard: the delegated agent needs `state.patch` (and not denied)."""
    scope = _delegated_scope(tx, intent_id, actor)
    if scope is not None and not allows(scope, STATE_PERMISSION):
        raise Forbidden(
            f"Agent {actor} was delegated this intent without {STATE_PERMISSION} permission"
        )


def delegated_status_guard(
    tx: Tx, intent_id: str, old_status: str, new_status: str, actor: str | None
) -> None:
    """A status hook (raising fails the change): the delegated agent needs `status.update`."""
    scope = _delegated_scope(tx, intent_id, actor)
    if scope is not None and not allows(scope, STATUS_PERMISSION):
        raise Forbidden(
            f"Agent {actor} was delegated this intent without {STATUS_PERMISSION} permission"
        )
