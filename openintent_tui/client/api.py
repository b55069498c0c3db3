"""The seam between the console and a server: what the console may ask (`ServerAPI`), and what
this server can do (`Capabilities`), declared once when the console connects.

Two dialects implement it: the native client (`OpenIntentClient`, for our server) and the
reference server's (`reference.ReferenceClient`). `connect()` picks one from the server's
discovery document. Screens are typed against `ServerAPI`, so a misspelt or renamed method is
a type error (mypy runs in the tests), and they read `capabilities` up front instead of
waiting for an `Unavailable` to find out what the server lacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, Self

import httpx
import msgspec

from backend.wire.attachments import Attachment
from backend.wire.base import Message
from backend.wire.costs import Cost, CostList
from backend.wire.events import Event, EventPage
from backend.wire.federation import (
    DispatchAnswer,
    DispatchList,
    DispatchView,
    FederatedAgentOut,
    FederationStatus,
    PeerView,
)
from backend.wire.governance import Arbitration, ArbitrationOption, Decision
from backend.wire.intents import (
    AgentAssignment,
    Intent,
    IntentCounts,
    IntentList,
    IntentSort,
    PatchOp,
)
from backend.wire.leases import Lease
from backend.wire.oap import OapAgent, OapChain, OapPing, OapRoute
from backend.wire.portfolios import Membership, Portfolio, PortfolioDetail, PortfolioIntents
from backend.wire.retries import Failure, RetryPolicy
from backend.wire.subscriptions import (
    DeliveryList,
    Subscription,
    SubscriptionCreated,
)

from .sse import SSEFrame

if TYPE_CHECKING:
    from .federation import PeerDocuments

GLOBAL_STREAM_PATH = "/api/v1/events/stream"


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What a server can do, as far as the console is concerned. A False here is shown as
    "unavailable on this server" without asking the server."""

    list_intents: bool = True
    """List and page through every intent (`GET /intents`)."""
    global_stream: bool = True
    """One live stream and one event log for the whole server (`/events/stream`, `/events`)."""
    arbitration_queue: bool = True
    """Pending arbitrations across intents (`GET /arbitrations`)."""
    list_all_leases: bool = True
    """Leases across intents (`GET /leases`)."""
    revoke_leases: bool = True
    unassign_agents: bool = True
    store_attachments: bool = True
    """Attachments may carry their bytes, not only a URL."""
    webhooks: bool = True
    federation: bool = False
    """Federation is enabled (RFC-0022/0023): peers, dispatches, sending an intent to a peer.
    Read from the discovery document's `capabilities` when the console connects."""
    agent_routing: bool = True
    """OAP agent registry and chains (`/oap/...`): `:agents`, `:chains`."""


NATIVE = Capabilities()
"""Our server: everything the console drives (federation once it says it has it)."""

FEDERATION_CAPABILITY = "federation"
"""The name our server lists in its discovery document's `capabilities` when it federates."""


def declared(base: Capabilities, discovery: Any) -> Capabilities:
    """`base`, with what the server's discovery document says it has on top."""
    names = discovery.get("capabilities") if isinstance(discovery, dict) else None
    federates = isinstance(names, list) and FEDERATION_CAPABILITY in names
    return msgspec.structs.replace(base, federation=federates)


class ServerAPI(Protocol):
    """Everything the console (and `openintent_tui.demo`) asks of a server. Decodes into the
    `backend.wire` Structs and raises the typed errors of `client.errors`."""

    dialect: str
    """`native` or `reference`: which implementation answers."""
    capabilities: Capabilities
    base_url: str
    api_key: str | None
    agent_id: str
    timeout: float
    http: httpx.AsyncClient
    """The connection, for streaming (`EventStream`)."""
    transport: httpx.AsyncBaseTransport | None

    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc_info: object) -> None: ...
    async def aclose(self) -> None: ...

    # -- discovery ---------------------------------------------------------------------------
    async def discover(self) -> dict[str, Any]: ...
    async def health(self) -> dict[str, Any]: ...

    # -- intents -----------------------------------------------------------------------------
    async def list_intents(
        self,
        status: str | None = None,
        q: str | None = None,
        created_by: str | None = None,
        parent_intent_id: str | None = None,
        limit: int = 500,
        offset: int = 0,
        *,
        sort: IntentSort | None = None,
        cursor: str | None = None,
    ) -> IntentList: ...
    async def keyset_intents(self) -> bool:
        """Cursor paging, `sort=` and `GET /intents/counts` (issue 16); probed once."""
        ...

    async def intent_counts(self) -> IntentCounts: ...
    async def list_all_intents(self, page_size: int = ..., **filters: Any) -> list[Intent]: ...
    async def get_intent(self, intent_id: str) -> Intent: ...
    async def create_intent(self, title: str, **fields: Any) -> Intent: ...
    async def create_child(self, parent_id: str, title: str, **fields: Any) -> Intent: ...
    async def patch_state(
        self, intent_id: str, version: int, patches: list[PatchOp | dict[str, Any]]
    ) -> Intent: ...
    async def set_status(
        self, intent_id: str, version: int, status: str, reason: str | None = None
    ) -> Intent: ...
    async def children(self, intent_id: str) -> list[Intent]: ...
    async def dependencies(self, intent_id: str) -> list[Intent]: ...

    # -- agents ------------------------------------------------------------------------------
    async def assign_agent(
        self, intent_id: str, agent_id: str | None = None, role: str = "worker"
    ) -> AgentAssignment: ...
    async def list_agents(self, intent_id: str) -> list[AgentAssignment]: ...
    async def unassign_agent(self, intent_id: str, agent_id: str) -> Message: ...

    # -- events ------------------------------------------------------------------------------
    async def log_event(
        self, intent_id: str, event_type: str, payload: dict[str, Any] | None = None, **fields: Any
    ) -> Event: ...
    async def list_events(
        self,
        intent_id: str,
        limit: int = 100,
        cursor: int = 0,
        event_type: str | None = None,
        since: str | None = None,
    ) -> EventPage: ...
    async def events_after(self, global_sequence: int, limit: int = 500) -> EventPage: ...

    # -- streams: how this server's SSE reads ------------------------------------------------
    def intent_stream_path(self, intent_id: str) -> str: ...
    def event_of_frame(self, frame: SSEFrame) -> Event | None: ...
    def change_key(self, event: Event) -> str | None:
        """The same change under another id (a live frame and its logged event), or None."""
        ...

    # -- leases ------------------------------------------------------------------------------
    async def list_leases(
        self, status: str = "active", limit: int = 1000, agent_id: str | None = None
    ) -> list[Lease]: ...
    async def intent_leases(
        self, intent_id: str, status: str = "active", agent_id: str | None = None
    ) -> list[Lease]: ...
    async def acquire_lease(
        self,
        intent_id: str,
        scope: str,
        duration_seconds: int = 300,
        agent_id: str | None = None,
    ) -> Lease: ...
    async def renew_lease(
        self,
        intent_id: str,
        lease_id: str,
        duration_seconds: int = 300,
        agent_id: str | None = None,
    ) -> Lease: ...
    async def release_lease(
        self, intent_id: str, lease_id: str, agent_id: str | None = None
    ) -> Lease | None: ...
    async def revoke_lease(self, intent_id: str, lease_id: str, reason: str) -> Lease: ...

    # -- arbitration and decisions -----------------------------------------------------------
    async def list_arbitrations(
        self, status: str = "pending", limit: int = 1000
    ) -> list[Arbitration]: ...
    async def get_arbitration(self, arbitration_id: str) -> Arbitration: ...
    async def intent_arbitrations(
        self, intent_id: str, status: str | None = None
    ) -> list[Arbitration]: ...
    async def request_arbitration(
        self,
        intent_id: str,
        reason: str,
        options: Sequence[ArbitrationOption | dict[str, Any]] | None = None,
        context: dict[str, Any] | None = None,
    ) -> Arbitration: ...
    async def list_decisions(self, intent_id: str) -> list[Decision]: ...
    async def record_decision(
        self,
        intent_id: str,
        decision_type: str,
        outcome: str,
        rationale: str,
        arbitration_id: str | None = None,
        evidence: list[dict[str, Any]] | None = None,
    ) -> Decision: ...

    # -- attachments, costs, retries ---------------------------------------------------------
    async def list_attachments(self, intent_id: str) -> list[Attachment]: ...
    async def add_attachment(
        self,
        intent_id: str,
        filename: str,
        *,
        content: bytes | None = None,
        url: str | None = None,
        mime_type: str = "application/octet-stream",
        metadata: dict[str, Any] | None = None,
        size: int | None = None,
    ) -> Attachment: ...
    async def attachment_content(self, attachment: Attachment) -> bytes: ...
    async def delete_attachment(self, intent_id: str, attachment_id: str) -> None: ...
    async def record_cost(
        self,
        intent_id: str,
        cost_type: str,
        amount: float,
        unit: str,
        *,
        provider: str | None = None,
        metadata: dict[str, Any] | None = None,
        agent_id: str | None = None,
    ) -> Cost: ...
    async def get_costs(self, intent_id: str) -> CostList: ...
    async def get_retry_policy(self, intent_id: str) -> RetryPolicy | None: ...
    async def set_retry_policy(self, intent_id: str, **fields: Any) -> RetryPolicy: ...
    async def delete_retry_policy(self, intent_id: str) -> None: ...
    async def record_failure(self, intent_id: str, **fields: Any) -> Failure: ...
    async def list_failures(self, intent_id: str) -> list[Failure]: ...

    # -- portfolios --------------------------------------------------------------------------
    async def list_portfolios(self, created_by: str | None = None) -> list[Portfolio]: ...
    async def create_portfolio(
        self,
        name: str,
        description: str | None = None,
        governance_policy: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Portfolio: ...
    async def get_portfolio(self, portfolio_id: str) -> PortfolioDetail: ...
    async def portfolio_intents(self, portfolio_id: str) -> PortfolioIntents: ...
    async def set_portfolio_status(
        self, portfolio_id: str, status: str, reason: str | None = None
    ) -> Portfolio: ...
    async def add_to_portfolio(
        self, portfolio_id: str, intent_id: str, role: str = "member", priority: int = 0
    ) -> Membership: ...
    async def remove_from_portfolio(self, portfolio_id: str, intent_id: str) -> None: ...
    async def intent_portfolios(self, intent_id: str) -> list[Portfolio]: ...

    # -- webhook subscriptions ---------------------------------------------------------------
    async def subscribe(
        self,
        webhook_url: str | None = None,
        *,
        intent_id: str | None = None,
        portfolio_id: str | None = None,
        event_types: list[str] | None = None,
        expires_at: str | None = None,
    ) -> SubscriptionCreated: ...
    async def list_subscriptions(
        self, intent_id: str | None = None, portfolio_id: str | None = None
    ) -> list[Subscription]: ...
    async def get_subscription(self, subscription_id: str) -> Subscription: ...
    async def unsubscribe(self, subscription_id: str) -> None: ...
    async def deliveries(
        self, subscription_id: str, after: int = 0, limit: int = 100
    ) -> DeliveryList: ...

    # -- OAP agent routing (capabilities.agent_routing) --------------------------------------
    async def list_oap_agents(self) -> list[OapAgent]: ...
    async def register_oap_agent(
        self,
        url: str,
        *,
        agent_id: str | None = None,
        capabilities: list[str] | None = None,
        replace: bool = False,
    ) -> OapAgent: ...
    async def remove_oap_agent(self, agent_id: str) -> None: ...
    async def ping_oap_agent(self, agent_id: str) -> OapPing: ...
    async def ping_oap_agents(self) -> list[OapPing]: ...
    async def route_goal(self, goal: str) -> OapRoute: ...
    async def start_chain(self, intent_id: str, **options: Any) -> OapChain: ...
    async def list_chains(
        self, status: str | None = None, intent_id: str | None = None
    ) -> list[OapChain]: ...
    async def get_chain(self, chain_id: str) -> OapChain: ...
    async def resume_chain(self, chain_id: str, max_hops: int | None = None) -> OapChain: ...
    async def cancel_chain(self, chain_id: str, reason: str | None = None) -> OapChain: ...

    # -- federation (capabilities.federation) ----------------------------------------------
    async def federation_manifest(self) -> dict[str, Any]: ...
    async def federation_status(self) -> FederationStatus: ...
    async def federation_peers(self) -> list[PeerView]: ...
    async def federated_agents(self) -> list[FederatedAgentOut]: ...
    async def list_dispatches(
        self,
        direction: str = "out",
        status: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> DispatchList: ...
    async def get_dispatch(self, dispatch_id: str) -> DispatchView: ...
    async def dispatch_intent(
        self,
        intent_id: str,
        target_server: str,
        *,
        agent_id: str | None = None,
        permissions: list[str] | None = None,
        cost_ceiling_usd: float | None = None,
    ) -> DispatchAnswer: ...
    async def peer_documents(self, peer_url: str) -> PeerDocuments: ...
