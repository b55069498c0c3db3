"""Attachments (RFC-0005), costs (RFC-0009), retry policies and failures (RFC-0010),
portfolios (RFC-0007), webhook subscriptions (RFC-0006)."""

from __future__ import annotations

import base64
from typing import Any

from backend.wire.attachments import Attachment, AttachmentList
from backend.wire.costs import Cost, CostList
from backend.wire.portfolios import (
    Membership,
    Portfolio,
    PortfolioDetail,
    PortfolioIntents,
    PortfolioList,
)
from backend.wire.retries import Failure, FailureList, RetryPolicy
from backend.wire.subscriptions import (
    DeliveryList,
    Subscription,
    SubscriptionCreated,
    SubscriptionList,
)

from .base import API, BaseClient
from .errors import NotFoundError, Unavailable


class ResourcesAPI(BaseClient):
    # -- attachments -----------------------------------------------------------------------
    async def list_attachments(self, intent_id: str) -> list[Attachment]:
        page = await self.fetch("GET", f"{API}/intents/{intent_id}/attachments", AttachmentList)
        return page.attachments

    async def add_attachment(
        self,
        intent_id: str,
        filename: str,
        *,
        content: bytes | None = None,
        url: str | None = None,
        mime_type: str = "application/octet-stream",
        metadata: dict[str, Any] | None = None,
        size: int | None = None,
    ) -> Attachment:
        """Upload `content` (stored by the server) or reference `url` (of `size` bytes, when
        known). (`capabilities.store_attachments`: `Unavailable` for content without it.)"""
        body: dict[str, Any] = {"filename": filename, "mime_type": mime_type}
        if content is not None:
            body["content"] = base64.b64encode(content).decode()
            size = len(content)
        body["size"] = size or 0
        if url is not None:
            body["storage_url"] = url
        if metadata is not None:
            body["metadata"] = metadata
        return await self.fetch(
            "POST", f"{API}/intents/{intent_id}/attachments", Attachment, body=body
        )

    async def attachment_content(self, attachment: Attachment) -> bytes:
        """The stored bytes of an attachment this server holds. A URL reference is not
        fetched: that would send this server's API key to whatever host the URL names."""
        if not attachment.stored:
            raise Unavailable(
                0, f"{attachment.filename} is not stored here: see {attachment.storage_url}"
            )
        return (await self.request("GET", attachment.storage_url)).content

    async def delete_attachment(self, intent_id: str, attachment_id: str) -> None:
        await self.request("DELETE", f"{API}/intents/{intent_id}/attachments/{attachment_id}")

    # -- costs -----------------------------------------------------------------------------
    async def record_cost(
        self,
        intent_id: str,
        cost_type: str,
        amount: float,
        unit: str,
        *,
        provider: str | None = None,
        metadata: dict[str, Any] | None = None,
        agent_id: str | None = None,
    ) -> Cost:
        body: dict[str, Any] = {"cost_type": cost_type, "amount": amount, "unit": unit}
        if provider is not None:
            body["provider"] = provider
        if metadata is not None:
            body.update(self._cost_metadata(metadata))
        body["agent_id"] = agent_id or self.agent_id
        return await self.fetch(
            "POST", f"{API}/intents/{intent_id}/costs", Cost, body=body, agent_id=agent_id
        )

    def _cost_metadata(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """How a cost's metadata is sent (a dialect may name it differently)."""
        return {"metadata": metadata}

    async def get_costs(self, intent_id: str) -> CostList:
        """The intent's costs with their summary (and budget, when the intent sets one)."""
        return await self.fetch("GET", f"{API}/intents/{intent_id}/costs", CostList)

    # -- retry policy and failures ---------------------------------------------------------
    async def get_retry_policy(self, intent_id: str) -> RetryPolicy | None:
        try:
            return await self.fetch("GET", f"{API}/intents/{intent_id}/retry-policy", RetryPolicy)
        except NotFoundError:
            return None  # no policy set (the intent itself may still exist)

    async def set_retry_policy(self, intent_id: str, **fields: Any) -> RetryPolicy:
        """Replace the policy: strategy, max_retries, base_delay_ms, max_delay_ms,
        fallback_agent_id, failure_threshold."""
        return await self.fetch(
            "PUT", f"{API}/intents/{intent_id}/retry-policy", RetryPolicy, body=fields
        )

    async def delete_retry_policy(self, intent_id: str) -> None:
        await self.request("DELETE", f"{API}/intents/{intent_id}/retry-policy")

    async def record_failure(self, intent_id: str, **fields: Any) -> Failure:
        """agent_id, attempt_number, error_code, error_message, recoverable, metadata..."""
        fields.setdefault("agent_id", self.agent_id)
        return await self.fetch("POST", f"{API}/intents/{intent_id}/failures", Failure, body=fields)

    async def list_failures(self, intent_id: str) -> list[Failure]:
        page = await self.fetch("GET", f"{API}/intents/{intent_id}/failures", FailureList)
        return page.failures

    # -- portfolios ------------------------------------------------------------------------
    async def list_portfolios(self, created_by: str | None = None) -> list[Portfolio]:
        page = await self.fetch(
            "GET",
            f"{API}/portfolios",
            PortfolioList,
            params={"created_by": created_by},
        )
        return page.portfolios

    async def create_portfolio(
        self,
        name: str,
        description: str | None = None,
        governance_policy: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Portfolio:
        body: dict[str, Any] = {"name": name, "created_by": self.agent_id}
        for key, value in (
            ("description", description),
            ("governance_policy", governance_policy),
            ("metadata", metadata),
        ):
            if value is not None:
                body[key] = value
        return await self.fetch("POST", f"{API}/portfolios", Portfolio, body=body)

    async def get_portfolio(self, portfolio_id: str) -> PortfolioDetail:
        """The portfolio with its member intents and aggregate progress."""
        return await self.fetch("GET", f"{API}/portfolios/{portfolio_id}", PortfolioDetail)

    async def portfolio_intents(self, portfolio_id: str) -> PortfolioIntents:
        return await self.fetch("GET", f"{API}/portfolios/{portfolio_id}/intents", PortfolioIntents)

    async def set_portfolio_status(
        self, portfolio_id: str, status: str, reason: str | None = None
    ) -> Portfolio:
        body: dict[str, Any] = {"status": status}
        if reason is not None:
            body["reason"] = reason
        return await self.fetch(
            "PATCH", f"{API}/portfolios/{portfolio_id}/status", Portfolio, body=body
        )

    async def add_to_portfolio(
        self, portfolio_id: str, intent_id: str, role: str = "member", priority: int = 0
    ) -> Membership:
        body = {"intent_id": intent_id, "role": role, "priority": priority}
        return await self.fetch(
            "POST", f"{API}/portfolios/{portfolio_id}/intents", Membership, body=body
        )

    async def remove_from_portfolio(self, portfolio_id: str, intent_id: str) -> None:
        await self.request("DELETE", f"{API}/portfolios/{portfolio_id}/intents/{intent_id}")

    async def intent_portfolios(self, intent_id: str) -> list[Portfolio]:
        page = await self.fetch("GET", f"{API}/intents/{intent_id}/portfolios", PortfolioList)
        return page.portfolios

    # -- webhook subscriptions -------------------------------------------------------------
    async def subscribe(
        self,
        webhook_url: str | None = None,
        *,
        intent_id: str | None = None,
        portfolio_id: str | None = None,
        event_types: list[str] | None = None,
        expires_at: str | None = None,
    ) -> SubscriptionCreated:
        """Scope: an intent, a portfolio, or neither (everything). The returned `secret`
        verifies webhook signatures and is shown only this once."""
        body = {
            "webhook_url": webhook_url,
            "intent_id": intent_id,
            "portfolio_id": portfolio_id,
            "event_types": event_types or [],
            "expires_at": expires_at,
        }
        return await self.fetch(
            "POST",
            f"{API}/subscriptions",
            SubscriptionCreated,
            body={k: v for k, v in body.items() if v is not None},
        )

    async def list_subscriptions(
        self, intent_id: str | None = None, portfolio_id: str | None = None
    ) -> list[Subscription]:
        page = await self.fetch(
            "GET",
            f"{API}/subscriptions",
            SubscriptionList,
            params={"intent_id": intent_id, "portfolio_id": portfolio_id},
        )
        return page.subscriptions

    async def get_subscription(self, subscription_id: str) -> Subscription:
        return await self.fetch("GET", f"{API}/subscriptions/{subscription_id}", Subscription)

    async def unsubscribe(self, subscription_id: str) -> None:
        await self.request("DELETE", f"{API}/subscriptions/{subscription_id}")

    async def deliveries(
        self, subscription_id: str, after: int = 0, limit: int = 100
    ) -> DeliveryList:
        return await self.fetch(
            "GET",
            f"{API}/subscriptions/{subscription_id}/deliveries",
            DeliveryList,
            params={"after": after, "limit": limit},
        )
