"""Arbitration requests and decision records (RFC-0003 governance)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from .base import JSONObject, Request, Response
from .limits import MAX_LIST_ITEMS, AgentId, Id, Name, Text, Title


class ArbitrationOption(Request):
    label: Title
    rationale: Text = ""


class Arbitration(Response):
    id: str
    intent_id: str
    requester_id: str
    reason: str
    context: JSONObject
    options: list[ArbitrationOption]
    status: Literal["pending", "resolved"]
    created_at: str
    resolved_at: str | None = None
    decision_id: str | None = None
    """The decision that resolved it."""


class ArbitrationRequest(Request):
    reason: Text
    context: JSONObject = msgspec.field(default_factory=dict)
    options: Annotated[list[ArbitrationOption], msgspec.Meta(max_length=MAX_LIST_ITEMS)] = (
        msgspec.field(default_factory=list)
    )
    requested_by: AgentId | None = None
    """Defaults to X-Agent-ID."""


class ArbitrationList(Response):
    arbitrations: list[Arbitration]
    next_offset: int | None = None
    """Pass as `offset` for the next page (1000 items, or fewer at the response budget);
    null at the end."""
    next_cursor: str | None = None
    """Opaque keyset cursor for the next page (pass it back as `?cursor=`, not with an
    offset); null at the end. Its cost does not grow with the depth, unlike `offset`."""


class Decision(Response):
    id: str
    intent_id: str
    decision_maker_id: str
    decision_type: str
    outcome: str
    reasoning: str
    rationale: str
    """Same text as reasoning: the SDK reads `reasoning`, RFC-0003 and the reference say
    `rationale`."""
    evidence: list[dict[str, Any]]
    created_at: str
    arbitration_id: str | None = None


class DecisionCreate(Request):
    """Both SDK clients send `reasoning`; RFC-0003 and the reference server say `rationale`
    and `decided_by`. Either name is accepted; if both are given they must agree."""

    decision_type: Name
    outcome: Text
    reasoning: Text | None = None
    rationale: Text | None = None
    decided_by: AgentId | None = None
    decision_maker_id: AgentId | None = None
    evidence: Annotated[list[dict[str, Any]], msgspec.Meta(max_length=MAX_LIST_ITEMS)] = (
        msgspec.field(default_factory=list)
    )
    arbitration_id: Id | None = None
    """Name a pending arbitration to resolve it with this decision, atomically."""


class DecisionList(Response):
    decisions: list[Decision]
    next_offset: int | None = None
    """Pass as `offset` for the next page (1000 items, or fewer at the response budget);
    null at the end."""
