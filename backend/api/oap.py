"""OAP-compatible agent routing (spec/oap.md §8): the agent registry, the keyword router as
a dry run, and chains of hops on an intent that are checkpointed and resumable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any

from litestar import Controller, Litestar, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_202_ACCEPTED,
    HTTP_204_NO_CONTENT,
)

from ..domain.errors import InvalidInput
from ..oap.routing import select_by_keyword
from ..oap.runner import ChainRunner
from ..oap.transport import AgentTransport, Probe, discovered_capabilities
from ..outbound.egress import EgressPolicy, EgressRefused, outbound_client
from ..store import Store
from ..store.oap import AgentRecord
from ..wire.limits import MAX_AGENT_ID_CHARS, MAX_LIST_ITEMS, MAX_NAME_CHARS, MAX_TEXT_CHARS
from ..wire.oap import (
    ChainStatus,
    OapAgent,
    OapAgentList,
    OapAgentRegister,
    OapChain,
    OapChainCancel,
    OapChainList,
    OapChainResume,
    OapChainStart,
    OapPing,
    OapPingList,
    OapPingRequest,
    OapRoute,
    OapRouteRequest,
)
from .openapi import errors
from .params import AgentIdHeader, Cursor, Offset, actor_of, page_of

CAPABILITIES = ["oap-routing"]
DISCOVERY_TIMEOUT_SECONDS = 10.0


def _egress(state: State) -> EgressPolicy:
    return state.oap_egress


def _runner(state: State) -> ChainRunner:
    return state.oap_runner


async def _checked_url(url: str, egress: EgressPolicy) -> None:
    try:
        await egress.check(url)
    except EgressRefused as exc:
        raise InvalidInput(f"url refused: {exc}", errors=[{"field": "url"}]) from None


def _text(value: Any, limit: int) -> str | None:
    return value if isinstance(value, str) and value and len(value) <= limit else None


def _discovered(document: dict[str, Any] | None) -> tuple[str | None, list[str] | None, str | None]:
    """What an agent's `GET /` says about itself, where it fits our limits."""
    caps = discovered_capabilities(document)
    if caps is not None and (
        len(caps) > MAX_LIST_ITEMS or any(not c or len(c) > MAX_NAME_CHARS for c in caps)
    ):
        caps = None
    document = document or {}
    return (
        _text(document.get("agent_id"), MAX_AGENT_ID_CHARS),
        caps,
        _text(document.get("description"), MAX_TEXT_CHARS),
    )


class OapAgentController(Controller):
    path = "/oap/agents"
    tags = ["oap"]

    @post(
        "",
        status_code=HTTP_201_CREATED,
        summary="Register an HTTP agent (its GET / wins over the body, as `oap register`)",
        responses=errors(409),
    )
    async def register(
        self,
        state: State,
        store: NamedDependency[Store],
        data: JSONBody[OapAgentRegister],
        replace: Annotated[
            bool, QueryParameter(description="Overwrite an agent with this id")
        ] = False,
        agent_id: AgentIdHeader = None,
    ) -> OapAgent:
        await _checked_url(data.url, _egress(state))
        transport: AgentTransport = state.oap_transport
        probe = await transport.describe(data.url, min(data.timeout_s, DISCOVERY_TIMEOUT_SECONDS))
        found_id, found_caps, found_description = _discovered(probe.document)
        registered_id = found_id or data.agent_id
        if not registered_id:
            raise InvalidInput(
                "agent_id is required: the agent's GET / did not name itself",
                errors=[{"field": "agent_id"}],
            )
        capabilities = found_caps or data.capabilities
        if not capabilities:
            raise InvalidInput(
                "No capabilities: the agent's GET / gave none and the body has none",
                errors=[{"field": "capabilities"}],
            )
        record = AgentRecord(
            agent_id=registered_id,
            url=data.url,
            capabilities=capabilities,
            description=found_description if found_description is not None else data.description,
            timeout_s=data.timeout_s,
            discovered=found_caps is not None,
        )
        return await store.save_oap_agent(record, replace, actor_of(agent_id))

    @get("", summary="Registered agents, in registration order")
    async def list_agents(self, store: NamedDependency[Store]) -> OapAgentList:
        return OapAgentList(agents=await store.list_oap_agents())

    @get("/{oap_agent_id:str}", summary="One registered agent")
    async def get_agent(
        self, store: NamedDependency[Store], oap_agent_id: FromPath[str]
    ) -> OapAgent:
        return await store.get_oap_agent(oap_agent_id)

    @delete("/{oap_agent_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Remove an agent")
    async def remove_agent(
        self,
        store: NamedDependency[Store],
        oap_agent_id: FromPath[str],
        agent_id: AgentIdHeader = None,
    ) -> None:
        await store.delete_oap_agent(oap_agent_id, actor_of(agent_id))

    @post(
        "/{oap_agent_id:str}/ping",
        status_code=HTTP_200_OK,
        summary="GET the agent's / (alive, dead, no health endpoint); refreshes capabilities",
    )
    async def ping_agent(
        self,
        state: State,
        store: NamedDependency[Store],
        oap_agent_id: FromPath[str],
        data: JSONBody[OapPingRequest],
    ) -> OapPing:
        agent = await store.get_oap_agent(oap_agent_id)
        return await _ping(state, store, agent, data.timeout_s)


class OapRoutingController(Controller):
    path = "/oap"
    tags = ["oap"]

    @post("/ping", status_code=HTTP_200_OK, summary="Ping every registered agent")
    async def ping_all(
        self, state: State, store: NamedDependency[Store], data: JSONBody[OapPingRequest]
    ) -> OapPingList:
        agents = await store.list_oap_agents()
        results = await asyncio.gather(*(_ping(state, store, a, data.timeout_s) for a in agents))
        return OapPingList(results=list(results))

    @post(
        "/route",
        status_code=HTTP_200_OK,
        summary="The agent OAP's keyword matching picks for a goal (dry run)",
        responses=errors(409, 422),
    )
    async def route(
        self, store: NamedDependency[Store], data: JSONBody[OapRouteRequest]
    ) -> OapRoute:
        agents = {a.agent_id: a.capabilities for a in await store.list_oap_agents()}
        agent_id, scores = select_by_keyword(data.goal, agents)
        return OapRoute(agent_id=agent_id, selected_by="keyword", scores=scores)

    @get("/chains", summary="Chains, newest first (`oap runs`)")
    async def list_chains(
        self,
        request: Request,
        store: NamedDependency[Store],
        status: Annotated[ChainStatus | None, QueryParameter()] = None,
        intent_id: Annotated[str | None, QueryParameter()] = None,
        offset: Offset = 0,
        cursor: Cursor = None,
    ) -> OapChainList:
        return await _chain_page(store, request, offset, cursor, status=status, intent_id=intent_id)

    @get("/chains/{chain_id:str}", summary="One chain with its envelope checkpoint and hops")
    async def get_chain(self, store: NamedDependency[Store], chain_id: FromPath[str]) -> OapChain:
        return await store.get_oap_chain(chain_id)

    @post(
        "/chains/{chain_id:str}/resume",
        status_code=HTTP_202_ACCEPTED,
        summary="Continue from the last checkpoint (hop_limit, failed or interrupted)",
        responses=errors(409, 422),
    )
    async def resume(
        self,
        state: State,
        chain_id: FromPath[str],
        data: JSONBody[OapChainResume],
        agent_id: AgentIdHeader = None,
    ) -> Response[OapChain]:
        chain = await _runner(state).resume(chain_id, data, actor_of(agent_id))
        return Response(chain, status_code=HTTP_200_OK if data.wait else HTTP_202_ACCEPTED)

    @post(
        "/chains/{chain_id:str}/cancel",
        status_code=HTTP_200_OK,
        summary="Cancel a chain (the hop in flight is abandoned)",
        responses=errors(409),
    )
    async def cancel(
        self,
        state: State,
        chain_id: FromPath[str],
        data: JSONBody[OapChainCancel],
        agent_id: AgentIdHeader = None,
    ) -> OapChain:
        return await _runner(state).cancel(chain_id, data.reason, actor_of(agent_id))


class IntentChainController(Controller):
    path = "/intents/{intent_id:str}/oap/chains"
    tags = ["oap"]

    @post(
        "",
        status_code=HTTP_202_ACCEPTED,
        summary="Start a chain on the intent (202 at once, or 200 when it stops with `wait`)",
        responses=errors(409, 422),
    )
    async def start(
        self,
        state: State,
        intent_id: FromPath[str],
        data: JSONBody[OapChainStart],
        agent_id: AgentIdHeader = None,
    ) -> Response[OapChain]:
        chain = await _runner(state).start(intent_id, data, actor_of(agent_id))
        return Response(chain, status_code=HTTP_200_OK if data.wait else HTTP_202_ACCEPTED)

    @get("", summary="The intent's chains, newest first")
    async def list_for_intent(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        offset: Offset = 0,
        cursor: Cursor = None,
    ) -> OapChainList:
        await store.get_intent(intent_id)  # 404 for an unknown intent
        return await _chain_page(store, request, offset, cursor, intent_id=intent_id)


async def _chain_page(
    store: Store,
    request: Request,
    offset: int,
    cursor: str | None,
    *,
    intent_id: str | None,
    status: str | None = None,
) -> OapChainList:
    """One page of chains (both chain lists), newest first."""
    fetch = partial(store.list_oap_chains, status=status, intent_id=intent_id)
    page = await page_of(fetch, request, offset, cursor=cursor)
    return OapChainList(
        chains=page.items, next_offset=page.next_offset, next_cursor=page.next_cursor
    )


async def _ping(state: State, store: Store, agent: OapAgent, timeout_s: float) -> OapPing:
    transport: AgentTransport = state.oap_transport
    try:
        probe = await transport.describe(agent.url, timeout_s)
    except EgressRefused as exc:
        probe = Probe("dead", None, None, f"refused by the egress guard: {exc}")
    _, caps, description = _discovered(probe.document)
    changed = await store.record_oap_ping(
        agent.agent_id, probe.status, probe.ms, caps, description if caps else None
    )
    return OapPing(
        agent_id=agent.agent_id,
        status=probe.status,
        ms=probe.ms,
        capabilities_updated=changed,
        error=probe.error,
    )


@asynccontextmanager
async def oap_lifespan(app: Litestar) -> AsyncIterator[None]:
    """The agent transport and the chain runner; chains a dead server left running are
    marked `interrupted` first (on PostgreSQL: taken over, see ChainRunner.recover)."""
    settings = app.state.settings
    store: Store = app.state.store
    async with outbound_client(60.0) as client:
        transport = AgentTransport(
            client,
            EgressPolicy(settings.egress_cidrs),
            max_response_bytes=settings.oap_max_envelope_bytes,
            retry_scale=settings.oap_retry_scale,
        )
        runner = ChainRunner(store, transport, max_envelope_bytes=settings.oap_max_envelope_bytes)
        await runner.recover()
        app.state.oap_egress = transport.egress
        app.state.oap_transport = transport
        app.state.oap_runner = runner
        try:
            yield
        finally:
            await runner.close()


CONTROLLERS = [OapAgentController, OapRoutingController, IntentChainController]
LIFESPANS = [oap_lifespan]
