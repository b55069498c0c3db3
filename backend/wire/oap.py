"""OAP (Open Agent Protocol 0.3.0) shapes: the TaskEnvelope exactly as OAP puts it on the wire,
and our registry, routing and chain resources (spec/oap.md §1 and §8)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from .base import Request, Response
from .limits import MAX_LIST_ITEMS, AgentId, Name, Text, Url

# --- OAP's own envelope (spec/oap.md §1). Every key is always written, nulls included, in
# OAP's order, because OAP agents read `model_dump(mode="json")` output.


class Constraints(msgspec.Struct, kw_only=True):
    max_cost_usd: float | None = None
    allowed_tools: list[str] | None = None
    deadline_ms: int | None = None


class Handoff(msgspec.Struct, kw_only=True):
    next_agent: str
    reason: str
    partial_result: Any = None


class Step(msgspec.Struct, kw_only=True):
    agent_id: str
    action: str
    result: Any = None
    timestamp: str
    """ISO 8601 UTC with `Z`, as pydantic writes OAP's datetime."""


class TaskEnvelope(msgspec.Struct, kw_only=True):
    id: str
    version: str = "0.1"
    goal: str
    memory: dict[str, Any] = msgspec.field(default_factory=dict)
    steps_taken: list[Step] = msgspec.field(default_factory=list)
    constraints: Constraints = msgspec.field(default_factory=Constraints)
    handoff: Handoff | None = None


# --- The registry.

Capabilities = Annotated[list[Name], msgspec.Meta(max_length=MAX_LIST_ITEMS)]
AgentStatus = Literal["alive", "dead", "no_health"]


class OapAgentRegister(Request):
    """Like `oap register`: the server GETs the agent's `/`; what that answers (agent_id,
    capabilities, description) wins, these fields are the fallback."""

    url: Url
    agent_id: AgentId | None = None
    capabilities: Capabilities | None = None
    description: Text = ""
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 60.0


class OapAgent(Response):
    agent_id: str
    url: str
    capabilities: list[str]
    """Lower-cased, as OAP's router keeps them."""
    description: str
    timeout_s: float
    enabled: bool
    discovered: bool
    """Whether the capabilities came from the agent's `GET /`."""
    created_at: str
    updated_at: str
    last_status: str | None = None
    """alive | dead | no_health, from the last ping."""
    last_ping_ms: float | None = None
    last_ping_at: str | None = None


class OapAgentList(Response):
    agents: list[OapAgent]


class OapPingRequest(Request):
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    """How long to wait for `GET /` (`oap ping` waits 5 s)."""


class OapPing(Response):
    agent_id: str
    status: AgentStatus
    ms: float | None
    capabilities_updated: bool
    error: str | None = None


class OapPingList(Response):
    results: list[OapPing]


# --- Routing.


class OapRouteRequest(Request):
    goal: Text


SelectedBy = Literal["handoff", "keyword", "pipeline", "forced"]


class OapRoute(Response):
    """The agent OAP's keyword matching picks for `goal` (a dry run: nothing is sent)."""

    agent_id: str
    selected_by: SelectedBy
    scores: dict[str, int]


# --- Chains.

ChainStatus = Literal[
    "queued", "running", "completed", "hop_limit", "failed", "cancelled", "interrupted"
]
CHAIN_STATUSES: tuple[str, ...] = ChainStatus.__args__  # type: ignore[attr-defined]
HopCount = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Pipeline = Annotated[
    list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]],
    msgspec.Meta(min_length=1, max_length=1000),
]


class OapChainStart(Request):
    max_hops: HopCount = 10
    pipeline: Pipeline | None = None
    """Fixed agent order (OAP's `--pipeline`): handoffs are ignored and cleared."""
    first_agent: AgentId | None = None
    """Pin the first hop (sent as OAP's explicit `handoff`, reason "forced")."""
    wait: bool = False
    """Answer when the chain stops (200 with the envelope) instead of at once (202)."""


class OapChainResume(Request):
    max_hops: HopCount | None = None
    """Hops this run may make (default: the chain's max_hops)."""
    pipeline: Pipeline | None = None
    """Continue as this pipeline, from its first agent."""
    wait: bool = False


class OapChainCancel(Request):
    reason: Text | None = None


class OapHop(Response):
    chain_id: str
    hop: int
    agent_id: str
    selected_by: str
    status: str
    """pending | ok | failed"""
    attempts: int
    http_status: int | None
    idempotency_key: str
    request_sha256: str | None
    response: Any
    """The agent's whole answer (as OAP keeps it in the step), or null."""
    error: str | None
    error_kind: str | None
    duration_ms: float | None
    started_at: str
    finished_at: str | None


class OapChain(Response):
    chain_id: str
    """Also the envelope's `id`, the same on every hop."""
    intent_id: str
    mode: str
    """handoff | pipeline"""
    pipeline: list[str] | None
    max_hops: int
    hops_done: int
    stop_at_hop: int
    """This run stops (hop_limit) after this hop number."""
    status: ChainStatus
    next_agent: str | None
    next_selected_by: str | None
    error: str | None
    error_kind: str | None
    """http_4xx | retries_exhausted | bad_response | unknown_agent | refused | too_large |
    state_refused | cancelled"""
    created_by: str | None
    created_at: str
    updated_at: str
    finished_at: str | None
    envelope: TaskEnvelope | None = None
    """The checkpoint: the envelope after the last applied hop (detail view only)."""
    hops: list[OapHop] | None = None
    """Detail view only."""


class OapChainList(Response):
    chains: list[OapChain]
    next_offset: int | None = None
    next_cursor: str | None = None
