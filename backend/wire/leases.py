"""Leases (RFC-0003): exclusive, expiring ownership of one scope of an intent."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from .base import Request, Response
from .limits import AgentId, Int64, Text

LeaseStatus = Literal["active", "released", "expired", "revoked"]


class Lease(Response):
    id: str
    intent_id: str
    agent_id: str
    """The holder: the acquiring request's X-Agent-ID (never the API key)."""
    scope: str
    status: LeaseStatus
    """Judged by the server clock when the response is made: a lapsed lease says `expired`."""
    acquired_at: str
    created_at: str
    """Same as acquired_at; the SDK reads either name."""
    expires_at: str
    released_at: str | None = None
    """When it stopped holding: released, revoked, or marked expired."""
    renewed_at: str | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None


class LeaseAcquire(Request):
    scope: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    """A top-level state key."""
    duration_seconds: Int64 = 300
    """1 to max_lease_seconds."""
    agent_id: AgentId | None = None
    """Only when no X-Agent-ID header is sent; must match it otherwise."""


class LeaseRenew(Request):
    duration_seconds: Int64 = 300
    """The new lifetime, counted from now."""


class LeaseRevoke(Request):
    reason: Text


class LeaseList(Response):
    leases: list[Lease]
    next_cursor: str | None = None
    """Opaque keyset cursor for the page after this one (`?cursor=`, same filters); null
    at the end. A page holds at most `limit` leases."""
