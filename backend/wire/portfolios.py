"""RFC-0007 portfolios and their memberships."""

from __future__ import annotations

from typing import Annotated

import msgspec

from .base import JSONObject, Request, Response
from .intents import Intent
from .limits import AgentId, Name, RequiredId, Text, Title


class Portfolio(Response):
    id: str
    name: str
    description: str | None
    created_by: str | None
    status: str
    """active | completed | abandoned"""
    governance_policy: JSONObject
    metadata: JSONObject
    created_at: str
    updated_at: str
    created_at_camel: str = msgspec.field(name="createdAt", default="")
    updated_at_camel: str = msgspec.field(name="updatedAt", default="")


class AggregateStatus(Response):
    total: int
    by_status: dict[str, int]
    completion_percentage: int
    """completed * 100 // total, 0 for an empty portfolio."""
    has_suspended_members: bool = False
    suspended_member_count: int = 0


class Membership(Response):
    id: str
    portfolio_id: str
    intent_id: str
    role: str
    """primary | member | dependency"""
    priority: int
    added_at: str


class PortfolioDetail(Portfolio):
    """The portfolio with its members; each intent's constraints include the policy's
    `shared_constraints` (the intent's own values win)."""

    intents: list[Intent] = msgspec.field(default_factory=list)
    aggregate_status: AggregateStatus | None = None
    memberships: list[Membership] = msgspec.field(default_factory=list)
    next_offset: int | None = None
    """Members are paged (1000, or fewer at the response budget): pass as `offset` for more.
    `aggregate_status` always counts every member."""


class PortfolioCreate(Request):
    name: Title
    description: Text | None = None
    created_by: AgentId | None = None
    governance_policy: JSONObject | None = None
    metadata: JSONObject | None = None


class PortfolioList(Response):
    portfolios: list[Portfolio]
    next_offset: int | None = None
    """Pass as `offset` for the next page (1000 items, or fewer at the response budget);
    null at the end."""
    next_cursor: str | None = None
    """Opaque keyset cursor for the next page (pass it back as `?cursor=`, not with an
    offset); null at the end. Its cost does not grow with the depth, unlike `offset`."""


class PortfolioStatusChange(Request):
    status: Name
    reason: Text | None = None


MAX_PRIORITY = 1_000_000


class MembershipCreate(Request):
    intent_id: RequiredId
    role: Name = "member"
    """primary | member | dependency"""
    priority: Annotated[int, msgspec.Meta(ge=-MAX_PRIORITY, le=MAX_PRIORITY)] = 0
    """Higher first in the portfolio's member list."""


class PortfolioIntents(Response):
    intents: list[Intent]
    aggregate_status: AggregateStatus
    memberships: list[Membership]
    next_offset: int | None = None
    """As in PortfolioDetail."""
