"""Workflows on SQLite: an intent per phase and the phase records the workflow runner reads
(backend/workflows/runner.py). A phase waits, `blocked`, until every phase it depends on is
`completed`; a `dispatch_to` phase is then dispatched to its peer and completed by the peer's
`completed` callback (`complete_on_callback`), which in turn unblocks its dependents."""

from __future__ import annotations

import sqlite3
from typing import Any

from ...domain.errors import NotFound
from ...domain.lifecycle import check_transition
from ...wire.workflows import WorkflowPhaseView, WorkflowView
from ..federation import FederationWorkflows, ReadyPhase, WorkflowPlan
from .core import SqliteCore, Tx, dumps, loads, new_uid

WORKFLOW_ACTOR = "workflow"


def change_status(tx: Tx, intent_id: str, new_status: str, actor: str, reason: str) -> None:
    """A status change made by the server itself, with its event and the status hooks."""
    status, version = tx.row("SELECT status, version FROM intents WHERE id = ?", (intent_id,))
    check_transition(status, new_status)
    version += 1
    tx.execute(
        "UPDATE intents SET status = ?, version = ?, updated_at = ? WHERE id = ?",
        (new_status, version, tx.now, intent_id),
    )
    payload = {
        "status": new_status,
        "old_status": status,
        "new_status": new_status,
        "version": version,
        "reason": reason,
    }
    tx.emit(intent_id, "status_changed", actor, payload)
    for hook in tx.hooks.status_changed:
        hook(tx, intent_id, status, new_status, actor)


def _create_phase_intent(
    tx: Tx, plan: WorkflowPlan, index: int, depends_on: list[str], actor: str
) -> str:
    phase = plan.phases[index]
    status = "blocked" if depends_on else "active"
    intent_id = new_uid()
    tx.execute(
        "INSERT INTO intents (id, title, description, created_by, status, constraints, state,"
        " version, confidence, parent_id, depends_on, governance_policy, created_at,"
        " updated_at) VALUES (?,?,?,?,?,?,?,1,0,NULL,?,NULL,?,?)",
        (
            intent_id,
            phase.title,
            phase.description,
            actor,
            status,
            dumps(phase.constraints),
            dumps(phase.state),
            dumps(depends_on),
            tx.now,
            tx.now,
        ),
    )
    created: dict[str, Any] = {"title": phase.title, "status": status, "created_by": actor}
    if depends_on:
        created["depends_on"] = depends_on
    tx.emit(intent_id, "intent_created", actor, created)
    if phase.dispatch_to is None:  # a dispatched phase's agent is the peer's
        tx.execute(
            "INSERT INTO intent_agents (id, intent_id, agent_id, role, assigned_at)"
            " VALUES (?,?,?,'worker',?)",
            (new_uid(), intent_id, phase.assign, tx.now),
        )
        tx.emit(intent_id, "agent_assigned", actor, {"agent_id": phase.assign, "role": "worker"})
    return intent_id


PHASE_COLUMNS = (
    "p.workflow_id, p.workflow_name, p.workflow_description, p.created_at, p.phase, i.title,"
    " p.intent_id, i.status, p.assign, p.depends_on, p.dispatch_to, p.federation_visibility,"
    " (SELECT d.id FROM federation_dispatches d WHERE d.intent_id = p.intent_id"
    "  ORDER BY d.created_at DESC LIMIT 1),"
    " (SELECT d.status FROM federation_dispatches d WHERE d.intent_id = p.intent_id"
    "  ORDER BY d.created_at DESC LIMIT 1)"
)


def _workflow_view(conn: sqlite3.Connection | Tx, workflow_id: str) -> WorkflowView:
    rows = conn.execute(
        f"SELECT {PHASE_COLUMNS} FROM federation_workflow_phases p"
        " JOIN intents i ON i.id = p.intent_id WHERE p.workflow_id = ? ORDER BY p.position",
        (workflow_id,),
    ).fetchall()
    if not rows:
        raise NotFound(f"Workflow {workflow_id} not found")
    names = {row[6]: row[4] for row in rows}
    return WorkflowView(
        workflow_id=rows[0][0],
        name=rows[0][1],
        description=rows[0][2],
        created_at=rows[0][3],
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


class SqliteFederationWorkflows(SqliteCore, FederationWorkflows):
    async def create_workflow(self, plan: WorkflowPlan, actor: str | None) -> WorkflowView:
        creator = actor or WORKFLOW_ACTOR

        def op(tx: Tx) -> WorkflowView:
            workflow_id = new_uid()
            intent_ids: list[str] = []
            for index, phase in enumerate(plan.phases):
                depends_on = [intent_ids[d] for d in phase.depends_on]
                intent_id = _create_phase_intent(tx, plan, index, depends_on, creator)
                intent_ids.append(intent_id)
                tx.execute(
                    "INSERT INTO federation_workflow_phases (intent_id, workflow_id,"
                    " workflow_name, workflow_description, phase, position, assign, depends_on,"
                    " dispatch_to, delegation_scope, federation_visibility, waiting, created_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
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
                        int(bool(depends_on) or phase.dispatch_to is not None),
                        tx.now,
                    ),
                )
            return _workflow_view(tx, workflow_id)

        return await self._write(op)

    async def get_workflow(self, workflow_id: str) -> WorkflowView:
        return await self._read(lambda conn: _workflow_view(conn, workflow_id))

    async def ready_workflow_phases(self) -> list[ReadyPhase]:
        def read(conn: sqlite3.Connection) -> list[ReadyPhase]:
            rows = conn.execute(
                "SELECT p.intent_id, p.dispatch_to, p.assign, p.delegation_scope"
                " FROM federation_workflow_phases p WHERE p.waiting = 1 AND NOT EXISTS"
                " (SELECT 1 FROM json_each(p.depends_on) d JOIN intents i ON i.id = d.value"
                "  WHERE i.status != 'completed')"
                " ORDER BY p.created_at, p.position"
            ).fetchall()
            return [
                ReadyPhase(
                    intent_id=r[0], dispatch_to=r[1], assign=r[2], delegation_scope=loads(r[3])
                )
                for r in rows
            ]

        return await self._read(read)

    async def start_workflow_phase(self, intent_id: str) -> bool:
        def op(tx: Tx) -> bool:
            row = tx.one(
                "SELECT i.status, p.dispatch_to FROM federation_workflow_phases p"
                " JOIN intents i ON i.id = p.intent_id WHERE p.intent_id = ? AND p.waiting = 1",
                (intent_id,),
            )
            if row is None:
                return False  # started meanwhile
            status, dispatch_to = row
            if status == "blocked":
                reason = "workflow: the phases it depends on are completed"
                change_status(tx, intent_id, "active", WORKFLOW_ACTOR, reason)
                status = "active"
            # An operator may have completed or abandoned it meanwhile: nothing to send.
            dispatch = dispatch_to is not None and status == "active"
            if not dispatch:
                tx.execute(
                    "UPDATE federation_workflow_phases SET waiting = 0 WHERE intent_id = ?",
                    (intent_id,),
                )
            return dispatch

        return await self._write(op)

    async def fail_workflow_phase(self, intent_id: str, reason: str) -> None:
        def op(tx: Tx) -> None:
            changed = tx.execute(
                "UPDATE federation_workflow_phases SET waiting = 0"
                " WHERE intent_id = ? AND waiting = 1",
                (intent_id,),
            )
            if changed.rowcount == 0:
                return
            tx.emit(intent_id, "workflow.dispatch_failed", WORKFLOW_ACTOR, {"reason": reason})
            (status,) = tx.row("SELECT status FROM intents WHERE id = ?", (intent_id,))
            if status == "active":
                change_status(tx, intent_id, "blocked", WORKFLOW_ACTOR, reason)

        await self._write(op)
