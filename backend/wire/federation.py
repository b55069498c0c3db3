"""Federation shapes (RFC-0022/0023) as the SDK 0.17.0 reads them."""

from __future__ import annotations

from typing import Literal

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
