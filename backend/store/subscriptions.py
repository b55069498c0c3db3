"""The live-events part of the Store contract: webhook subscriptions, their outbox, and the
lookups streams need to know which events are theirs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

import msgspec

from ..wire.events import Event
from ..wire.subscriptions import DeliveryList, Subscription, SubscriptionCreate
from .keyset import Slice


class DueDelivery(msgspec.Struct, frozen=True):
    """A pending outbox row with everything the worker needs to send it (internal)."""

    id: str
    subscription_id: str
    webhook_url: str
    secret: str
    attempts: int
    event: Event


AttemptResult = Literal["delivered", "retry", "failed"]


class AttemptOutcome(msgspec.Struct, frozen=True):
    """What one send did, and what happens next (computed by the worker's retry policy)."""

    started_at: str
    duration_ms: float
    status_code: int | None
    error: str | None
    result: AttemptResult
    next_attempt_at: float | None = None
    """Unix time of the next try when `result` is "retry"."""


class SubscriptionStore(ABC):
    @abstractmethod
    async def create_subscription(
        self, data: SubscriptionCreate, subscriber_id: str | None, secret: str
    ) -> Subscription:
        """404 when the scoped intent or portfolio does not exist."""

    @abstractmethod
    async def get_subscription(self, subscription_id: str) -> Subscription: ...

    @abstractmethod
    async def list_subscriptions(
        self,
        *,
        intent_id: str | None = None,
        portfolio_id: str | None = None,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
        cursor: str | None = None,
    ) -> Slice[Subscription]:
        """Oldest first.
        Paged: see `store.sqlite.core.read_keyset`."""

    @abstractmethod
    async def delete_subscription(self, subscription_id: str) -> None:
        """Also drops its outbox: nothing more is sent."""

    @abstractmethod
    async def list_deliveries(
        self, subscription_id: str, *, after: int = 0, limit: int = 100
    ) -> DeliveryList:
        """Oldest event first, each with its attempts."""

    @abstractmethod
    async def due_deliveries(self, now: float, limit: int) -> list[DueDelivery]:
        """Pending deliveries whose next attempt is due, earliest first."""

    @abstractmethod
    async def next_delivery_due(self) -> float | None:
        """Unix time of the earliest pending attempt, None when nothing is pending."""

    async def shared_webhook_targets(self) -> bool | None:
        """Whether a subscription with a webhook URL exists, on a store several servers
        share (asked about once a second while the worker knows of none: it may have been
        made through another server). None: only this server writes this store, and the
        worker's `refresh()` after each subscription change is exact."""
        return None

    @abstractmethod
    async def record_attempt(self, delivery_id: str, outcome: AttemptOutcome) -> None: ...

    @abstractmethod
    async def agent_intent_ids(self, agent_id: str) -> list[str]:
        """Intents the agent is assigned to (the agent stream's scope)."""

    @abstractmethod
    async def latest_global_sequence(self) -> int:
        """The head of the log, 0 when empty: where a live-only stream starts."""
