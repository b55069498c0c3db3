"""Federation records on SQLite: received dispatches and the intents they create."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from ...domain.delegation import allows, normalize_scope
from ...domain.errors import Conflict, Forbidden
from ...wire.events import Event
from ..federation import FederationCounts, FederationStore, InboundDispatch, InboundOutcome
from .core import SqliteCore, Tx, dumps, loads, new_uid
from .federation_outbox import enqueue

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


def callback_body(
    dispatch_id: str,
    event_type: str,
    state_delta: dict[str, Any],
    idempotency_key: str,
    trace_id: str | None,
    timestamp: str,
    attestation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A callback as the reference server builds it (unsigned; signed when sent)."""
    body: dict[str, Any] = {
        "dispatch_id": dispatch_id,
        "event_type": event_type,
        "state_delta": state_delta,
        "idempotency_key": idempotency_key,
        "timestamp": timestamp,
    }
    if trace_id:
        body["trace_id"] = trace_id
    if attestation is not None:
        body["attestation"] = attestation
    return body


RELAYED_EVENTS = frozenset({"state_patched", "status_changed", "comment"})
# The delegated scope binds the remote agent on the intent its dispatch created. Only that
# agent is bound: local operators keep every right on the intent.
STATE_PERMISSION = "state.patch"
STATUS_PERMISSION = "status.update"
EVENTS_PERMISSION = "events.log"


class Delegated(msgspec.Struct, frozen=True, kw_only=True):
    dispatch_id: str
    callback_url: str | None
    trace_id: str | None
    agent_id: str | None
    scope: dict[str, Any]


class FederatedIntents:
    """Local intents created by accepted dispatches: intent id -> `Delegated`. Used only in
    the writer thread, loaded by the first write that needs it after a (re)start or rollback.
    As the store's event-appended hook it queues the callbacks of the intent's progress in
    that progress's own transaction; as a state guard and a status hook it holds the remote
    agent to its delegated scope. For any other intent each costs one dict lookup."""

    def __init__(self) -> None:
        self._index: dict[str, Delegated] | None = None

    def forget(self) -> None:
        self._index = None

    def add(self, intent_id: str, entry: Delegated) -> None:
        if self._index is not None:
            self._index[intent_id] = entry

    def _load(self, tx: Tx) -> dict[str, Delegated]:
        index = self._index
        if index is None:
            index = self._index = {
                row[0]: Delegated(
                    dispatch_id=row[1],
                    callback_url=row[2],
                    trace_id=(loads(row[3]) or {}).get("trace_id"),
                    agent_id=row[4],
                    scope=normalize_scope(loads(row[5])),  # none sent: the SDK's default
                )
                for row in tx.execute(
                    "SELECT local_intent_id, dispatch_id, callback_url,"
                    " json_extract(envelope, '$.trace_context'), agent_id, delegation_scope"
                    " FROM federation_inbound WHERE accepted = 1"
                )
            }
        return index

    def state_guard(self, tx: Tx, intent_id: str, paths: list[str], actor: str | None) -> None:
        """The delegated agent may patch state only with `state.patch` (not denied)."""
        self._check(tx, intent_id, actor, STATE_PERMISSION)

    def status_guard(
        self, tx: Tx, intent_id: str, old_status: str, new_status: str, actor: str | None
    ) -> None:
        """A status hook (raising fails the change): the delegated agent needs
        `status.update`."""
        self._check(tx, intent_id, actor, STATUS_PERMISSION)

    def event_guard(self, tx: Tx, intent_id: str, event_type: str, actor: str | None) -> None:
        """The delegated agent may log its own events only with `events.log`."""
        self._check(tx, intent_id, actor, EVENTS_PERMISSION)

    def _check(self, tx: Tx, intent_id: str, actor: str | None, permission: str) -> None:
        if actor is not None:
            check_delegated(self._load(tx).get(intent_id), actor, permission)

    def on_event(self, tx: Tx, event: Event) -> None:
        if not relayed(event):
            return
        assert event.intent_id is not None  # relayed() says so
        entry = self._load(tx).get(event.intent_id)
        if entry is None or entry.callback_url is None:
            return
        state = loads(tx.row("SELECT state FROM intents WHERE id = ?", (event.intent_id,))[0])
        body = callback_for(event, entry, state, tx.now)
        enqueue(tx, "callback", entry.dispatch_id, entry.callback_url, body)


def check_delegated(entry: Delegated | None, actor: str, permission: str) -> None:
    """Forbidden when `actor` is the agent this intent was delegated to without
    `permission`."""
    if entry is not None and entry.agent_id == actor and not allows(entry.scope, permission):
        raise Forbidden(f"Agent {actor} was delegated this intent without {permission} permission")


def relayed(event: Event) -> bool:
    """Whether this event of a federated intent is told to its origin as a callback."""
    if event.intent_id is None or event.event_type not in RELAYED_EVENTS:
        return False
    return event.event_type != "comment" or event.payload.get("kind") == "budget_alert"


def callback_for(event: Event, entry: Delegated, state: dict[str, Any], now: str) -> dict[str, Any]:
    """The callback (unsigned) telling the origin of `event` (`relayed`), with the intent's
    `state` after it."""
    dispatch_id, trace_id = entry.dispatch_id, entry.trace_id
    payload = event.payload
    version = payload.get("version")
    if event.event_type == "comment":  # the costs' budget alert (RFC-0009)
        if payload.get("unit") == "usd":
            delta = {"spent_usd": payload.get("spent"), "cost_ceiling_usd": payload.get("limit")}
        else:
            delta = {k: payload.get(k) for k in ("spent", "limit", "unit")}
        return callback_body(
            dispatch_id, "budget_warning", delta, f"budget-{dispatch_id}", trace_id, now
        )
    if event.event_type == "state_patched":
        keys = {
            str(p.get("path", "")).lstrip("/").split("/")[0]
            for p in payload.get("patches", [])
            if isinstance(p, dict)
        }
        delta = {k: state.get(k) for k in sorted(keys) if k}
        key = f"state-{dispatch_id}-{version}"
        return callback_body(dispatch_id, "state_delta", delta, key, trace_id, now)
    if payload.get("status") == "completed":
        attestation = {
            "dispatch_id": dispatch_id,
            "governance_compliant": True,
            "usage": {},
            "trace_references": [trace_id] if trace_id else [],
            "timestamp": now,
        }
        key = f"completed-{dispatch_id}"
        return callback_body(dispatch_id, "completed", state, key, trace_id, now, attestation)
    if payload.get("status") == "abandoned":
        delta = {"status": "abandoned", "reason": payload.get("reason")}
        return callback_body(dispatch_id, "failed", delta, f"failed-{dispatch_id}", trace_id, now)
    delta = {"status": payload.get("status")}
    key = f"status-{dispatch_id}-{version}"
    return callback_body(dispatch_id, "status_changed", delta, key, trace_id, now)


class SqliteFederation(SqliteCore, FederationStore):
    federated_intents: FederatedIntents  # SqliteStore.__init__

    async def receive_dispatch(self, dispatch: InboundDispatch) -> InboundOutcome:
        def op(tx: Tx) -> InboundOutcome:
            earlier = _earlier(tx, dispatch)
            if earlier is not None:
                content, stored_answer = earlier
                if content != dispatch.content_sha256:
                    raise Conflict(REUSED_MESSAGE)
                return InboundOutcome(
                    answer={**loads(stored_answer), "message": IDEMPOTENT_MESSAGE}, replayed=True
                )
            local_intent_id = None
            answer: dict[str, Any]
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
            if local_intent_id is not None and dispatch.callback_url:
                trace_id = (dispatch.event_payload.get("trace_context") or {}).get("trace_id")
                body = callback_body(
                    dispatch.dispatch_id,
                    "state_delta",
                    {"status": "accepted"},
                    f"accept-{dispatch.dispatch_id}",
                    trace_id,
                    tx.now,
                )
                enqueue(tx, "callback", dispatch.dispatch_id, dispatch.callback_url, body)
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
            if local_intent_id is not None:
                trace_id = (dispatch.event_payload.get("trace_context") or {}).get("trace_id")
                self.federated_intents.add(
                    local_intent_id,
                    Delegated(
                        dispatch_id=dispatch.dispatch_id,
                        callback_url=dispatch.callback_url,
                        trace_id=trace_id,
                        agent_id=dispatch.agent_id,
                        scope=normalize_scope(dispatch.delegation_scope),
                    ),
                )
            return InboundOutcome(answer=answer, replayed=False)

        return await self._write(op)

    async def federation_counts(self) -> FederationCounts:
        def read(conn: sqlite3.Connection) -> FederationCounts:
            (received,) = conn.execute(
                "SELECT COUNT(*) FROM federation_inbound WHERE accepted = 1"
            ).fetchone()
            total, active = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(status IN ('pending', 'delivered', 'accepted')),"
                " 0) FROM federation_dispatches"
            ).fetchone()
            return FederationCounts(
                total_received=received, total_dispatches=total, active_dispatches=active
            )

        return await self._read(read)
