"""Intents (RFC-0001), their graph links (RFC-0002) and agent assignments."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .base import JSONObject, Request, Response


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
    title: str
    description: str | None = ""
    constraints: JSONObject = msgspec.field(default_factory=dict)
    state: JSONObject = msgspec.field(default_factory=dict)
    created_by: str | None = None
    parent_intent_id: str | None = None
    parent_id: str | None = None
    """Alias of parent_intent_id, as the reference server names it."""
    depends_on: list[str] = msgspec.field(default_factory=list)
    governance_policy: JSONObject | None = None
    status: Literal["draft", "active"] = "draft"
    confidence: int = 0


class IntentList(Response):
    intents: list[Intent]
    total: int
    limit: int = 50
    offset: int = 0


class ChildIntents(Response):
    children: list[Intent]


class IntentDependencies(Response):
    dependencies: list[Intent]


class PatchOp(Request):
    op: str
    path: str
    value: Any = None


class StatePatch(Request):
    """`{"patches": [...]}` as the SDK sends, or `{"state": {...}}` to set top-level keys."""

    patches: list[PatchOp] | None = None
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
    status: str
    reason: str | None = None


class AgentAssign(Request):
    agent_id: str | None = None
    role: str = "worker"


class AgentAssignment(Response):
    id: str
    intent_id: str
    agent_id: str
    role: str
    assigned_at: str


class AgentAssignmentList(Response):
    agents: list[AgentAssignment]
