"""The client's attachments, costs, retries, portfolios and subscriptions against a real
server."""

from __future__ import annotations

import pytest

from backend.wire.costs import CostList
from backend.wire.portfolios import PortfolioDetail
from openintent_tui.client import NotFoundError, OpenIntentClient, ValidationError
from tests.support import LiveServer


@pytest.fixture
async def oi(server: LiveServer):
    async with OpenIntentClient(server.url, server.api_key, agent_id="operator") as client:
        yield client


async def test_attachments_round_trip(oi: OpenIntentClient):
    intent = await oi.create_intent("Docs")
    stored = await oi.add_attachment(
        intent.id, "notes.txt", content=b"hello", mime_type="text/plain"
    )
    assert (stored.filename, stored.size, stored.stored) == ("notes.txt", 5, True)
    linked = await oi.add_attachment(intent.id, "spec", url="https://example.test/spec.pdf")
    assert not linked.stored and linked.storage_url == "https://example.test/spec.pdf"
    assert await oi.attachment_content(stored) == b"hello"
    assert [a.id for a in await oi.list_attachments(intent.id)] == [stored.id, linked.id]
    await oi.delete_attachment(intent.id, linked.id)
    assert [a.id for a in await oi.list_attachments(intent.id)] == [stored.id]


async def test_costs_with_budget(oi: OpenIntentClient):
    intent = await oi.create_intent(
        "Spend", constraints={"budget": {"max_total_cents": 1000, "alert_threshold_percent": 50}}
    )
    await oi.record_cost(intent.id, "llm", 300, "cents", provider="p", agent_id="worker-1")
    await oi.record_cost(intent.id, "compute", 400, "cents")
    costs = await oi.get_costs(intent.id)
    assert isinstance(costs, CostList) and len(costs.costs) == 2
    assert costs.summary.total == 700 and costs.summary.by_agent == {
        "worker-1": 300,
        "operator": 400,
    }
    budget = costs.summary.budget
    assert budget is not None
    assert (budget.limit, budget.spent, budget.remaining, budget.alerted) == (1000, 700, 300, True)


async def test_retry_policy_and_failures(oi: OpenIntentClient):
    intent = await oi.create_intent("Flaky")
    assert await oi.get_retry_policy(intent.id) is None
    policy = await oi.set_retry_policy(
        intent.id, strategy="fixed", max_retries=2, base_delay_ms=500
    )
    assert (policy.strategy, policy.max_retries) == ("fixed", 2)
    assert (await oi.get_retry_policy(intent.id)).base_delay_ms == 500
    with pytest.raises(ValidationError):
        await oi.set_retry_policy(intent.id, strategy="sometimes")
    failure = await oi.record_failure(intent.id, error_code="E1", error_message="boom")
    assert (failure.agent_id, failure.attempt_number, failure.next_retry_delay_ms) == (
        "operator",
        1,
        500,
    )
    assert [f.id for f in await oi.list_failures(intent.id)] == [failure.id]
    with pytest.raises(NotFoundError):
        await oi.list_failures("missing-intent")


async def test_portfolios(oi: OpenIntentClient):
    a = await oi.create_intent("A")
    b = await oi.create_intent("B")
    portfolio = await oi.create_portfolio("Q3", description="launch", metadata={"team": "x"})
    assert (portfolio.name, portfolio.created_by, portfolio.status) == ("Q3", "operator", "active")
    membership = await oi.add_to_portfolio(portfolio.id, a.id, role="primary", priority=2)
    assert (membership.intent_id, membership.role, membership.priority) == (a.id, "primary", 2)
    await oi.add_to_portfolio(portfolio.id, b.id)
    detail = await oi.get_portfolio(portfolio.id)
    assert isinstance(detail, PortfolioDetail)
    assert {i.id for i in detail.intents} == {a.id, b.id}
    assert detail.aggregate_status is not None and detail.aggregate_status.total == 2
    members = await oi.portfolio_intents(portfolio.id)
    assert members.aggregate_status.by_status == {"draft": 2}
    assert [p.id for p in await oi.intent_portfolios(a.id)] == [portfolio.id]
    await oi.remove_from_portfolio(portfolio.id, b.id)
    assert [i.id for i in (await oi.get_portfolio(portfolio.id)).intents] == [a.id]
    assert [p.id for p in await oi.list_portfolios()] == [portfolio.id]
    done = await oi.set_portfolio_status(portfolio.id, "abandoned")
    assert done.status == "abandoned"


async def test_subscriptions(oi: OpenIntentClient):
    intent = await oi.create_intent("Watched")
    created = await oi.subscribe(intent_id=intent.id, event_types=["comment"])
    assert created.secret and created.scope == "intent" and created.subscriber_id == "operator"
    assert [s.id for s in await oi.list_subscriptions(intent_id=intent.id)] == [created.id]
    assert (await oi.get_subscription(created.id)).event_types == ["comment"]
    assert (await oi.deliveries(created.id)).deliveries == []
    await oi.unsubscribe(created.id)
    with pytest.raises(NotFoundError):
        await oi.get_subscription(created.id)
