"""OAP agent routing (`/api/v1/oap`, spec/oap.md §8): the agent registry and chains.
(`capabilities.agent_routing`: the reference server has none of it.)"""

from __future__ import annotations

from typing import Any

from backend.wire.oap import (
    OapAgent,
    OapAgentList,
    OapChain,
    OapChainList,
    OapPing,
    OapPingList,
    OapRoute,
)

from .base import API, BaseClient


class AgentRoutingAPI(BaseClient):
    async def list_oap_agents(self) -> list[OapAgent]:
        return (await self.fetch("GET", f"{API}/oap/agents", OapAgentList)).agents

    async def register_oap_agent(
        self,
        url: str,
        *,
        agent_id: str | None = None,
        capabilities: list[str] | None = None,
        replace: bool = False,
    ) -> OapAgent:
        body: dict[str, Any] = {"url": url}
        if agent_id:
            body["agent_id"] = agent_id
        if capabilities:
            body["capabilities"] = capabilities
        params = {"replace": "true"} if replace else None
        return await self.fetch("POST", f"{API}/oap/agents", OapAgent, body=body, params=params)

    async def remove_oap_agent(self, agent_id: str) -> None:
        await self.request("DELETE", f"{API}/oap/agents/{agent_id}")

    async def ping_oap_agent(self, agent_id: str) -> OapPing:
        return await self.fetch("POST", f"{API}/oap/agents/{agent_id}/ping", OapPing, body={})

    async def ping_oap_agents(self) -> list[OapPing]:
        return (await self.fetch("POST", f"{API}/oap/ping", OapPingList, body={})).results

    async def route_goal(self, goal: str) -> OapRoute:
        return await self.fetch("POST", f"{API}/oap/route", OapRoute, body={"goal": goal})

    async def start_chain(self, intent_id: str, **options: Any) -> OapChain:
        """options: max_hops, pipeline, first_agent (the body of POST .../oap/chains)."""
        return await self.fetch(
            "POST", f"{API}/intents/{intent_id}/oap/chains", OapChain, body=options
        )

    async def list_chains(
        self, status: str | None = None, intent_id: str | None = None
    ) -> list[OapChain]:
        params = {"status": status, "intent_id": intent_id}
        return (await self.fetch("GET", f"{API}/oap/chains", OapChainList, params=params)).chains

    async def get_chain(self, chain_id: str) -> OapChain:
        return await self.fetch("GET", f"{API}/oap/chains/{chain_id}", OapChain)

    async def resume_chain(self, chain_id: str, max_hops: int | None = None) -> OapChain:
        body = {} if max_hops is None else {"max_hops": max_hops}
        return await self.fetch("POST", f"{API}/oap/chains/{chain_id}/resume", OapChain, body=body)

    async def cancel_chain(self, chain_id: str, reason: str | None = None) -> OapChain:
        return await self.fetch(
            "POST", f"{API}/oap/chains/{chain_id}/cancel", OapChain, body={"reason": reason}
        )
