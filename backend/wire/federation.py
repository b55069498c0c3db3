"""Federation shapes (RFC-0022/0023) as the SDK 0.17.0 reads them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from .base import Response

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

    permissions: list[str] = msgspec.field(default_factory=lambda: ["state.patch", "events.log"])
    denied_operations: list[str] = msgspec.field(default_factory=list)
    max_delegation_depth: Annotated[int, msgspec.Meta(ge=0)] = 1
    expires_at: str | None = None


class Envelope(msgspec.Struct, kw_only=True):
    """A received dispatch envelope, for validation only: unknown keys are tolerated (and
    still covered by the signature, which is checked over the object as received)."""

    dispatch_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    source_server: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    intent_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    intent_title: str
    target_server: str | None = None
    intent_description: str = ""
    intent_state: dict[str, Any] = msgspec.field(default_factory=dict)
    intent_constraints: dict[str, Any] = msgspec.field(default_factory=dict)
    agent_id: str | None = None
    delegation_scope: DelegationScope | None = None
    federation_policy: dict[str, Any] | None = None
    trace_context: dict[str, str] | None = None
    callback_url: str | None = None
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    created_at: str | None = None
    delegation_token: str | None = None
    signature: str | None = None


class ReceiveAnswer(Response):
    dispatch_id: str
    accepted: bool
    local_intent_id: str | None
    message: str


class DispatchRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/federation/dispatch`: the SDK's body, plus `complete_on_callback`."""

    intent_id: str
    target_server: str
    agent_id: str | None = None
    delegation_scope: DelegationScope | None = None
    federation_policy: dict[str, Any] | None = None
    callback_url: str | None = None
    trace_context: dict[str, str] | None = None
    complete_on_callback: bool = False


class DispatchAnswer(Response):
    dispatch_id: str
    status: str
    target_server: str
    message: str


class Callback(msgspec.Struct, kw_only=True):
    """A callback received for one of our dispatches; unknown keys tolerated (and signed)."""

    dispatch_id: str
    event_type: Literal[
        "state_delta", "status_changed", "attestation", "budget_warning", "completed", "failed"
    ]
    state_delta: dict[str, Any] = msgspec.field(default_factory=dict)
    attestation: dict[str, Any] | None = None
    trace_id: str | None = None
    idempotency_key: str | None = None
    timestamp: str | None = None
    signature: str | None = None


class CallbackAnswer(Response):
    dispatch_id: str
    accepted: bool
    duplicate: bool
    message: str


class DispatchView(Response, frozen=True, kw_only=True):
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
