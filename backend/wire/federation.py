"""Federation shapes (RFC-0022/0023) as the SDK 0.17.0 reads them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from .base import Response
from .limits import (
    MAX_INT64,
    MAX_LIST_ITEMS,
    AgentId,
    Id,
    Name,
    RequiredId,
    Text,
    Timestamp,
    Title,
    Url,
)

RequiredUrl = Annotated[str, msgspec.Meta(min_length=1, max_length=2_048)]
Signature = Annotated[str, msgspec.Meta(max_length=200)]
"""Base64 of a 64-byte Ed25519 signature is 88 characters."""
DelegationToken = Annotated[str, msgspec.Meta(max_length=64_000)]
"""A compact delegation chain (one signed link per hop, at most max_delegation_depth)."""
Names = Annotated[list[Name], msgspec.Meta(max_length=MAX_LIST_ITEMS)]

TrustPolicy = Literal["open", "allowlist", "trustless"]


class FederationStatus(Response):
    enabled: bool
    server_did: str | None
    trust_policy: TrustPolicy
    peer_count: int
    active_dispatches: int
    total_dispatches: int
    total_received: int


class FederatedAgentOut(Response):
    agent_id: str
    server_url: str
    capabilities: list[str]
    visibility: str
    server_did: str | None
    status: str = "active"


class FederatedAgentList(Response):
    agents: list[FederatedAgentOut]


class DelegationScope(msgspec.Struct, kw_only=True, omit_defaults=False):
    """RFC-0023 delegation scope; the SDK's defaults."""

    permissions: Names = msgspec.field(default_factory=lambda: ["state.patch", "events.log"])
    denied_operations: Names = msgspec.field(default_factory=list)
    max_delegation_depth: Annotated[int, msgspec.Meta(ge=0, le=MAX_INT64)] = 1
    expires_at: Timestamp | None = None


class Envelope(msgspec.Struct, kw_only=True):
    """A received dispatch envelope, for validation only: unknown keys are tolerated (and
    still covered by the signature, which is checked over the object as received)."""

    dispatch_id: RequiredId
    source_server: RequiredUrl
    intent_id: RequiredId
    intent_title: Title
    target_server: Url | None = None
    intent_description: Text = ""
    intent_state: dict[str, Any] = msgspec.field(default_factory=dict)
    intent_constraints: dict[str, Any] = msgspec.field(default_factory=dict)
    agent_id: AgentId | None = None
    delegation_scope: DelegationScope | None = None
    federation_policy: dict[str, Any] | None = None
    trace_context: dict[Name, Text] | None = None
    callback_url: Url | None = None
    idempotency_key: RequiredId | None = None
    created_at: Timestamp | None = None
    delegation_token: DelegationToken | None = None
    signature: Signature | None = None


class ReceiveAnswer(Response):
    dispatch_id: str
    accepted: bool
    local_intent_id: str | None
    message: str


class DispatchRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/federation/dispatch`: the SDK's body, plus `complete_on_callback`."""

    intent_id: RequiredId
    target_server: RequiredUrl
    agent_id: AgentId | None = None
    delegation_scope: DelegationScope | None = None
    federation_policy: dict[str, Any] | None = None
    callback_url: Url | None = None
    trace_context: dict[Name, Text] | None = None
    complete_on_callback: bool = False


class DispatchAnswer(Response):
    dispatch_id: str
    status: str
    target_server: str
    message: str


class Callback(msgspec.Struct, kw_only=True):
    """A callback received for one of our dispatches; unknown keys tolerated (and signed)."""

    dispatch_id: RequiredId
    event_type: Literal[
        "state_delta", "status_changed", "attestation", "budget_warning", "completed", "failed"
    ]
    state_delta: dict[str, Any] = msgspec.field(default_factory=dict)
    attestation: dict[str, Any] | None = None
    trace_id: Id | None = None
    idempotency_key: Id | None = None
    timestamp: Timestamp | None = None
    signature: Signature | None = None


class CallbackAnswer(Response):
    dispatch_id: str
    accepted: bool
    duplicate: bool
    message: str


class DispatchView(Response, kw_only=True):
    """A dispatch record; inbound rows carry source_server, source_did, local_intent_id."""

    dispatch_id: str
    direction: str
    intent_id: str
    target_server: str
    target_did: str | None = None
    status: str
    attempts: int = 0
    last_error: str | None = None
    remote_intent_id: str | None = None
    created_at: str
    updated_at: str
    source_server: str | None = None
    source_did: str | None = None
    local_intent_id: str | None = None


class DispatchList(Response):
    dispatches: list[DispatchView]
    total: int
    next_offset: int | None = None
    """The offset of the next page; None at the end."""


class PeerView(Response, kw_only=True):
    """One configured peer as this server last saw it (`GET /api/v1/federation/peers`)."""

    url: str | None
    did: str | None = None
    relationship: str | None = None
    key_fingerprint: str | None = None
    """`sha256:` and 32 hex digits of the peer's public key (pinned, else fetched)."""
    key_source: str | None = None
    """`pinned`, `fetched`, or None when no key is known."""
    key_mismatch: bool = False
    """The key the peer publishes now differs from the pinned one."""
    trusted: bool = False
    """The current policy takes dispatches from it."""
    reachable: bool | None = None
    """None until the background refresh has tried it."""
    rtt_ms: float | None = None
    last_contact_at: str | None = None
    last_error: str | None = None
    dispatches_out: int = 0
    dispatches_in: int = 0
    public_agents: list[str] = msgspec.field(default_factory=list)
    """Known only when this server holds an API key for the peer."""


class PeerList(Response):
    peers: list[PeerView]
