"""The federation part of the Store contract: dispatches received from other servers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import Any

import msgspec

from ..wire.federation import DispatchView
from ..wire.workflows import WorkflowView


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

    async def stored_identity_seeds(self, new_seed: bytes) -> list[bytes]:
        """The server's identity when the database holds it (PostgreSQL: every instance on
        it signs with the same key), newest first; `new_seed` becomes it when there is none.
        A store whose identity is a file beside the database does not hold one."""
        raise NotImplementedError("this store keeps the identity in a key file")

    async def rotate_stored_identity(self, new_seed: bytes) -> None:
        """Add a new signing key to the identity the database holds."""
        raise NotImplementedError("this store keeps the identity in a key file")


class OutboundDispatch(msgspec.Struct, frozen=True, kw_only=True):
    """A dispatch to record and queue (built by the dispatch service)."""

    dispatch_id: str
    intent_id: str
    target_server: str
    target_did: str | None
    agent_id: str | None
    complete_on_callback: bool
    envelope: dict[str, Any]
    """Unsigned; every try adds a fresh `created_at` and the signature."""
    receive_url: str
    event_payload: dict[str, Any]
    """The `federation.dispatched` payload."""


class OutboxJob(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: str
    """"dispatch" or "callback"."""
    dispatch_id: str
    url: str
    body: dict[str, Any]
    attempts: int


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a dispatch's answer means for its record (None for callbacks)."""

    status: str
    """"delivered" or "rejected" (the outbox row's own result is in the AttemptOutcome)."""
    remote_intent_id: str | None = None


class CallbackIn(msgspec.Struct, frozen=True, kw_only=True):
    dispatch_id: str
    event_type: str
    state_delta: dict[str, Any]
    attestation: dict[str, Any] | None
    trace_id: str | None
    idempotency_key: str | None
    verified: bool


class OutboundTarget(msgspec.Struct, frozen=True, kw_only=True):
    dispatch_id: str
    intent_id: str
    target_server: str
    status: str


class PhasePlan(msgspec.Struct, frozen=True, kw_only=True):
    """One workflow phase, validated; `depends_on` are indexes of earlier phases."""

    name: str
    title: str
    description: str
    assign: str
    depends_on: list[int]
    constraints: dict[str, Any]
    state: dict[str, Any]
    dispatch_to: str | None
    """The peer's URL (a DID was resolved to its configured URL)."""
    delegation_scope: dict[str, Any] | None
    federation_visibility: str | None


class WorkflowPlan(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    phases: list[PhasePlan]
    """In dependency order: every phase comes after the phases it depends on."""


class ReadyPhase(msgspec.Struct, frozen=True, kw_only=True):
    """A waiting phase whose dependencies have all completed."""

    intent_id: str
    dispatch_to: str | None
    assign: str
    delegation_scope: dict[str, Any] | None


class FederationWorkflows(ABC):
    """Workflows whose phases may run on peers (spec/federation.md §7)."""

    @abstractmethod
    async def create_workflow(self, plan: WorkflowPlan, actor: str | None) -> WorkflowView:
        """In one transaction: an intent per phase (`active` without dependencies, else
        `blocked`; local phases get their `assign` agent) and the phase records."""

    @abstractmethod
    async def get_workflow(self, workflow_id: str) -> WorkflowView:
        """NotFound for an unknown workflow."""

    @abstractmethod
    async def ready_workflow_phases(self) -> list[ReadyPhase]: ...

    @abstractmethod
    async def start_workflow_phase(self, intent_id: str) -> bool:
        """`blocked` -> `active`. True when it is a `dispatch_to` phase to dispatch now (it
        stops waiting when its dispatch is recorded); any other phase stops waiting here."""

    @abstractmethod
    async def fail_workflow_phase(self, intent_id: str, reason: str) -> None:
        """Its dispatch could not be made: logged, the phase blocked, no longer waiting."""


class FederationOutbox(FederationWorkflows, ABC):
    """Outbound dispatches and the federation outbox (dispatches and callbacks); with the
    workflows whose `dispatch_to` phases become dispatches."""

    @abstractmethod
    async def create_dispatch(self, dispatch: OutboundDispatch) -> DispatchView:
        """In one transaction: the record (pending), its outbox row and
        `federation.dispatched` on the intent. NotFound for an unknown intent."""

    @abstractmethod
    async def inbound_for_intent(self, intent_id: str) -> dict[str, Any] | None:
        """The received envelope that created this local intent, if one did (re-dispatch)."""

    @abstractmethod
    async def due_federation_jobs(
        self, now: float, limit: int, skip: Collection[str] = ()
    ) -> list[OutboxJob]:
        """Up to `limit` pending jobs due by `now`, oldest first, except the ids in `skip`
        (the ones in flight: still pending until their attempt is recorded)."""

    @abstractmethod
    async def next_federation_due(self) -> float | None: ...

    @abstractmethod
    async def record_federation_attempt(
        self, job: OutboxJob, outcome: Any, result: SendResult | None
    ) -> None:
        """The attempt, the outbox row's new state and, for a dispatch, its record."""

    @abstractmethod
    async def outbound_target(self, dispatch_id: str) -> OutboundTarget:
        """NotFound when we never sent this dispatch."""

    @abstractmethod
    async def apply_callback(self, callback: CallbackIn) -> bool:
        """Log the callback on the origin intent and update the dispatch; True when it was a
        duplicate (same dispatch and idempotency key) and nothing was done."""

    @abstractmethod
    async def get_dispatch(self, dispatch_id: str) -> DispatchView: ...

    @abstractmethod
    async def dispatch_counts_by_peer(self) -> tuple[dict[str, int], dict[str, int]]:
        """(sent by target URL, received by normalised source URL)."""

    @abstractmethod
    async def list_dispatches(
        self, *, direction: str, status: str | None, limit: int, offset: int
    ) -> tuple[list[DispatchView], int]: ...
