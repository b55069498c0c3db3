"""The OAP registry, chains and hops on PostgreSQL, as the SQLite store's (sqlite/oap.py): a
hop's outcome, the chain's checkpoint, the intent's state and their events are written in
one transaction. Every chain write checks that the chain is still running under the caller
(ChainLost otherwise); how instances share chains is oap_claims.py.

The registry has no in-process cache: every read goes to the database, so every instance
sees the same agents at once."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import msgspec

from ...domain.clock import iso
from ...domain.errors import Conflict, NotFound
from ...oap.envelope import STATE_LAST_RESULT_KEY, STATE_MEMORY_KEY
from ...wire.limits import MAX_INT64
from ...wire.oap import OapAgent, OapChain, OapHop
from ..keyset import KeyColumns, Slice
from ..oap import AgentRecord, ChainLost, ChainState, HopResult, NewChain, OapStore
from ..sqlite.core import dumps, loads, new_uid
from ..sqlite.oap import (
    FINISHED,
    RESUMABLE,
    chain_state,
    clip_for_event,
    decode_envelope,
    idempotency_key,
    limit_payload,
    stored_response,
)
from .core import Tx, iso_or_none, read_keyset
from .oap_claims import PostgresOapClaims, claim_deadline, pending_hop

CHAIN_ORDER = KeyColumns(
    "oap_chains", ("-ord",), (Annotated[int, msgspec.Meta(ge=-MAX_INT64, le=0)],)
)
"""Newest first: chains are inserted in the order they are created."""

AGENT_COLUMNS = (
    "agent_id, url, capabilities, description, timeout_s, enabled, discovered, last_status,"
    " last_ping_ms, last_ping_at, created_at, updated_at"
)
CHAIN_COLUMNS = (
    "chain_id, intent_id, mode, pipeline, max_hops, hops_done, stop_at_hop, status, next_agent,"
    " next_selected_by, error, error_kind, created_by, created_at, updated_at, finished_at"
)
HOP_COLUMNS = (
    "chain_id, hop, agent_id, selected_by, status, attempts, http_status, idempotency_key,"
    " request_sha256, response, error, error_kind, duration_ms, started_at, finished_at"
)


def _agent(row: Any) -> OapAgent:
    (agent_id, url, caps, description, timeout_s, enabled, discovered, last_status, ms, at,
     created, updated) = row  # fmt: skip
    return OapAgent(
        agent_id=agent_id,
        url=url,
        capabilities=loads(caps),
        description=description,
        timeout_s=timeout_s,
        enabled=enabled,
        discovered=discovered,
        last_status=last_status,
        last_ping_ms=ms,
        last_ping_at=iso_or_none(at),
        created_at=iso(created),
        updated_at=iso(updated),
    )


def _chain(row: Any) -> OapChain:
    (chain_id, intent_id, mode, pipeline, max_hops, hops_done, stop_at, status, next_agent,
     selected_by, error, kind, created_by, created, updated, finished) = row  # fmt: skip
    return OapChain(
        chain_id=chain_id,
        intent_id=intent_id,
        mode=mode,
        pipeline=loads(pipeline),
        max_hops=max_hops,
        hops_done=hops_done,
        stop_at_hop=stop_at,
        status=status,
        next_agent=next_agent,
        next_selected_by=selected_by,
        error=error,
        error_kind=kind,
        created_by=created_by,
        created_at=iso(created),
        updated_at=iso(updated),
        finished_at=iso_or_none(finished),
    )


def _hop(row: Any) -> OapHop:
    (chain_id, hop, agent_id, selected_by, status, attempts, http_status, key, sha, response,
     error, kind, duration, started, finished) = row  # fmt: skip
    return OapHop(
        chain_id=chain_id,
        hop=hop,
        agent_id=agent_id,
        selected_by=selected_by,
        status=status,
        attempts=attempts,
        http_status=http_status,
        idempotency_key=key,
        request_sha256=sha,
        response=loads(response),
        error=error,
        error_kind=kind,
        duration_ms=duration,
        started_at=iso(started),
        finished_at=iso_or_none(finished),
    )


async def _fetch_chain(conn: asyncpg.Connection | Tx, chain_id: str) -> OapChain:
    row = await conn.fetchrow(
        f"SELECT {CHAIN_COLUMNS} FROM oap_chains WHERE chain_id = $1", chain_id
    )
    if row is None:
        raise NotFound(f"Chain {chain_id} not found")
    return _chain(row)


async def _owned(tx: Tx, chain_id: str, owner: str) -> str:
    """The chain's intent id, if it is still running under `owner`."""
    row = await tx.fetchrow(
        "SELECT intent_id, status, owner FROM oap_chains WHERE chain_id = $1", chain_id
    )
    if row is None or row[1] != "running" or row[2] != owner:
        raise ChainLost(chain_id)
    return row[0]


async def _join_intent(tx: Tx, intent_id: str, agent_id: str, actor: str | None) -> None:
    """As the SQLite store's: an agent's first hop on an intent assigns it (role `oap`)."""
    added = await tx.fetchval(
        "INSERT INTO intent_agents (id, intent_id, agent_id, role, assigned_at)"
        " VALUES ($1, $2, $3, 'oap', $4) ON CONFLICT (intent_id, agent_id) DO NOTHING"
        " RETURNING 1",
        new_uid(),
        intent_id,
        agent_id,
        tx.moment,
    )
    if added:
        await tx.emit(intent_id, "agent_assigned", actor, {"agent_id": agent_id, "role": "oap"})


async def _finish(tx: Tx, chain_id: str, status: str, *, kind: str | None, error: str | None):
    await tx.execute(
        "UPDATE oap_chains SET status = $1, error_kind = $2, error = $3, owner = NULL,"
        " claimed_until = NULL, updated_at = $4, finished_at = $5 WHERE chain_id = $6",
        status,
        kind,
        error,
        tx.moment,
        tx.moment if status in FINISHED else None,
        chain_id,
    )


class PostgresOap(PostgresOapClaims, OapStore):
    # --- registry

    async def save_oap_agent(
        self, agent: AgentRecord, replace: bool, actor: str | None
    ) -> OapAgent:
        caps = [c.lower() for c in agent.capabilities]

        async def op(tx: Tx) -> OapAgent:
            exists = await tx.fetchval(
                "SELECT 1 FROM oap_agents WHERE agent_id = $1", agent.agent_id
            )
            if exists and not replace:
                raise Conflict(
                    f"Agent {agent.agent_id} is already registered (replace=true to overwrite)"
                )
            # A replaced agent keeps its place (`ord`): OAP's tie lists follow registration.
            row = await tx.fetchrow(
                "INSERT INTO oap_agents (agent_id, url, capabilities, description, timeout_s,"
                " discovered, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
                " ON CONFLICT (agent_id) DO UPDATE SET url = excluded.url,"
                " capabilities = excluded.capabilities, description = excluded.description,"
                " timeout_s = excluded.timeout_s, discovered = excluded.discovered,"
                f" updated_at = excluded.updated_at RETURNING {AGENT_COLUMNS}",
                agent.agent_id, agent.url, dumps(caps), agent.description, agent.timeout_s,
                agent.discovered, tx.moment,
            )  # fmt: skip
            await tx.emit(
                None,
                "agent.registered",
                actor,
                {
                    "oap": "agent_registered",
                    "agent_id": agent.agent_id,
                    "url": agent.url,
                    "capabilities": caps,
                    "replaced": bool(exists),
                },
            )
            return _agent(row)

        return await self._write(op)

    async def list_oap_agents(self) -> list[OapAgent]:
        rows = await self.pool.fetch(f"SELECT {AGENT_COLUMNS} FROM oap_agents ORDER BY ord")
        return [_agent(r) for r in rows]

    async def get_oap_agent(self, agent_id: str) -> OapAgent:
        row = await self.pool.fetchrow(
            f"SELECT {AGENT_COLUMNS} FROM oap_agents WHERE agent_id = $1", agent_id
        )
        if row is None:
            raise NotFound(f"Agent {agent_id} is not registered")
        return _agent(row)

    async def delete_oap_agent(self, agent_id: str, actor: str | None) -> None:
        async def op(tx: Tx) -> None:
            gone = await tx.fetchval(
                "DELETE FROM oap_agents WHERE agent_id = $1 RETURNING 1", agent_id
            )
            if not gone:
                raise NotFound(f"Agent {agent_id} is not registered")
            await tx.emit(
                None,
                "agent.status_changed",
                actor,
                {"oap": "agent_removed", "agent_id": agent_id, "status": "removed"},
            )

        await self._write(op)

    async def record_oap_ping(
        self,
        agent_id: str,
        status: str,
        ms: float | None,
        capabilities: list[str] | None,
        description: str | None,
    ) -> bool:
        caps = None if capabilities is None else [c.lower() for c in capabilities]

        async def op(tx: Tx) -> bool:
            row = await tx.fetchrow(
                "SELECT capabilities, description FROM oap_agents WHERE agent_id = $1", agent_id
            )
            if row is None:
                raise NotFound(f"Agent {agent_id} is not registered")
            changed = caps is not None and caps != loads(row[0])
            await tx.execute(
                "UPDATE oap_agents SET last_status = $1, last_ping_ms = $2, last_ping_at = $3,"
                " capabilities = $4, description = $5, discovered = discovered OR $6"
                " WHERE agent_id = $7",
                status,
                ms,
                tx.moment,
                dumps(caps) if changed else row[0],
                description if changed and description is not None else row[1],
                changed,
                agent_id,
            )
            return changed

        return await self._write(op)

    # --- chains

    async def create_oap_chain(self, chain: NewChain, owner: str, actor: str | None) -> OapChain:
        async def op(tx: Tx) -> OapChain:
            version = await tx.fetchval(
                "SELECT version FROM intents WHERE id = $1", chain.intent_id
            )
            if version is None:
                raise NotFound(f"Intent {chain.intent_id} not found")
            if version != chain.intent_version:
                raise Conflict("The intent changed while the chain was being prepared; try again")
            active = await tx.fetchval(
                "SELECT chain_id FROM oap_chains WHERE intent_id = $1"
                " AND status IN ('queued', 'running')",
                chain.intent_id,
            )
            if active:
                raise Conflict(f"Intent {chain.intent_id} already runs chain {active}")
            await tx.execute(
                "INSERT INTO oap_chains (chain_id, intent_id, mode, pipeline, max_hops,"
                " stop_at_hop, status, envelope, next_agent, next_selected_by, owner,"
                " claimed_until, heartbeat_at, created_by, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, $5, 'running', $6, $7, $8, $9,"
                f" {claim_deadline(10)}, $11, $12, $11, $11)",
                chain.chain_id, chain.intent_id, chain.mode,
                None if chain.pipeline is None else dumps(chain.pipeline), chain.max_hops,
                dumps(chain.envelope), chain.next_agent, chain.next_selected_by, owner,
                self.claim_seconds, tx.moment, actor,
            )  # fmt: skip
            await tx.emit(
                chain.intent_id,
                "task.created",
                actor,
                {
                    "oap": "chain_started",
                    "chain_id": chain.chain_id,
                    "mode": chain.mode,
                    "pipeline": chain.pipeline,
                    "max_hops": chain.max_hops,
                    "next_agent": chain.next_agent,
                    "selected_by": chain.next_selected_by,
                },
            )
            return await _fetch_chain(tx, chain.chain_id)

        return await self._write(op)

    async def oap_chain_state(self, chain_id: str) -> ChainState:
        async def read(conn: asyncpg.Connection) -> ChainState:
            row = await conn.fetchrow(
                "SELECT intent_id, status, mode, pipeline, pipeline_start, hops_done,"
                " stop_at_hop, envelope, next_agent, next_selected_by"
                " FROM oap_chains WHERE chain_id = $1",
                chain_id,
            )
            if row is None:
                raise NotFound(f"Chain {chain_id} not found")
            pending = await conn.fetchrow(
                "SELECT hop, agent_id, selected_by, attempts FROM oap_hops"
                " WHERE chain_id = $1 AND status = 'pending' ORDER BY hop DESC LIMIT 1",
                chain_id,
            )
            return chain_state(chain_id, row, pending)

        return await self._read(read)

    async def start_oap_hop(
        self,
        chain_id: str,
        owner: str,
        hop: int,
        agent_id: str,
        selected_by: str,
        request_sha256: str,
    ) -> None:
        key = idempotency_key(chain_id, hop)

        async def op(tx: Tx) -> None:
            intent_id = await _owned(tx, chain_id, owner)
            # A hop that failed before (then resumed) starts again under the same key.
            await tx.execute(
                "INSERT INTO oap_hops (chain_id, hop, agent_id, selected_by, status, attempts,"
                " idempotency_key, request_sha256, started_at)"
                " VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7)"
                " ON CONFLICT (chain_id, hop) DO UPDATE SET agent_id = excluded.agent_id,"
                " selected_by = excluded.selected_by, status = 'pending', attempts = 0,"
                " http_status = NULL, request_sha256 = excluded.request_sha256, response = NULL,"
                " error = NULL, error_kind = NULL, duration_ms = NULL,"
                " started_at = excluded.started_at, finished_at = NULL",
                chain_id, hop, agent_id, selected_by, key, request_sha256, tx.moment,
            )  # fmt: skip
            await self.touch_claim(tx, chain_id, updated=True)
            await _join_intent(tx, intent_id, agent_id, agent_id)
            await tx.emit(
                intent_id,
                "task.started",
                agent_id,
                {
                    "oap": "hop_started",
                    "chain_id": chain_id,
                    "hop": hop,
                    "agent_id": agent_id,
                    "selected_by": selected_by,
                    "idempotency_key": key,
                },
            )

        await self._write(op)

    async def record_oap_retry(
        self, chain_id: str, owner: str, hop: int, attempt: int, why: str
    ) -> None:
        async def op(tx: Tx) -> None:
            intent_id = await _owned(tx, chain_id, owner)
            await tx.execute(
                "UPDATE oap_hops SET attempts = attempts + 1 WHERE chain_id = $1 AND hop = $2",
                chain_id,
                hop,
            )
            await self.touch_claim(tx, chain_id)
            await tx.emit(
                intent_id,
                "task.retrying",
                None,
                {
                    "oap": "hop_retrying",
                    "chain_id": chain_id,
                    "hop": hop,
                    "attempt": attempt,
                    "error": why,
                },
            )

        await self._write(op)

    async def complete_oap_hop(self, chain_id: str, owner: str, result: HopResult) -> OapChain:
        hop = result.hop
        step = result.envelope.steps_taken[-1]
        agent_id = step.agent_id
        envelope_json = dumps(result.envelope)
        response_json = stored_response(result.response)

        async def op(tx: Tx) -> OapChain:
            # The hottest write: one read and one write statement (data-modifying CTEs)
            # around the lease guard, rather than one round trip per row.
            found = await tx.fetchrow(
                "SELECT c.intent_id, c.status, c.owner, h.selected_by, i.version, i.state"
                " FROM oap_chains c JOIN intents i ON i.id = c.intent_id"
                " LEFT JOIN oap_hops h ON h.chain_id = c.chain_id AND h.hop = $2"
                " WHERE c.chain_id = $1",
                chain_id,
                hop,
            )
            if found is None or found[1] != "running" or found[2] != owner:
                raise ChainLost(chain_id)
            intent_id, _, _, selected_by, version, state_text = found
            paths = ["/" + STATE_MEMORY_KEY, "/" + STATE_LAST_RESULT_KEY]
            for guard in tx.hooks.state_guards(live_lease=True):  # a lease on these keys refuses
                await guard(tx, intent_id, paths, agent_id)
            state = loads(state_text) or {}
            state[STATE_MEMORY_KEY] = result.state_memory
            state[STATE_LAST_RESULT_KEY] = result.last_result
            running = result.status == "running"
            chain_row = await tx.fetchrow(
                "WITH intent AS (UPDATE intents SET state = $1, version = $2, updated_at = $3,"
                " last_activity_at = $3 WHERE id = $4),"
                " hop AS (UPDATE oap_hops SET status = 'ok', attempts = $5, http_status = $6,"
                " response = $7, duration_ms = $8, finished_at = $3"
                " WHERE chain_id = $9 AND hop = $10)"
                " UPDATE oap_chains SET envelope = $11, hops_done = $10, next_agent = $12,"
                " next_selected_by = $13, status = $14,"
                " owner = CASE WHEN $15 THEN owner END,"
                f" claimed_until = CASE WHEN $15 THEN {claim_deadline(16)} END,"
                " error = NULL, error_kind = NULL, heartbeat_at = $3, updated_at = $3,"
                f" finished_at = $17 WHERE chain_id = $9 RETURNING {CHAIN_COLUMNS}",
                dumps(state), version + 1, tx.moment, intent_id,
                result.attempts, result.http_status, response_json, result.duration_ms,
                chain_id, hop,
                envelope_json, result.next_agent, result.next_selected_by, result.status,
                running, self.claim_seconds,
                tx.moment if result.status == "completed" else None,
            )  # fmt: skip
            await tx.emit(
                intent_id,
                "state_patched",
                agent_id,
                {
                    "patches": [
                        {
                            "op": "set",
                            "path": paths[0],
                            "value": clip_for_event(result.state_memory),
                        },
                        {
                            "op": "set",
                            "path": paths[1],
                            "value": clip_for_event(result.last_result),
                        },
                    ],
                    "version": version + 1,
                    "oap": "hop_checkpoint",
                    "chain_id": chain_id,
                    "hop": hop,
                },
                touch=False,
            )
            handoff = result.envelope.handoff
            await tx.emit(
                intent_id,
                "task.completed",
                agent_id,
                {
                    "oap": "hop_completed",
                    "chain_id": chain_id,
                    "hop": hop,
                    "agent_id": agent_id,
                    "selected_by": selected_by,
                    "attempts": result.attempts,
                    "duration_ms": result.duration_ms,
                    "result": clip_for_event(result.response),
                    "handoff": None
                    if handoff is None
                    else clip_for_event(msgspec.to_builtins(handoff)),
                },
            )
            if result.next_agent is not None and result.next_selected_by == "handoff":
                await tx.emit(
                    intent_id,
                    "task.delegated",
                    agent_id,
                    {
                        "oap": "handoff",
                        "chain_id": chain_id,
                        "hop": hop,
                        "from_agent": agent_id,
                        "to_agent": result.next_agent,
                        "reason": handoff.reason if handoff else None,
                    },
                )
            if result.status == "completed":
                await tx.emit(
                    intent_id,
                    "task.completed",
                    None,
                    {"oap": "chain_completed", "chain_id": chain_id, "hops": hop},
                )
            elif result.status == "hop_limit":
                await tx.emit(intent_id, "task.blocked", None, limit_payload(chain_id, hop, result))
            return _chain(chain_row)

        return await self._write(op)

    async def fail_oap_chain(
        self,
        chain_id: str,
        owner: str,
        kind: str,
        message: str,
        *,
        hop: int | None = None,
        attempts: int = 0,
        http_status: int | None = None,
        response: Any = None,
        duration_ms: float | None = None,
    ) -> OapChain:
        async def op(tx: Tx) -> OapChain:
            intent_id = await _owned(tx, chain_id, owner)
            agent_id = None
            if hop is not None:
                agent_id = await tx.fetchval(
                    "UPDATE oap_hops SET status = 'failed', attempts = $1, http_status = $2,"
                    " response = $3, error = $4, error_kind = $5, duration_ms = $6,"
                    " finished_at = $7 WHERE chain_id = $8 AND hop = $9 RETURNING agent_id",
                    attempts, http_status, stored_response(response), message, kind,
                    duration_ms, tx.moment, chain_id, hop,
                )  # fmt: skip
            await _finish(tx, chain_id, "failed", kind=kind, error=message)
            await tx.emit(
                intent_id,
                "task.failed",
                agent_id,
                {
                    "oap": "chain_failed",
                    "chain_id": chain_id,
                    "hop": hop,
                    "agent_id": agent_id,
                    "kind": kind,
                    "error": message,
                    "http_status": http_status,
                    "resumable": True,
                },
            )
            return await _fetch_chain(tx, chain_id)

        return await self._write(op)

    async def stop_oap_chain_at_limit(self, chain_id: str, owner: str) -> OapChain:
        async def op(tx: Tx) -> OapChain:
            intent_id = await _owned(tx, chain_id, owner)
            await _finish(tx, chain_id, "hop_limit", kind=None, error=None)
            chain = await _fetch_chain(tx, chain_id)
            await tx.emit(
                intent_id,
                "task.blocked",
                None,
                {
                    "oap": "chain_hop_limit",
                    "chain_id": chain_id,
                    "hops_done": chain.hops_done,
                    "next_agent": chain.next_agent,
                    "resumable": True,
                },
            )
            return chain

        return await self._write(op)

    async def resume_oap_chain(
        self,
        chain_id: str,
        owner: str,
        max_hops: int | None,
        pipeline: list[str] | None,
        actor: str | None,
    ) -> OapChain:
        async def op(tx: Tx) -> OapChain:
            chain = await _fetch_chain(tx, chain_id)
            if chain.status not in RESUMABLE:
                raise Conflict(
                    f"Chain {chain_id} is {chain.status}; only a chain that is"
                    f" {', '.join(RESUMABLE)} can be resumed"
                )
            active = await tx.fetchval(
                "SELECT chain_id FROM oap_chains WHERE intent_id = $1 AND chain_id != $2"
                " AND status IN ('queued', 'running')",
                chain.intent_id,
                chain_id,
            )
            if active:
                raise Conflict(f"Intent {chain.intent_id} already runs chain {active}")
            pending = await pending_hop(tx, chain_id)
            if pipeline is not None and pending is not None:
                raise Conflict(
                    f"Hop {pending} of chain {chain_id} was in flight: resume without a"
                    " pipeline first, so it is re-sent"
                )
            stop_at = chain.hops_done + (max_hops or chain.max_hops)
            if pipeline is not None:
                await tx.execute(
                    "UPDATE oap_chains SET mode = 'pipeline', pipeline = $1, pipeline_start = $2,"
                    " next_agent = $3, next_selected_by = 'pipeline' WHERE chain_id = $4",
                    dumps(pipeline),
                    chain.hops_done,
                    pipeline[0],
                    chain_id,
                )
            await tx.execute(
                "UPDATE oap_chains SET status = 'running', owner = $1,"
                f" claimed_until = {claim_deadline(2)}, heartbeat_at = $3, stop_at_hop = $4,"
                " error = NULL, error_kind = NULL, updated_at = $3, finished_at = NULL"
                " WHERE chain_id = $5",
                owner,
                self.claim_seconds,
                tx.moment,
                stop_at,
                chain_id,
            )
            await tx.emit(
                chain.intent_id,
                "task.unblocked",
                actor,
                {
                    "oap": "chain_resumed",
                    "chain_id": chain_id,
                    "from_status": chain.status,
                    "hops_done": chain.hops_done,
                    "stop_at_hop": stop_at,
                    "resend_hop": pending,
                    "pipeline": pipeline,
                },
            )
            return await _fetch_chain(tx, chain_id)

        return await self._write(op)

    async def cancel_oap_chain(
        self, chain_id: str, reason: str | None, actor: str | None
    ) -> OapChain:
        async def op(tx: Tx) -> OapChain:
            chain = await _fetch_chain(tx, chain_id)
            if chain.status in FINISHED:
                raise Conflict(f"Chain {chain_id} is already {chain.status}")
            await tx.execute(
                "UPDATE oap_hops SET status = 'failed', error = 'cancelled',"
                " error_kind = 'cancelled', finished_at = $1 WHERE chain_id = $2"
                " AND status = 'pending'",
                tx.moment,
                chain_id,
            )
            await _finish(tx, chain_id, "cancelled", kind=None, error=reason)
            await tx.emit(
                chain.intent_id,
                "task.cancelled",
                actor,
                {
                    "oap": "chain_cancelled",
                    "chain_id": chain_id,
                    "from_status": chain.status,
                    "reason": reason,
                },
            )
            return await _fetch_chain(tx, chain_id)

        return await self._write(op)

    async def interrupt_oap_chains(self, owner: str | None) -> list[str]:
        async def op(tx: Tx) -> list[str]:
            rows = await tx.fetch(
                "SELECT chain_id, intent_id FROM oap_chains WHERE status IN ('queued', 'running')"
                " AND ($1::text IS NULL OR owner = $1) ORDER BY ord",
                owner,
            )
            for chain_id, intent_id in rows:
                await _finish(tx, chain_id, "interrupted", kind=None, error=None)
                await tx.emit(
                    intent_id,
                    "task.blocked",
                    None,
                    {
                        "oap": "chain_interrupted",
                        "chain_id": chain_id,
                        "pending_hop": await pending_hop(tx, chain_id),
                        "resumable": True,
                    },
                )
            return [r[0] for r in rows]

        return await self._write(op)

    async def list_oap_chains(
        self,
        *,
        status: str | None = None,
        intent_id: str | None = None,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
        cursor: str | None = None,
    ) -> Slice[OapChain]:
        where: list[str] = []
        params: list[Any] = []
        if status:
            params.append(status)
            where.append(f"status = ${len(params)}")
        if intent_id:
            params.append(intent_id)
            where.append(f"intent_id = ${len(params)}")

        async def read(conn: asyncpg.Connection) -> Slice[OapChain]:
            rows, more, next_cursor = await read_keyset(
                conn,
                CHAIN_COLUMNS,
                "oap_chains",
                where,
                params,
                CHAIN_ORDER,
                cursor=cursor,
                offset=offset,
                limit=limit,
                max_bytes=max_bytes,
            )
            return Slice([_chain(r) for r in rows], more, next_cursor)

        return await self._read(read)

    async def get_oap_chain(self, chain_id: str) -> OapChain:
        async def read(conn: asyncpg.Connection) -> OapChain:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                row = await conn.fetchrow(
                    f"SELECT {CHAIN_COLUMNS}, envelope FROM oap_chains WHERE chain_id = $1",
                    chain_id,
                )
                if row is None:
                    raise NotFound(f"Chain {chain_id} not found")
                hops = await conn.fetch(
                    f"SELECT {HOP_COLUMNS} FROM oap_hops WHERE chain_id = $1 ORDER BY hop",
                    chain_id,
                )
            values = tuple(row)
            return msgspec.structs.replace(
                _chain(values[:-1]),
                envelope=decode_envelope(values[-1]),
                hops=[_hop(h) for h in hops],
            )

        return await self._read(read)
