"""The federation part of the Store contract: dispatches received from other servers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import msgspec


class InboundDispatch(msgspec.Struct, frozen=True, kw_only=True):
    """A verified, trusted envelope, ready to be recorded (built by the receive service)."""

    source_key: str
    dispatch_id: str
    idempotency_key: str | None
    source_server: str
    source_did: str | None
    remote_intent_id: str
    agent_id: str | None
    content_sha256: str
    verified: bool
    envelope: dict[str, Any]
    title: str
    description: str
    state: dict[str, Any]
    constraints: dict[str, Any]
    governance_policy: dict[str, Any] | None
    delegation_scope: dict[str, Any] | None
    callback_url: str | None
    rejection: str | None = None
    """When set, the dispatch is answered `accepted: false` with this message (and the answer
    is stored like an acceptance)."""
    event_payload: dict[str, Any] = msgspec.field(default_factory=dict)
    """The `federation.received` payload (the local intent id is added)."""


class InboundOutcome(msgspec.Struct, frozen=True, kw_only=True):
    answer: dict[str, Any]
    replayed: bool
    """True when the answer is the one stored for an earlier identical dispatch."""


class FederationCounts(msgspec.Struct, frozen=True, kw_only=True):
    total_received: int
    active_dispatches: int = 0
    total_dispatches: int = 0


class FederationStore(ABC):
    @abstractmethod
    async def receive_dispatch(self, dispatch: InboundDispatch) -> InboundOutcome:
        """In one transaction: the replay check by (source, dispatch_id) and (source,
        idempotency_key), then the local intent, its agent assignment, the
        `federation.received` event and the record with its final answer. Raises Conflict
        when the id was used with different content."""

    @abstractmethod
    async def federation_counts(self) -> FederationCounts: ...
