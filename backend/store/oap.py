"""The OAP part of the Store contract: the agent registry, chains and their hops
(spec/oap.md §8). Every chain write checks that the chain is still `running` under the
caller's `owner` (else ChainLost), so a cancelled chain or another server's chain is never
advanced."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import msgspec

from ..wire.oap import OapAgent, OapChain, TaskEnvelope
from .keyset import Slice


class ChainLost(Exception):
    """The chain is no longer running under this owner (cancelled, or taken over)."""


class AgentRecord(msgspec.Struct, kw_only=True, frozen=True):
    agent_id: str
    url: str
    capabilities: list[str]
    description: str
    timeout_s: float
    discovered: bool


class NewChain(msgspec.Struct, kw_only=True, frozen=True):
    chain_id: str
    intent_id: str
    intent_version: int
    """The version the envelope was built from: a change since is a 409, nothing written."""
    envelope: TaskEnvelope
    mode: str
    pipeline: list[str] | None
    max_hops: int
    next_agent: str
    next_selected_by: str


class ChainState(msgspec.Struct, kw_only=True, frozen=True):
    """What the runner needs to take the next hop."""

    chain_id: str
    intent_id: str
    status: str
    mode: str
    pipeline: list[str] | None
    pipeline_start: int
    hops_done: int
    stop_at_hop: int
    envelope: TaskEnvelope
    next_agent: str | None
    next_selected_by: str | None
    pending_hop: int | None
    pending_agent: str | None
    pending_selected_by: str | None
    pending_attempts: int


class HopResult(msgspec.Struct, kw_only=True, frozen=True):
    """A hop that succeeded, with where the chain goes next (`next_agent` None: done)."""

    hop: int
    envelope: TaskEnvelope
    response: Any
    http_status: int
    attempts: int
    duration_ms: float
    next_agent: str | None
    next_selected_by: str | None
    state_memory: dict[str, Any]
    last_result: Any
    status: str
    """running (more hops to go) | completed | hop_limit"""


class OapStore(ABC):
    @abstractmethod
    async def save_oap_agent(
        self, agent: AgentRecord, replace: bool, actor: str | None
    ) -> OapAgent:
        """Conflict (409) if the id exists and not `replace`. Audited (`agent.registered`)."""

    @abstractmethod
    async def list_oap_agents(self) -> list[OapAgent]:
        """In registration order."""

    @abstractmethod
    async def get_oap_agent(self, agent_id: str) -> OapAgent:
        """NotFound if unknown."""

    @abstractmethod
    async def delete_oap_agent(self, agent_id: str, actor: str | None) -> None: ...

    @abstractmethod
    async def record_oap_ping(
        self,
        agent_id: str,
        status: str,
        ms: float | None,
        capabilities: list[str] | None,
        description: str | None,
    ) -> bool:
        """Store the ping; replace capabilities/description when given and different.
        Returns whether the capabilities changed."""

    @abstractmethod
    async def create_oap_chain(self, chain: NewChain, owner: str, actor: str | None) -> OapChain:
        """Insert as `running` under `owner`. NotFound (intent), Conflict (a chain is already
        active on the intent, or the intent changed since `intent_version`)."""

    @abstractmethod
    async def oap_chain_state(self, chain_id: str) -> ChainState: ...

    @abstractmethod
    async def start_oap_hop(
        self,
        chain_id: str,
        owner: str,
        hop: int,
        agent_id: str,
        selected_by: str,
        request_sha256: str,
    ) -> None:
        """Insert the `pending` hop row and its `task.started` event."""

    @abstractmethod
    async def record_oap_retry(
        self, chain_id: str, owner: str, hop: int, attempt: int, why: str
    ) -> None: ...

    @abstractmethod
    async def complete_oap_hop(self, chain_id: str, owner: str, result: HopResult) -> OapChain:
        """One transaction: the hop row, the checkpoint, intent.state (oap_memory,
        oap_last_result, version bump) and the events."""

    @abstractmethod
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
    ) -> OapChain: ...

    @abstractmethod
    async def stop_oap_chain_at_limit(self, chain_id: str, owner: str) -> OapChain: ...

    @abstractmethod
    async def resume_oap_chain(
        self,
        chain_id: str,
        owner: str,
        max_hops: int | None,
        pipeline: list[str] | None,
        actor: str | None,
    ) -> OapChain:
        """hop_limit | failed | interrupted -> running under `owner`; Conflict otherwise."""

    @abstractmethod
    async def cancel_oap_chain(
        self, chain_id: str, reason: str | None, actor: str | None
    ) -> OapChain: ...

    @abstractmethod
    async def interrupt_oap_chains(self, owner: str | None) -> list[str]:
        """Mark running chains `interrupted`: all of them (`owner` None, at start-up: the
        server lock says no other server uses this database) or this owner's (shutdown)."""

    @abstractmethod
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
        """Newest first, without envelope and hops."""

    @abstractmethod
    async def get_oap_chain(self, chain_id: str) -> OapChain:
        """With the envelope checkpoint and every hop."""


class OapClaims(ABC):
    """For a store that several server instances share (PostgreSQL). A running chain is
    claimed by one instance (`owner`) until a deadline on the database's clock, which that
    instance's runner keeps moving. A chain whose claim lapsed (its instance died) or was
    released (it shut down) is taken over by a live instance and continues from its
    checkpoint, re-sending an unfinished hop under the same Idempotency-Key. A store without
    this part serves one server at a time: chains left running become `interrupted`."""

    claim_seconds: float = 10.0

    @abstractmethod
    async def renew_oap_claims(self, owner: str) -> list[str]:
        """Move the deadline of `owner`'s running chains; returns the ids still its own."""

    @abstractmethod
    async def take_over_oap_chains(self, owner: str, limit: int) -> list[str]:
        """Claim for `owner` up to `limit` running chains whose claim lapsed or was released
        (one instance each: rows another instance is claiming are skipped)."""

    @abstractmethod
    async def release_oap_chains(self, owner: str) -> list[str]:
        """At shutdown: `owner`'s running chains stay running, free for another instance."""
