"""Intents (RFC-0001), their graph links (RFC-0002) and agent assignments."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from .base import JSONObject, Request, Response
from .limits import MAX_LIST_ITEMS, AgentId, Id, Name, Text, Title, Url


class Intent(Response):
    id: str
    title: str
    description: str
    created_by: str | None
    status: str
    constraints: JSONObject
    state: JSONObject
    version: int
    parent_intent_id: str | None
    depends_on: list[str]
    created_at: str
    updated_at: str
    confidence: int = 0
    governance_policy: JSONObject | None = None
    agents: list[str] = msgspec.field(default_factory=list)
    last_activity_at: str | None = None


class IntentCreate(Request):
    title: Title
    description: Text | None = ""
    constraints: JSONObject = msgspec.field(default_factory=dict)
    state: JSONObject = msgspec.field(default_factory=dict)
    created_by: AgentId | None = None
    parent_intent_id: Id | None = None
    parent_id: Id | None = None
    """Alias of parent_intent_id, as the reference server names it."""
    depends_on: Annotated[list[Id], msgspec.Meta(max_length=MAX_LIST_ITEMS)] = msgspec.field(
        default_factory=list
    )
    governance_policy: JSONObject | None = None
    status: Literal["draft", "active"] = "draft"
    confidence: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0
    """RFC-0001: 0 to 100."""


class IntentList(Response):
    intents: list[Intent]
    total: int
    limit: int = 50
    offset: int = 0
    next_offset: int | None = None
    """Where the next page starts; null at the end. A page can hold fewer than `limit` intents
    when it reached the response size budget (`max_response_bytes`): continue from here."""
    next_cursor: str | None = None
    """Opaque keyset cursor for the next page (pass it back as `?cursor=`); null at the end.
    Its cost does not grow with how deep the page is, unlike `offset`."""


IntentSort = Literal["-created_at", "created_at", "-updated_at", "updated_at"]
"""The orders `GET /intents?sort=` accepts; `-` is newest first. The cursor carries the sort."""


class IntentCounts(Response):
    """`GET /api/v1/intents/counts`: maintained in the same transaction as each change, so
    reading it costs the same whatever the fleet's size."""

    total: int
    by_status: dict[str, int]


class ChildIntents(Response):
    children: list[Intent]
    next_offset: int | None = None
    """Pass as `offset` for the rest: a page ends at 1000 children or the response budget."""


class IntentDependencies(Response):
    dependencies: list[Intent]
    next_offset: int | None = None
    """Pass as `offset` for the rest: a page ends at the response budget."""


class PatchOp(Request):
    op: Name
    path: Url
    """JSON Pointer (or a bare top-level key); its depth counts against max_json_depth."""
    value: Any = None


class StatePatch(Request):
    """`{"patches": [...]}` as the SDK sends, or `{"state": {...}}` to set top-level keys."""

    patches: Annotated[list[PatchOp], msgspec.Meta(max_length=MAX_LIST_ITEMS)] | None = None
    state: JSONObject | None = None

    def as_triples(self) -> list[tuple[str, str, Any]]:
        if self.patches is not None:
            return [(p.op, p.path, p.value) for p in self.patches]
        # Each key is one top-level key, whatever characters it holds: escape it (RFC 6901).
        return [
            ("set", "/" + key.replace("~", "~0").replace("/", "~1"), value)
            for key, value in (self.state or {}).items()
        ]


class StatusChange(Request):
    status: Name
    reason: Text | None = None


class AgentAssign(Request):
    agent_id: AgentId | None = None
    role: Name = "worker"


class AgentAssignment(Response):
    id: str
    intent_id: str
    agent_id: str
    role: str
    assigned_at: str


class AgentAssignmentList(Response):
    agents: list[AgentAssignment]
