"""Workflows (spec/federation.md §7): the SDK's `WorkflowSpec` document, run by the server
with our `dispatch_to`, `delegation_scope` and `federation_visibility` phase keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from .base import Response
from .federation import DelegationScope
from .limits import MAX_LIST_ITEMS, AgentId, Name, Text, Title, Url

MAX_PHASES = 200


class WorkflowInfo(msgspec.Struct, kw_only=True):
    name: Annotated[Title, msgspec.Meta(min_length=1)]
    description: Text = ""
    version: str | None = None


class WorkflowPhase(msgspec.Struct, kw_only=True):
    """One phase. The SDK's other phase keys (retry, leasing, inputs, ...) are tolerated
    and not acted on, as a workflow file written for the SDK must load."""

    assign: Annotated[AgentId, msgspec.Meta(min_length=1)]
    title: Title | None = None
    """Default: the phase name with `_` as spaces, title-cased (the SDK's rule)."""
    description: Text = ""
    depends_on: Annotated[list[Name], msgspec.Meta(max_length=MAX_LIST_ITEMS)] = msgspec.field(
        default_factory=list
    )
    """Phase names or titles."""
    constraints: Annotated[list[Text], msgspec.Meta(max_length=MAX_LIST_ITEMS)] = msgspec.field(
        default_factory=list
    )
    initial_state: dict[str, Any] = msgspec.field(default_factory=dict)
    dispatch_to: Url | None = None
    """A peer's URL or DID: the phase runs there (dispatched once its dependencies complete)."""
    delegation_scope: DelegationScope | None = None
    federation_visibility: Literal["public", "unlisted", "private"] | None = None


class WorkflowDocument(msgspec.Struct, kw_only=True):
    """`POST /api/v1/workflows`: the workflow YAML's content as JSON. Top-level keys the SDK
    knows and the server does not act on (agents, governance, federation, ...) are
    tolerated."""

    openintent: str | float
    """The format version (YAML may write it as a number)."""
    info: WorkflowInfo
    workflow: Annotated[
        dict[Name, WorkflowPhase], msgspec.Meta(min_length=1, max_length=MAX_PHASES)
    ]


class WorkflowPhaseView(Response):
    name: str
    title: str
    intent_id: str
    status: str
    """The phase intent's status: `blocked` while it waits for its dependencies."""
    assign: str
    depends_on: list[str]
    """Names of the phases it waits for."""
    dispatch_to: str | None = None
    dispatch_id: str | None = None
    dispatch_status: str | None = None
    federation_visibility: str | None = None


class WorkflowView(Response):
    workflow_id: str
    name: str
    description: str
    created_at: str
    phases: list[WorkflowPhaseView]
