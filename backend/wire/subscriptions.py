"""Webhook subscriptions (RFC-0006) and their deliveries."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from .base import Request, Response
from .events import Event
from .limits import MAX_LIST_ITEMS, AgentId, Name, RequiredId, Timestamp, Url

DeliveryStatus = Literal["pending", "delivered", "failed"]


class SubscriptionCreate(Request):
    """What both SDK clients send. Scope: `intent_id`, `portfolio_id`, or neither (global)."""

    intent_id: RequiredId | None = None
    portfolio_id: RequiredId | None = None
    subscriber_id: AgentId | None = None
    """Defaults to X-Agent-ID."""
    event_types: Annotated[list[Name], msgspec.Meta(max_length=MAX_LIST_ITEMS)] = msgspec.field(
        default_factory=list
    )
    """Empty means every event type."""
    webhook_url: Url | None = None
    """Without one the subscription is only recorded: nothing is pushed (use a stream)."""
    expires_at: Timestamp | None = None
    """ISO 8601; naive values are taken as UTC."""


class Subscription(Response):
    id: str
    scope: Literal["intent", "portfolio", "global"]
    intent_id: str | None
    portfolio_id: str | None
    subscriber_id: str | None
    event_types: list[str]
    webhook_url: str | None
    active: bool
    """False once expired."""
    expires_at: str | None
    created_at: str
    expiresAt: str | None
    createdAt: str


class SubscriptionCreated(Subscription):
    secret: str
    """`whsec_<base64 key>`: verifies `webhook-signature` (Standard Webhooks). Shown only once."""


class SubscriptionList(Response):
    subscriptions: list[Subscription]
    next_offset: int | None = None
    """Pass as `offset` for the next page (1000 items, or fewer at the response budget);
    null at the end."""
    next_cursor: str | None = None
    """Opaque keyset cursor for the next page (pass it back as `?cursor=`, not with an
    offset); null at the end. Its cost does not grow with the depth, unlike `offset`."""


class DeliveryAttempt(Response):
    attempt: int
    started_at: str
    status_code: int | None
    """The receiver's HTTP status; null when no response came (refused, timeout...)."""
    error: str | None
    duration_ms: float


class Delivery(Response):
    id: str
    """Also the `webhook-id` header: the same on every retry, so receivers can dedupe."""
    subscription_id: str
    global_sequence: int
    event_type: str
    intent_id: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    created_at: str
    finished_at: str | None
    attempt_log: list[DeliveryAttempt]


class DeliveryList(Response):
    deliveries: list[Delivery]
    next_cursor: int | None = None
    """Pass back as `after` (a global sequence) for the next page."""


class WebhookBody(Response):
    """What a receiver gets, exactly these two fields."""

    subscription_id: str
    event: Event
