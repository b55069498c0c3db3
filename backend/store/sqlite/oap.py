"""The OAP registry, chains and hops on SQLite. A hop's outcome, the chain's checkpoint, the
intent's state and their events are written in one transaction."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from ...domain.errors import Conflict, NotFound
from ...oap.envelope import STATE_LAST_RESULT_KEY, STATE_MEMORY_KEY
from ...wire.oap import OapAgent, OapChain, OapHop, TaskEnvelope
from ..keyset import KeyColumns, Slice
from ..oap import AgentRecord, ChainLost, ChainState, HopResult, NewChain, OapStore
from .core import SqliteCore, Tx, dumps, loads, new_uid, read_keyset

CHAIN_ORDER = KeyColumns("oap_chains", ("-rowid",), (int,))
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
RESUMABLE = ("hop_limit", "failed", "interrupted")
FINISHED = ("completed", "cancelled")
EVENT_RESULT_CHARS = 2_000
"""An agent's result in a hop event is cut to this much JSON (the hop row keeps it whole)."""
HOP_RESPONSE_MAX_CHARS = 262_144

decode_envelope = msgspec.json.Decoder(TaskEnvelope).decode


def chain_state(chain_id: str, row: Any, pending: Any) -> ChainState:
    """What the runner needs of a chain, from its row (intent, status, mode, pipeline,
    start, hops done, stop hop, envelope, next agent and why) and its pending hop's (hop,
    agent, why, attempts) or None, as both stores read them (sqlite3 rows, asyncpg Records)."""
    return ChainState(
        chain_id=chain_id,
        intent_id=row[0],
        status=row[1],
        mode=row[2],
        pipeline=loads(row[3]),
        pipeline_start=row[4],
        hops_done=row[5],
        stop_at_hop=row[6],
        envelope=decode_envelope(row[7]),
        next_agent=row[8],
        next_selected_by=row[9],
        pending_hop=pending[0] if pending else None,
        pending_agent=pending[1] if pending else None,
        pending_selected_by=pending[2] if pending else None,
        pending_attempts=pending[3] if pending else 0,
    )


def idempotency_key(chain_id: str, hop: int) -> str:
    return f"{chain_id}:{hop}"


def _agent(row: tuple) -> OapAgent:
    (agent_id, url, caps, description, timeout_s, enabled, discovered, last_status, ms, at,
     created, updated) = row  # fmt: skip
    return OapAgent(
        agent_id=agent_id,
        url=url,
        capabilities=loads(caps),
        description=description,
        timeout_s=timeout_s,
        enabled=bool(enabled),
        discovered=bool(discovered),
        last_status=last_status,
        last_ping_ms=ms,
        last_ping_at=at,
        created_at=created,
        updated_at=updated,
    )


def _chain(row: tuple) -> OapChain:
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
        created_at=created,
        updated_at=updated,
        finished_at=finished,
    )


def _hop(row: tuple) -> OapHop:
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
        started_at=started,
        finished_at=finished,
    )


def _fetch_chain(conn: sqlite3.Connection | Tx, chain_id: str) -> OapChain:
    row = conn.execute(
        f"SELECT {CHAIN_COLUMNS} FROM oap_chains WHERE chain_id = ?", (chain_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"Chain {chain_id} not found")
    return _chain(row)


def _owned(tx: Tx, chain_id: str, owner: str) -> str:
    """The chain's intent id, if it is still running under `owner`."""
    row = tx.one("SELECT intent_id, status, owner FROM oap_chains WHERE chain_id = ?", (chain_id,))
    if row is None or row[1] != "running" or row[2] != owner:
        raise ChainLost(chain_id)
    return row[0]


def clip_for_event(value: Any) -> Any:
    text = dumps(value)
    if len(text) <= EVENT_RESULT_CHARS:
        return value
    return {"truncated": True, "bytes": len(text), "preview": text[:EVENT_RESULT_CHARS]}


def stored_response(value: Any) -> str | None:
    if value is None:
        return None
    text = dumps(value)
    if len(text) <= HOP_RESPONSE_MAX_CHARS:
        return text
    return dumps({"truncated": True, "bytes": len(text)})


def _join_intent(tx: Tx, intent_id: str, agent_id: str, actor: str | None) -> None:
    """An agent's first hop on an intent assigns it (role `oap`), as the spec's
    `agent_assigned` on hop start asks; later hops of the same agent add nothing."""
    if tx.one(
        "SELECT 1 FROM intent_agents WHERE intent_id = ? AND agent_id = ?", (intent_id, agent_id)
    ):
        return
    tx.execute(
        "INSERT INTO intent_agents (id, intent_id, agent_id, role, assigned_at) VALUES (?,?,?,?,?)",
        (new_uid(), intent_id, agent_id, "oap", tx.now),
    )
    tx.emit(intent_id, "agent_assigned", actor, {"agent_id": agent_id, "role": "oap"})


def _finish(tx: Tx, chain_id: str, status: str, *, kind: str | None, error: str | None) -> None:
    finished = tx.now if status in FINISHED else None
    tx.execute(
        "UPDATE oap_chains SET status = ?, error_kind = ?, error = ?, owner = NULL,"
        " updated_at = ?, finished_at = ? WHERE chain_id = ?",
        (status, kind, error, tx.now, finished, chain_id),
    )


class SqliteOap(SqliteCore, OapStore):
    # --- registry

    async def save_oap_agent(
        self, agent: AgentRecord, replace: bool, actor: str | None
    ) -> OapAgent:
        caps = [c.lower() for c in agent.capabilities]

        def op(tx: Tx) -> OapAgent:
            exists = tx.one(
                "SELECT created_seq FROM oap_agents WHERE agent_id = ?", (agent.agent_id,)
            )
            if exists and not replace:
                raise Conflict(
                    f"Agent {agent.agent_id} is already registered (replace=true to overwrite)"
                )
            seq = (
                exists[0]
                if exists
                else tx.row("SELECT COALESCE(MAX(created_seq), 0) + 1 FROM oap_agents")[0]
            )
            tx.execute(
                "INSERT INTO oap_agents (agent_id, url, capabilities, description, timeout_s,"
                " enabled, discovered, created_seq, created_at, updated_at)"
                " VALUES (?,?,?,?,?,1,?,?,?,?) ON CONFLICT (agent_id) DO UPDATE SET"
                " url = excluded.url, capabilities = excluded.capabilities,"
                " description = excluded.description, timeout_s = excluded.timeout_s,"
                " discovered = excluded.discovered, updated_at = excluded.updated_at",
                (agent.agent_id, agent.url, dumps(caps), agent.description, agent.timeout_s,
                 int(agent.discovered), seq, tx.now, tx.now),
            )  # fmt: skip
            tx.emit(
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
            return _agent(
                tx.row(
                    f"SELECT {AGENT_COLUMNS} FROM oap_agents WHERE agent_id = ?", (agent.agent_id,)
                )
            )

        return await self._write(op)

    async def list_oap_agents(self) -> list[OapAgent]:
        def read(conn: sqlite3.Connection) -> list[OapAgent]:
            rows = conn.execute(
                f"SELECT {AGENT_COLUMNS} FROM oap_agents ORDER BY created_seq"
            ).fetchall()
            return [_agent(r) for r in rows]

        return await self._read(read)

    async def get_oap_agent(self, agent_id: str) -> OapAgent:
        def read(conn: sqlite3.Connection) -> OapAgent:
            row = conn.execute(
                f"SELECT {AGENT_COLUMNS} FROM oap_agents WHERE agent_id = ?", (agent_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"Agent {agent_id} is not registered")
            return _agent(row)

        return await self._read(read)

    async def delete_oap_agent(self, agent_id: str, actor: str | None) -> None:
        def op(tx: Tx) -> None:
            if not tx.execute("DELETE FROM oap_agents WHERE agent_id = ?", (agent_id,)).rowcount:
                raise NotFound(f"Agent {agent_id} is not registered")
            tx.emit(
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
        def op(tx: Tx) -> bool:
            row = tx.one(
                "SELECT capabilities, description FROM oap_agents WHERE agent_id = ?", (agent_id,)
            )
            if row is None:
                raise NotFound(f"Agent {agent_id} is not registered")
            caps = None if capabilities is None else [c.lower() for c in capabilities]
            changed = caps is not None and caps != loads(row[0])
            tx.execute(
                "UPDATE oap_agents SET last_status = ?, last_ping_ms = ?, last_ping_at = ?,"
                " capabilities = ?, description = ?, discovered = discovered OR ?"
                " WHERE agent_id = ?",
                (
                    status,
                    ms,
                    tx.now,
                    dumps(caps) if changed else row[0],
                    description if changed and description is not None else row[1],
                    int(changed),
                    agent_id,
                ),
            )
            return changed

        return await self._write(op)

    # --- chains

    async def create_oap_chain(self, chain: NewChain, owner: str, actor: str | None) -> OapChain:
        def op(tx: Tx) -> OapChain:
            row = tx.one("SELECT version FROM intents WHERE id = ?", (chain.intent_id,))
            if row is None:
                raise NotFound(f"Intent {chain.intent_id} not found")
            if row[0] != chain.intent_version:
                raise Conflict("The intent changed while the chain was being prepared; try again")
            active = tx.one(
                "SELECT chain_id FROM oap_chains WHERE intent_id = ?"
                " AND status IN ('queued', 'running')",
                (chain.intent_id,),
            )
            if active:
                raise Conflict(f"Intent {chain.intent_id} already runs chain {active[0]}")
            tx.execute(
                "INSERT INTO oap_chains (chain_id, intent_id, mode, pipeline, max_hops,"
                " stop_at_hop, status, envelope, next_agent, next_selected_by, owner,"
                " heartbeat_at, created_by, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,'running',?,?,?,?,?,?,?,?)",
                (chain.chain_id, chain.intent_id, chain.mode,
                 None if chain.pipeline is None else dumps(chain.pipeline), chain.max_hops,
                 chain.max_hops, dumps(chain.envelope), chain.next_agent, chain.next_selected_by,
                 owner, tx.now, actor, tx.now, tx.now),
            )  # fmt: skip
            tx.emit(
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
            return _fetch_chain(tx, chain.chain_id)

        return await self._write(op)

    async def oap_chain_state(self, chain_id: str) -> ChainState:
        def read(conn: sqlite3.Connection) -> ChainState:
            row = conn.execute(
                "SELECT intent_id, status, mode, pipeline, pipeline_start, hops_done,"
                " stop_at_hop, envelope, next_agent, next_selected_by"
                " FROM oap_chains WHERE chain_id = ?",
                (chain_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"Chain {chain_id} not found")
            pending = conn.execute(
                "SELECT hop, agent_id, selected_by, attempts FROM oap_hops"
                " WHERE chain_id = ? AND status = 'pending' ORDER BY hop DESC LIMIT 1",
                (chain_id,),
            ).fetchone()
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

        def op(tx: Tx) -> None:
            intent_id = _owned(tx, chain_id, owner)
            # A hop that failed before (then resumed) starts again under the same key.
            tx.execute(
                "INSERT INTO oap_hops (chain_id, hop, agent_id, selected_by, status, attempts,"
                " idempotency_key, request_sha256, started_at) VALUES (?,?,?,?,'pending',0,?,?,?)"
                " ON CONFLICT (chain_id, hop) DO UPDATE SET agent_id = excluded.agent_id,"
                " selected_by = excluded.selected_by, status = 'pending', attempts = 0,"
                " http_status = NULL, request_sha256 = excluded.request_sha256, response = NULL,"
                " error = NULL, error_kind = NULL, duration_ms = NULL,"
                " started_at = excluded.started_at, finished_at = NULL",
                (chain_id, hop, agent_id, selected_by, key, request_sha256, tx.now),
            )
            tx.execute(
                "UPDATE oap_chains SET heartbeat_at = ?, updated_at = ? WHERE chain_id = ?",
                (tx.now, tx.now, chain_id),
            )
            _join_intent(tx, intent_id, agent_id, agent_id)
            tx.emit(
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
        def op(tx: Tx) -> None:
            intent_id = _owned(tx, chain_id, owner)
            tx.execute(
                "UPDATE oap_hops SET attempts = attempts + 1 WHERE chain_id = ? AND hop = ?",
                (chain_id, hop),
            )
            tx.execute(
                "UPDATE oap_chains SET heartbeat_at = ? WHERE chain_id = ?", (tx.now, chain_id)
            )
            tx.emit(
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

        def op(tx: Tx) -> OapChain:
            intent_id = _owned(tx, chain_id, owner)
            selected_by = tx.row(
                "SELECT selected_by FROM oap_hops WHERE chain_id = ? AND hop = ?", (chain_id, hop)
            )[0]
            paths = ["/" + STATE_MEMORY_KEY, "/" + STATE_LAST_RESULT_KEY]
            for guard in tx.hooks.state_patching:  # a lease on these keys refuses the hop
                guard(tx, intent_id, paths, agent_id)
            version, state_text = tx.row(
                "SELECT version, state FROM intents WHERE id = ?", (intent_id,)
            )
            state = loads(state_text) or {}
            state[STATE_MEMORY_KEY] = result.state_memory
            state[STATE_LAST_RESULT_KEY] = result.last_result
            tx.execute(
                "UPDATE intents SET state = ?, version = ?, updated_at = ?, last_activity_at = ?"
                " WHERE id = ?",
                (dumps(state), version + 1, tx.now, tx.now, intent_id),
            )
            tx.execute(
                "UPDATE oap_hops SET status = 'ok', attempts = ?, http_status = ?, response = ?,"
                " duration_ms = ?, finished_at = ? WHERE chain_id = ? AND hop = ?",
                (result.attempts, result.http_status, response_json, result.duration_ms, tx.now,
                 chain_id, hop),
            )  # fmt: skip
            finished = tx.now if result.status == "completed" else None
            tx.execute(
                "UPDATE oap_chains SET envelope = ?, hops_done = ?, next_agent = ?,"
                " next_selected_by = ?, status = ?, owner = CASE WHEN ? = 'running' THEN owner END,"
                " error = NULL, error_kind = NULL, heartbeat_at = ?, updated_at = ?,"
                " finished_at = ? WHERE chain_id = ?",
                (envelope_json, hop, result.next_agent, result.next_selected_by, result.status,
                 result.status, tx.now, tx.now, finished, chain_id),
            )  # fmt: skip
            tx.emit(
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
            tx.emit(
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
                tx.emit(
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
                tx.emit(
                    intent_id,
                    "task.completed",
                    None,
                    {"oap": "chain_completed", "chain_id": chain_id, "hops": hop},
                )
            elif result.status == "hop_limit":
                tx.emit(intent_id, "task.blocked", None, limit_payload(chain_id, hop, result))
            return _fetch_chain(tx, chain_id)

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
        def op(tx: Tx) -> OapChain:
            intent_id = _owned(tx, chain_id, owner)
            agent_id = None
            if hop is not None:
                tx.execute(
                    "UPDATE oap_hops SET status = 'failed', attempts = ?, http_status = ?,"
                    " response = ?, error = ?, error_kind = ?, duration_ms = ?, finished_at = ?"
                    " WHERE chain_id = ? AND hop = ?",
                    (attempts, http_status, stored_response(response), message, kind,
                     duration_ms, tx.now, chain_id, hop),
                )  # fmt: skip
                found = tx.one(
                    "SELECT agent_id FROM oap_hops WHERE chain_id = ? AND hop = ?", (chain_id, hop)
                )
                agent_id = found[0] if found else None
            _finish(tx, chain_id, "failed", kind=kind, error=message)
            tx.emit(
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
            return _fetch_chain(tx, chain_id)

        return await self._write(op)

    async def stop_oap_chain_at_limit(self, chain_id: str, owner: str) -> OapChain:
        def op(tx: Tx) -> OapChain:
            intent_id = _owned(tx, chain_id, owner)
            _finish(tx, chain_id, "hop_limit", kind=None, error=None)
            chain = _fetch_chain(tx, chain_id)
            tx.emit(
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
        def op(tx: Tx) -> OapChain:
            chain = _fetch_chain(tx, chain_id)
            if chain.status not in RESUMABLE:
                raise Conflict(
                    f"Chain {chain_id} is {chain.status}; only a chain that is"
                    f" {', '.join(RESUMABLE)} can be resumed"
                )
            active = tx.one(
                "SELECT chain_id FROM oap_chains WHERE intent_id = ? AND chain_id != ?"
                " AND status IN ('queued', 'running')",
                (chain.intent_id, chain_id),
            )
            if active:
                raise Conflict(f"Intent {chain.intent_id} already runs chain {active[0]}")
            pending = tx.one(
                "SELECT hop FROM oap_hops WHERE chain_id = ? AND status = 'pending'", (chain_id,)
            )
            if pipeline is not None and pending:
                raise Conflict(
                    f"Hop {pending[0]} of chain {chain_id} was in flight: resume without a"
                    " pipeline first, so it is re-sent"
                )
            stop_at = chain.hops_done + (max_hops or chain.max_hops)
            if pipeline is not None:
                tx.execute(
                    "UPDATE oap_chains SET mode = 'pipeline', pipeline = ?, pipeline_start = ?,"
                    " next_agent = ?, next_selected_by = 'pipeline' WHERE chain_id = ?",
                    (dumps(pipeline), chain.hops_done, pipeline[0], chain_id),
                )
            tx.execute(
                "UPDATE oap_chains SET status = 'running', owner = ?, heartbeat_at = ?,"
                " stop_at_hop = ?, error = NULL, error_kind = NULL, updated_at = ?,"
                " finished_at = NULL WHERE chain_id = ?",
                (owner, tx.now, stop_at, tx.now, chain_id),
            )
            tx.emit(
                chain.intent_id,
                "task.unblocked",
                actor,
                {
                    "oap": "chain_resumed",
                    "chain_id": chain_id,
                    "from_status": chain.status,
                    "hops_done": chain.hops_done,
                    "stop_at_hop": stop_at,
                    "resend_hop": pending[0] if pending else None,
                    "pipeline": pipeline,
                },
            )
            return _fetch_chain(tx, chain_id)

        return await self._write(op)

    async def cancel_oap_chain(
        self, chain_id: str, reason: str | None, actor: str | None
    ) -> OapChain:
        def op(tx: Tx) -> OapChain:
            chain = _fetch_chain(tx, chain_id)
            if chain.status in FINISHED:
                raise Conflict(f"Chain {chain_id} is already {chain.status}")
            tx.execute(
                "UPDATE oap_hops SET status = 'failed', error = 'cancelled',"
                " error_kind = 'cancelled', finished_at = ? WHERE chain_id = ?"
                " AND status = 'pending'",
                (tx.now, chain_id),
            )
            _finish(tx, chain_id, "cancelled", kind=None, error=reason)
            tx.emit(
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
            return _fetch_chain(tx, chain_id)

        return await self._write(op)

    async def interrupt_oap_chains(self, owner: str | None) -> list[str]:
        def op(tx: Tx) -> list[str]:
            rows = tx.execute(
                "SELECT chain_id, intent_id FROM oap_chains WHERE status IN ('queued', 'running')"
                + ("" if owner is None else " AND owner = ?"),
                () if owner is None else (owner,),
            ).fetchall()
            for chain_id, intent_id in rows:
                _finish(tx, chain_id, "interrupted", kind=None, error=None)
                pending = tx.one(
                    "SELECT hop FROM oap_hops WHERE chain_id = ? AND status = 'pending'",
                    (chain_id,),
                )
                tx.emit(
                    intent_id,
                    "task.blocked",
                    None,
                    {
                        "oap": "chain_interrupted",
                        "chain_id": chain_id,
                        "pending_hop": pending[0] if pending else None,
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
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        if intent_id:
            where.append("intent_id = ?")
            params.append(intent_id)

        def read(conn: sqlite3.Connection) -> Slice[OapChain]:
            rows, more, next_cursor = read_keyset(
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
        def read(conn: sqlite3.Connection) -> OapChain:
            chain = _fetch_chain(conn, chain_id)
            envelope = conn.execute(
                "SELECT envelope FROM oap_chains WHERE chain_id = ?", (chain_id,)
            ).fetchone()[0]
            hops = conn.execute(
                f"SELECT {HOP_COLUMNS} FROM oap_hops WHERE chain_id = ? ORDER BY hop", (chain_id,)
            ).fetchall()
            return msgspec.structs.replace(
                chain, envelope=decode_envelope(envelope), hops=[_hop(h) for h in hops]
            )

        return await self._read(read)


def limit_payload(chain_id: str, hop: int, result: HopResult) -> dict[str, Any]:
    return {
        "oap": "chain_hop_limit",
        "chain_id": chain_id,
        "hops_done": hop,
        "next_agent": result.next_agent,
        "resumable": True,
    }
