"""Federation records on PostgreSQL: received dispatches and the intents they create, as
the SQLite store's (backend/store/sqlite/federation.py, whose rules and bodies it shares).

Several instances: write transactions of all instances run one after another (core.py), so
the replay check and the insert of a received dispatch are one step whichever instance
receives it, and the table's unique keys decide besides. Each instance keeps an index of
the federated intents; a receive raises `event_head.federated_version`, and an instance whose
index is older reads the rows received after its last one (`ord`, commit order).
"""

from __future__ import annotations

from typing import Any

from ...domain.delegation import normalize_scope
from ...domain.errors import Conflict
from ...wire.events import Event
from ..federation import FederationCounts, FederationStore, InboundDispatch, InboundOutcome
from ..sqlite.core import dumps, loads, new_uid
from ..sqlite.federation import (
    ACCEPTED_MESSAGE,
    EVENTS_PERMISSION,
    IDEMPOTENT_MESSAGE,
    REUSED_MESSAGE,
    STATE_PERMISSION,
    STATUS_PERMISSION,
    Delegated,
    callback_body,
    callback_for,
    check_delegated,
    relayed,
)
from .core import PostgresCore, Tx
from .federation_outbox import enqueue
from .intents import Queryable


async def _earlier(tx: Tx, dispatch: InboundDispatch) -> tuple[str, str] | None:
    row = await tx.fetchrow(
        "SELECT content_sha256, answer FROM federation_inbound"
        " WHERE source_key = $1 AND dispatch_id = $2",
        dispatch.source_key,
        dispatch.dispatch_id,
    )
    if row is None and dispatch.idempotency_key is not None:
        row = await tx.fetchrow(
            "SELECT content_sha256, answer FROM federation_inbound"
            " WHERE source_key = $1 AND idempotency_key = $2",
            dispatch.source_key,
            dispatch.idempotency_key,
        )
    return None if row is None else (row[0], row[1])


async def _create_local_intent(tx: Tx, dispatch: InboundDispatch, actor: str) -> str:
    intent_id = new_uid()
    await tx.execute(
        "INSERT INTO intents (id, title, description, created_by, status, constraints, state,"
        " version, confidence, parent_id, depends_on, governance_policy, created_at,"
        " updated_at) VALUES ($1,$2,$3,$4,'active',$5,$6,1,0,NULL,'[]',$7,$8,$8)",
        intent_id,
        dispatch.title,
        dispatch.description,
        actor,
        dumps(dispatch.constraints),
        dumps(dispatch.state),
        None if dispatch.governance_policy is None else dumps(dispatch.governance_policy),
        tx.moment,
    )
    created: dict[str, Any] = {"title": dispatch.title, "status": "active", "created_by": actor}
    if dispatch.governance_policy:
        created["governance_policy"] = dispatch.governance_policy
    await tx.emit(intent_id, "intent_created", actor, created)
    if dispatch.agent_id:
        await tx.execute(
            "INSERT INTO intent_agents (id, intent_id, agent_id, role, assigned_at)"
            " VALUES ($1,$2,$3,'worker',$4)",
            new_uid(),
            intent_id,
            dispatch.agent_id,
            tx.moment,
        )
        await tx.emit(
            intent_id, "agent_assigned", actor, {"agent_id": dispatch.agent_id, "role": "worker"}
        )
    return intent_id


class FederatedIntents:
    """The SQLite store's `FederatedIntents` on PostgreSQL (awaited hooks), kept current
    with the other instances' receives through `event_head.federated_version`."""

    def __init__(self) -> None:
        self._index: dict[str, Delegated] | None = None
        self._version = -1
        self._last_ord = 0

    def forget(self) -> None:
        self._index = None

    async def _load(self, tx: Tx) -> dict[str, Delegated]:
        index = self._index
        if index is None:
            index, self._last_ord = {}, 0
        elif self._version == tx.federated_version:
            return index
        rows = await tx.fetch(
            "SELECT local_intent_id, dispatch_id, callback_url,"
            " envelope->'trace_context'->>'trace_id', agent_id, delegation_scope, ord"
            " FROM federation_inbound WHERE accepted AND ord > $1 ORDER BY ord",
            self._last_ord,
        )
        for row in rows:
            index[row[0]] = Delegated(
                dispatch_id=row[1],
                callback_url=row[2],
                trace_id=row[3],
                agent_id=row[4],
                scope=normalize_scope(loads(row[5])),  # none sent: the SDK's default
            )
            self._last_ord = row[6]
        self._index, self._version = index, tx.federated_version
        return index

    async def state_guard(
        self, tx: Tx, intent_id: str, paths: list[str], actor: str | None
    ) -> None:
        await self._check(tx, intent_id, actor, STATE_PERMISSION)

    async def status_guard(
        self, tx: Tx, intent_id: str, old_status: str, new_status: str, actor: str | None
    ) -> None:
        await self._check(tx, intent_id, actor, STATUS_PERMISSION)

    async def event_guard(self, tx: Tx, intent_id: str, event_type: str, actor: str | None) -> None:
        await self._check(tx, intent_id, actor, EVENTS_PERMISSION)

    async def _check(self, tx: Tx, intent_id: str, actor: str | None, permission: str) -> None:
        if actor is not None:
            check_delegated((await self._load(tx)).get(intent_id), actor, permission)

    async def on_event(self, tx: Tx, event: Event) -> None:
        if not relayed(event):
            return
        assert event.intent_id is not None  # relayed() says so
        entry = (await self._load(tx)).get(event.intent_id)
        if entry is None or entry.callback_url is None:
            return
        state = loads(await tx.fetchval("SELECT state FROM intents WHERE id = $1", event.intent_id))
        body = callback_for(event, entry, state, tx.now)
        await enqueue(tx, "callback", entry.dispatch_id, entry.callback_url, body)


async def _record(
    tx: Tx, dispatch: InboundDispatch, answer: dict[str, Any], local_intent_id: str | None
) -> None:
    await tx.execute(
        "INSERT INTO federation_inbound (id, source_key, dispatch_id, idempotency_key,"
        " source_server, source_did, remote_intent_id, agent_id, content_sha256, verified,"
        " accepted, local_intent_id, answer, envelope, delegation_scope, callback_url,"
        " created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)",
        new_uid(),
        dispatch.source_key,
        dispatch.dispatch_id,
        dispatch.idempotency_key,
        dispatch.source_server,
        dispatch.source_did,
        dispatch.remote_intent_id,
        dispatch.agent_id,
        dispatch.content_sha256,
        dispatch.verified,
        bool(answer["accepted"]),
        local_intent_id,
        dumps(answer),
        dumps(dispatch.envelope),
        None if dispatch.delegation_scope is None else dumps(dispatch.delegation_scope),
        dispatch.callback_url,
        tx.moment,
    )


class PostgresFederation(PostgresCore, FederationStore):
    async def receive_dispatch(self, dispatch: InboundDispatch) -> InboundOutcome:
        async def op(tx: Tx) -> InboundOutcome:
            earlier = await _earlier(tx, dispatch)
            if earlier is not None:
                content, stored_answer = earlier
                if content != dispatch.content_sha256:
                    raise Conflict(REUSED_MESSAGE)
                return InboundOutcome(
                    answer={**loads(stored_answer), "message": IDEMPOTENT_MESSAGE}, replayed=True
                )
            if dispatch.rejection is not None:
                answer: dict[str, Any] = {
                    "dispatch_id": dispatch.dispatch_id,
                    "accepted": False,
                    "local_intent_id": None,
                    "message": dispatch.rejection,
                }
                await _record(tx, dispatch, answer, None)
                return InboundOutcome(answer=answer, replayed=False)
            actor = f"federation:{dispatch.source_did or dispatch.source_server}"
            local_intent_id = await _create_local_intent(tx, dispatch, actor)
            await tx.emit(
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
            if dispatch.callback_url:
                trace_id = (dispatch.event_payload.get("trace_context") or {}).get("trace_id")
                body = callback_body(
                    dispatch.dispatch_id,
                    "state_delta",
                    {"status": "accepted"},
                    f"accept-{dispatch.dispatch_id}",
                    trace_id,
                    tx.now,
                )
                await enqueue(tx, "callback", dispatch.dispatch_id, dispatch.callback_url, body)
            await _record(tx, dispatch, answer, local_intent_id)
            # Every instance's index of federated intents reads this row before its next use.
            await tx.federated_changed()
            return InboundOutcome(answer=answer, replayed=False)

        return await self._write(op)

    async def federation_counts(self) -> FederationCounts:
        async def read(conn: Queryable) -> FederationCounts:
            received = await conn.fetchval("SELECT COUNT(*) FROM federation_inbound WHERE accepted")
            row = await conn.fetchrow(
                "SELECT COUNT(*), COUNT(*) FILTER (WHERE status IN"
                " ('pending', 'delivered', 'accepted')) FROM federation_dispatches"
            )
            assert row is not None  # an aggregate has one row
            return FederationCounts(
                total_received=received, total_dispatches=row[0], active_dispatches=row[1]
            )

        return await self._read(read)

    async def stored_identity_seeds(self, new_seed: bytes) -> list[bytes]:
        """The federation identity held by the database (the migration's
        `federation_identity`), newest first; `new_seed` becomes it when there is none.
        Instances starting together agree: write transactions run one at a time (core.py),
        so the first one inserts and the others read its row."""

        async def op(tx: Tx) -> list[bytes]:
            rows = await tx.fetch("SELECT seed FROM federation_identity ORDER BY ord DESC")
            if not rows:
                await tx.execute("INSERT INTO federation_identity (seed) VALUES ($1)", new_seed)
                return [new_seed]
            return [bytes(r[0]) for r in rows]

        return await self._write(op)

    async def rotate_stored_identity(self, new_seed: bytes) -> None:
        """A new signing key; the older ones keep verifying until their rows are deleted."""

        async def op(tx: Tx) -> None:
            await tx.execute("INSERT INTO federation_identity (seed) VALUES ($1)", new_seed)

        await self._write(op)
