"""Webhook subscriptions (RFC-0006): create, list, delete, and see every delivery attempt.

Creation checks the webhook URL with the egress guard (the same check runs again at each
delivery, against the address actually connected to) and returns the signing secret once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Annotated

import msgspec
from litestar import Controller, Litestar, Request, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from ..domain.clock import parse_iso, utc_now
from ..domain.errors import InvalidInput
from ..outbound.delivery import RetryPolicy, WebhookWorker
from ..outbound.egress import EgressPolicy, EgressRefused, post_client
from ..outbound.signing import new_secret
from ..store import Store
from ..wire.events import EVENT_TYPES, event_type_error_detail
from ..wire.limits import MAX_PAGE
from ..wire.subscriptions import (
    DeliveryList,
    Subscription,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionList,
)
from .openapi import errors
from .params import AgentIdHeader, Cursor, Limit, Offset, Sequence, page_of

CAPABILITIES = ["subscriptions", "webhooks"]


async def validate_subscription(data: SubscriptionCreate, egress: EgressPolicy) -> None:
    if data.intent_id and data.portfolio_id:
        raise InvalidInput(
            "A subscription has one scope: set intent_id, portfolio_id, or neither (global)",
            errors=[{"field": "portfolio_id"}],
        )
    unknown = sorted(set(data.event_types) - EVENT_TYPES)
    if unknown:
        raise InvalidInput(
            f"Unknown event_types {', '.join(unknown)}; see `errors` for the allowed values",
            errors=[{**event_type_error_detail(), "field": "event_types"}],
        )
    if data.expires_at:
        try:
            expires = parse_iso(data.expires_at)
        except ValueError:
            raise InvalidInput(
                f"expires_at must be an ISO 8601 timestamp, not {data.expires_at!r}",
                errors=[{"field": "expires_at"}],
            ) from None
        if expires <= utc_now():
            raise InvalidInput("expires_at is in the past", errors=[{"field": "expires_at"}])
    if data.webhook_url is not None:
        try:
            await egress.check(data.webhook_url)
        except EgressRefused as exc:
            raise InvalidInput(
                f"webhook_url refused: {exc}", errors=[{"field": "webhook_url"}]
            ) from None


class SubscriptionController(Controller):
    path = "/subscriptions"
    tags = ["subscriptions"]

    @post(
        "",
        status_code=HTTP_201_CREATED,
        summary="Create a subscription",
        responses=errors(404),  # the intent or portfolio the body names does not exist
    )
    async def create(
        self,
        state: State,
        store: NamedDependency[Store],
        data: JSONBody[SubscriptionCreate],
        agent_id: AgentIdHeader = None,
    ) -> SubscriptionCreated:
        await validate_subscription(data, state.egress)
        secret = new_secret()
        created = await store.create_subscription(data, data.subscriber_id or agent_id, secret)
        await state.webhook_worker.refresh()
        return SubscriptionCreated(**msgspec.structs.asdict(created), secret=secret)

    @get("", summary="List subscriptions (secrets are never shown again)")
    async def list_subscriptions(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: Annotated[str | None, QueryParameter()] = None,
        portfolio_id: Annotated[str | None, QueryParameter()] = None,
        offset: Offset = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = MAX_PAGE,
        cursor: Cursor = None,
    ) -> SubscriptionList:
        fetch = partial(store.list_subscriptions, intent_id=intent_id, portfolio_id=portfolio_id)
        page = await page_of(fetch, request, offset, limit, cursor)
        return SubscriptionList(
            subscriptions=page.items, next_offset=page.next_offset, next_cursor=page.next_cursor
        )

    @get("/{subscription_id:str}", summary="One subscription")
    async def get_subscription(
        self, store: NamedDependency[Store], subscription_id: FromPath[str]
    ) -> Subscription:
        return await store.get_subscription(subscription_id)

    @delete(
        "/{subscription_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a subscription and its pending deliveries",
    )
    async def remove(
        self, state: State, store: NamedDependency[Store], subscription_id: FromPath[str]
    ) -> None:
        await store.delete_subscription(subscription_id)
        await state.webhook_worker.refresh()

    @get("/{subscription_id:str}/deliveries", summary="Deliveries and their attempts")
    async def deliveries(
        self,
        store: NamedDependency[Store],
        subscription_id: FromPath[str],
        after: Sequence = 0,
        limit: Limit = 100,
    ) -> DeliveryList:
        return await store.list_deliveries(subscription_id, after=after, limit=limit)


@asynccontextmanager
async def webhook_lifespan(app: Litestar) -> AsyncIterator[None]:
    """The egress policy and the delivery worker, with its shared HTTP client."""
    settings = app.state.settings
    store: Store = app.state.store
    egress = EgressPolicy(settings.egress_cidrs)
    async with post_client(
        settings.webhook_timeout_seconds, settings.webhook_concurrency, "openintent-tui-webhooks"
    ) as client:
        worker = WebhookWorker(
            store,
            client,
            egress,
            RetryPolicy(
                max_attempts=settings.webhook_max_attempts,
                base_seconds=settings.webhook_retry_base_seconds,
                max_seconds=settings.webhook_retry_max_seconds,
            ),
            concurrency=settings.webhook_concurrency,
            max_response_bytes=settings.webhook_max_response_bytes,
        )
        store.add_commit_listener(worker.on_commit)
        app.state.egress = egress
        app.state.webhook_worker = worker
        task = asyncio.create_task(worker.run(), name="webhook-worker")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


CONTROLLERS = [SubscriptionController]
LIFESPANS = [webhook_lifespan]
