"""RFC-0010 retry policies and failure records."""

from __future__ import annotations

from typing import Annotated

import msgspec

from .base import JSONObject, Request, Response
from .limits import AgentId, Int64, Name, Text, Timestamp


class RetryPolicy(Response):
    id: str
    intent_id: str
    strategy: str
    """none | fixed | exponential | linear"""
    max_retries: int
    base_delay_ms: int
    max_delay_ms: int
    fallback_agent_id: str | None
    failure_threshold: int
    """After this many failures on the intent, the fallback agent (if any) is assigned."""
    created_at: str
    updated_at: str
    created_at_camel: str = msgspec.field(name="createdAt", default="")
    updated_at_camel: str = msgspec.field(name="updatedAt", default="")


class RetryPolicySet(Request):
    """PUT replaces the whole policy; omitted fields take these defaults (the sync SDK's)."""

    strategy: Name = "exponential"
    max_retries: Int64 = 3
    base_delay_ms: Int64 = 1000
    max_delay_ms: Int64 = 60000
    fallback_agent_id: AgentId | None = None
    failure_threshold: Int64 = 3


class Failure(Response):
    id: str
    intent_id: str
    agent_id: str | None
    attempt_number: int
    error_code: str | None
    error_message: str | None
    recoverable: bool
    retry_scheduled_at: str | None
    """Given by the agent, or `created_at` + `next_retry_delay_ms` when the policy retries."""
    next_retry_delay_ms: int | None
    """What the intent's retry policy gives for this failure; null = no retry (no policy,
    strategy none, retries exhausted, or not recoverable)."""
    retries_exhausted: bool
    fallback_agent_id: str | None
    """Set on the failure that reached the policy's failure_threshold and assigned it."""
    metadata: JSONObject
    created_at: str
    created_at_camel: str = msgspec.field(name="createdAt", default="")
    retry_scheduled_at_camel: str | None = msgspec.field(name="retryScheduledAt", default=None)


class FailureCreate(Request):
    """Sync SDK `{agent_id, attempt_number, error_code, error_message, retry_scheduled_at,
    metadata}`; async SDK `{error_type, error_message, recoverable, metadata}`. Without
    `attempt_number` the failure is the intent's next attempt."""

    agent_id: AgentId | None = None
    attempt_number: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    error_code: Name | None = None
    error_type: Name | None = None
    error_message: Text | None = None
    recoverable: bool = True
    retry_scheduled_at: Timestamp | None = None
    metadata: JSONObject | None = None


class FailureList(Response):
    failures: list[Failure]
    next_offset: int | None = None
    """Pass as `offset` for the next page (1000 items, or fewer at the response budget);
    null at the end."""
