"""The parts of the Store contract the PostgreSQL store does not implement yet (issue 12 is
being built in steps; the README's PostgreSQL section lists them).

Writes answer 501 with a message saying so. Reads answer what is true: nothing can have
been written, so lists are empty and lookups find nothing.
"""

from __future__ import annotations

from typing import Any

from ...domain.errors import DomainError, NotFound
from ...wire.oap import OapAgent, OapChain
from ..keyset import Slice
from ..oap import AgentRecord, ChainState, HopResult, NewChain, OapStore


class NotOnPostgresYet(DomainError):
    status_code = 501

    def __init__(self, feature: str) -> None:
        super().__init__(
            f"{feature} is not available on the PostgreSQL store yet; use a SQLite database"
            " for it (see the README's PostgreSQL section)"
        )


FEATURE_NAMES = {"oap": "OAP agent routing"}


class PostgresNotYet:
    NOT_YET = frozenset(FEATURE_NAMES)

    def refuse_if_not_yet(self, feature: str) -> None:
        if feature in FEATURE_NAMES:
            raise NotOnPostgresYet(FEATURE_NAMES[feature])


_OAP = "OAP agent routing"


class PostgresOapNotYet(OapStore):
    async def save_oap_agent(
        self, agent: AgentRecord, replace: bool, actor: str | None
    ) -> OapAgent:
        raise NotOnPostgresYet(_OAP)

    async def list_oap_agents(self) -> list[OapAgent]:
        return []

    async def get_oap_agent(self, agent_id: str) -> OapAgent:
        raise NotFound(f"OAP agent {agent_id} not found")

    async def delete_oap_agent(self, agent_id: str, actor: str | None) -> None:
        raise NotFound(f"OAP agent {agent_id} not found")

    async def record_oap_ping(
        self,
        agent_id: str,
        status: str,
        ms: float | None,
        capabilities: list[str] | None,
        description: str | None,
    ) -> bool:
        raise NotOnPostgresYet(_OAP)

    async def create_oap_chain(self, chain: NewChain, owner: str, actor: str | None) -> OapChain:
        raise NotOnPostgresYet(_OAP)

    async def oap_chain_state(self, chain_id: str) -> ChainState:
        raise NotFound(f"Chain {chain_id} not found")

    async def start_oap_hop(
        self,
        chain_id: str,
        owner: str,
        hop: int,
        agent_id: str,
        selected_by: str,
        request_sha256: str,
    ) -> None:
        raise NotOnPostgresYet(_OAP)

    async def record_oap_retry(
        self, chain_id: str, owner: str, hop: int, attempt: int, why: str
    ) -> None:
        raise NotOnPostgresYet(_OAP)

    async def complete_oap_hop(self, chain_id: str, owner: str, result: HopResult) -> OapChain:
        raise NotOnPostgresYet(_OAP)

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
        raise NotOnPostgresYet(_OAP)

    async def stop_oap_chain_at_limit(self, chain_id: str, owner: str) -> OapChain:
        raise NotOnPostgresYet(_OAP)

    async def resume_oap_chain(
        self,
        chain_id: str,
        owner: str,
        max_hops: int | None,
        pipeline: list[str] | None,
        actor: str | None,
    ) -> OapChain:
        raise NotOnPostgresYet(_OAP)

    async def cancel_oap_chain(
        self, chain_id: str, reason: str | None, actor: str | None
    ) -> OapChain:
        raise NotOnPostgresYet(_OAP)

    async def interrupt_oap_chains(self, owner: str | None) -> list[str]:
        return []

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
        return Slice([], False, None)

    async def get_oap_chain(self, chain_id: str) -> OapChain:
        raise NotFound(f"Chain {chain_id} not found")
