"""Workflows on PostgreSQL, as the SQLite store's (backend/store/sqlite/federation_workflows.py):
an intent per phase and the phase records every instance's workflow runner reads.

Several instances run a workflow runner each. Starting a phase is a write (so one at a time
across instances, core.py); a `dispatch_to` phase is claimed by the instance that starts it
(`claimed_by`, presence.py's `Presence`) until its dispatch's transaction clears
`waiting`, so another live instance never dispatches it too, and a dead instance's claim is
taken over by the next runner to look.
"""

from __future__ import annotations

from typing import Any

from ...domain.clock import iso
from ...domain.errors import NotFound
from ...domain.lifecycle import check_transition
from ...wire.workflows import WorkflowPhaseView, WorkflowView
from ..federation import FederationWorkflows, ReadyPhase, WorkflowPlan
from ..sqlite.core import dumps, loads, new_uid
from ..sqlite.federation_workflows import WORKFLOW_ACTOR
from .core import PostgresCore, Tx
from .intents import Queryable
from .presence import Presence, claim_free


async def change_status(tx: Tx, intent_id: str, new_status: str, actor: str, reason: str) -> None:
    """A status change made by the server itself, with its event and the status hooks."""
    row = await tx.fetchrow(
        "SELECT status, version FROM intents WHERE id = $1 FOR UPDATE", intent_id
    )
    if row is None:
        raise NotFound(f"Intent {intent_id} not found")
    status, version = row
    check_transition(status, new_status)
    version += 1
    await tx.execute(
        "UPDATE intents SET status = $1, version = $2, updated_at = $3 WHERE id = $4",
        new_status,
        version,
        tx.moment,
        intent_id,
    )
    payload = {
        "status": new_status,
        "old_status": status,
        "new_status": new_status,
        "version": version,
        "reason": reason,
    }
    await tx.emit(intent_id, "status_changed", actor, payload)
    for hook in tx.hooks.status_changed:
        await hook(tx, intent_id, status, new_status, actor)


async def _create_phase_intent(
    tx: Tx, plan: WorkflowPlan, index: int, depends_on: list[str], actor: str
) -> str:
    phase = plan.phases[index]
    status = "blocked" if depends_on else "active"
    intent_id = new_uid()
    await tx.execute(
        "INSERT INTO intents (id, title, description, created_by, status, constraints, state,"
        " version, confidence, parent_id, depends_on, governance_policy, created_at,"
        " updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,1,0,NULL,$8,NULL,$9,$9)",
        intent_id,
        phase.title,
        phase.description,
        actor,
        status,
        dumps(phase.constraints),
        dumps(phase.state),
        dumps(depends_on),
        tx.moment,
    )
    created: dict[str, Any] = {"title": phase.title, "status": status, "created_by": actor}
    if depends_on:
        created["depends_on"] = depends_on
    await tx.emit(intent_id, "intent_created", actor, created)
    if phase.dispatch_to is None:  # a dispatched phase's agent is the peer's
        await tx.execute(
            "INSERT INTO intent_agents (id, intent_id, agent_id, role, assigned_at)"
            " VALUES ($1,$2,$3,'worker',$4)",
            new_uid(),
            intent_id,
            phase.assign,
            tx.moment,
        )
        await tx.emit(
            intent_id, "agent_assigned", actor, {"agent_id": phase.assign, "role": "worker"}
        )
    return intent_id


PHASE_COLUMNS = (
    "p.workflow_id, p.workflow_name, p.workflow_description, p.created_at, p.phase, i.title,"
    " p.intent_id, i.status, p.assign, p.depends_on, p.dispatch_to, p.federation_visibility,"
    " d.id, d.status"
)
_LATEST_DISPATCH = (
    " LEFT JOIN LATERAL (SELECT id, status FROM federation_dispatches"
    " WHERE intent_id = p.intent_id ORDER BY created_at DESC LIMIT 1) d ON true"
)


async def _workflow_view(conn: Queryable, workflow_id: str) -> WorkflowView:
    rows = await conn.fetch(
        f"SELECT {PHASE_COLUMNS} FROM federation_workflow_phases p"
        f" JOIN intents i ON i.id = p.intent_id{_LATEST_DISPATCH}"
        " WHERE p.workflow_id = $1 ORDER BY p.position",
        workflow_id,
    )
    if not rows:
        raise NotFound(f"Workflow {workflow_id} not found")
    names = {row[6]: row[4] for row in rows}
    return WorkflowView(
        workflow_id=rows[0][0],
        name=rows[0][1],
        description=rows[0][2],
        created_at=iso(rows[0][3]),
        phases=[
            WorkflowPhaseView(
                name=row[4],
                title=row[5],
                intent_id=row[6],
                status=row[7],
                assign=row[8],
                depends_on=[names.get(d, d) for d in loads(row[9])],
                dispatch_to=row[10],
                federation_visibility=row[11],
                dispatch_id=row[12],
                dispatch_status=row[13],
            )
            for row in rows
        ],
    )


class PostgresFederationWorkflows(PostgresCore, FederationWorkflows):
    presence: Presence  # PostgresStore.__init__

    async def create_workflow(self, plan: WorkflowPlan, actor: str | None) -> WorkflowView:
        creator = actor or WORKFLOW_ACTOR

        async def op(tx: Tx) -> WorkflowView:
            workflow_id = new_uid()
            intent_ids: list[str] = []
            for index, phase in enumerate(plan.phases):
                depends_on = [intent_ids[d] for d in phase.depends_on]
                intent_id = await _create_phase_intent(tx, plan, index, depends_on, creator)
                intent_ids.append(intent_id)
                await tx.execute(
                    "INSERT INTO federation_workflow_phases (intent_id, workflow_id,"
                    " workflow_name, workflow_description, phase, position, assign, depends_on,"
                    " dispatch_to, delegation_scope, federation_visibility, waiting, created_at)"
                    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
                    intent_id,
                    workflow_id,
                    plan.name,
                    plan.description,
                    phase.name,
                    index,
                    phase.assign,
                    dumps(depends_on),
                    phase.dispatch_to,
                    None if phase.delegation_scope is None else dumps(phase.delegation_scope),
                    phase.federation_visibility,
                    bool(depends_on) or phase.dispatch_to is not None,
                    tx.moment,
                )
            return await _workflow_view(tx, workflow_id)

        return await self._write(op)

    async def get_workflow(self, workflow_id: str) -> WorkflowView:
        return await self._read(lambda conn: _workflow_view(conn, workflow_id))

    async def ready_workflow_phases(self) -> list[ReadyPhase]:
        me = await self.presence.claim_key()
        rows = await self.pool.fetch(
            "SELECT p.intent_id, p.dispatch_to, p.assign, p.delegation_scope"
            " FROM federation_workflow_phases p"
            f" WHERE p.waiting AND {claim_free('p.claimed_by', '$1')}"
            " AND NOT EXISTS (SELECT 1 FROM json_array_elements_text(p.depends_on) AS d(id)"
            "  JOIN intents i ON i.id = d.id WHERE i.status != 'completed')"
            " ORDER BY p.created_at, p.position",
            me,
        )
        return [
            ReadyPhase(intent_id=r[0], dispatch_to=r[1], assign=r[2], delegation_scope=loads(r[3]))
            for r in rows
        ]

    async def start_workflow_phase(self, intent_id: str) -> bool:
        me = await self.presence.claim_key()

        async def op(tx: Tx) -> bool:
            row = await tx.fetchrow(
                "SELECT i.status, p.dispatch_to FROM federation_workflow_phases p"
                " JOIN intents i ON i.id = p.intent_id"
                f" WHERE p.intent_id = $1 AND p.waiting AND {claim_free('p.claimed_by', '$2')}",
                intent_id,
                me,
            )
            if row is None:
                return False  # started meanwhile, or another live instance is dispatching it
            status, dispatch_to = row
            if status == "blocked":
                reason = "workflow: the phases it depends on are completed"
                await change_status(tx, intent_id, "active", WORKFLOW_ACTOR, reason)
                status = "active"
            # An operator may have completed or abandoned it meanwhile: nothing to send.
            dispatch = dispatch_to is not None and status == "active"
            if dispatch:  # ours until the dispatch's transaction clears `waiting`
                await tx.execute(
                    "UPDATE federation_workflow_phases SET claimed_by = $1 WHERE intent_id = $2",
                    me,
                    intent_id,
                )
            else:
                await tx.execute(
                    "UPDATE federation_workflow_phases SET waiting = false WHERE intent_id = $1",
                    intent_id,
                )
            return dispatch

        return await self._write(op)

    async def fail_workflow_phase(self, intent_id: str, reason: str) -> None:
        async def op(tx: Tx) -> None:
            changed = await tx.fetchval(
                "UPDATE federation_workflow_phases SET waiting = false"
                " WHERE intent_id = $1 AND waiting RETURNING 1",
                intent_id,
            )
            if changed is None:
                return
            await tx.emit(intent_id, "workflow.dispatch_failed", WORKFLOW_ACTOR, {"reason": reason})
            status = await tx.fetchval("SELECT status FROM intents WHERE id = $1", intent_id)
            if status == "active":
                await change_status(tx, intent_id, "blocked", WORKFLOW_ACTOR, reason)

        await self._write(op)
