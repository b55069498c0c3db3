"""Agent assignments on an intent."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from ..domain.errors import InvalidInput
from ..store import Store
from ..wire.base import Message
from ..wire.intents import AgentAssign, AgentAssignment, AgentAssignmentList
from .params import AgentIdHeader, actor_of

CAPABILITIES = ["agents"]


class AgentController(Controller):
    path = "/intents/{intent_id:str}/agents"
    tags = ["agents"]

    @post("", status_code=HTTP_201_CREATED, summary="Assign an agent (idempotent)")
    async def assign(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        data: JSONBody[AgentAssign],
        agent_id: AgentIdHeader = None,
    ) -> AgentAssignment:
        assignee = data.agent_id or agent_id
        if not assignee:
            raise InvalidInput("agent_id is required", errors=[{"field": "agent_id"}])
        return await store.assign_agent(intent_id, assignee, data.role, actor_of(agent_id))

    @get("", summary="List the agents assigned to an intent")
    async def list_agents(
        self, store: NamedDependency[Store], intent_id: FromPath[str]
    ) -> AgentAssignmentList:
        return AgentAssignmentList(agents=await store.list_agents(intent_id))

    @delete("/{assignee:str}", status_code=200, summary="Unassign an agent")
    async def unassign(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        assignee: FromPath[str],
        agent_id: AgentIdHeader = None,
    ) -> Message:
        await store.unassign_agent(intent_id, assignee, agent_id)
        return Message(message=f"Agent {assignee} unassigned")


CONTROLLERS = [AgentController]
