"""The official SDK's portfolio methods, sync and async, against our server."""

from __future__ import annotations

import pytest
from openintent import (
    ConflictError,
    IntentStatus,
    LeaseConflictError,
    MembershipRole,
    NotFoundError,
    PortfolioStatus,
    ValidationError,
)

from tests.interop.test_sdk_core import AGENT, new_intent, sdk  # noqa: F401 (fixture)


def test_create_get_list_and_update_portfolios(sdk):  # noqa: F811
    portfolio = sdk.create_portfolio("Launch")  # description None, as the SDK defaults it
    assert portfolio.id and portfolio.name == "Launch" and portfolio.description is None
    assert portfolio.created_by == AGENT and portfolio.status is PortfolioStatus.ACTIVE
    assert portfolio.metadata == {} and portfolio.governance_policy == {}
    assert portfolio.created_at is not None and portfolio.created_at.tzinfo is not None
    other = sdk.create_portfolio("Other", "desc", {"auto_complete_threshold": 50}, {"k": 1})
    assert other.metadata == {"k": 1} and other.governance_policy["auto_complete_threshold"] == 50

    assert [p.id for p in sdk.list_portfolios()] == [portfolio.id, other.id]
    assert [p.id for p in sdk.list_portfolios(created_by=AGENT)] == [portfolio.id, other.id]
    assert sdk.list_portfolios(created_by="nobody") == []

    updated = sdk.update_portfolio_status(portfolio.id, PortfolioStatus.ABANDONED)
    assert updated.status is PortfolioStatus.ABANDONED
    assert sdk.get_portfolio(portfolio.id).status is PortfolioStatus.ABANDONED


def test_memberships_aggregate_and_intent_portfolios(sdk):  # noqa: F811
    portfolio = sdk.create_portfolio(
        "Launch", governance_policy={"shared_constraints": {"region": "eu"}}
    )
    one, two = new_intent(sdk, "One"), new_intent(sdk, "Two")
    membership = sdk.add_intent_to_portfolio(portfolio.id, one.id, MembershipRole.PRIMARY, 9)
    assert membership.id and membership.portfolio_id == portfolio.id
    assert membership.intent_id == one.id and membership.role is MembershipRole.PRIMARY
    assert membership.priority == 9 and membership.added_at.tzinfo is not None
    sdk.add_intent_to_portfolio(portfolio.id, two.id)
    sdk.set_status(two.id, 1, IntentStatus.ACTIVE)
    sdk.set_status(two.id, 2, IntentStatus.COMPLETED)

    detail = sdk.get_portfolio(portfolio.id)
    assert [i.id for i in detail.intents] == [one.id, two.id]
    assert detail.intents[0].constraints == {"region": "eu"}
    assert detail.aggregate_status.total == 2
    assert detail.aggregate_status.by_status == {"draft": 1, "completed": 1}
    assert detail.aggregate_status.completion_percentage == 50

    intents, aggregate = sdk.get_portfolio_intents(portfolio.id)
    assert [i.id for i in intents] == [one.id, two.id]
    assert aggregate.completion_percentage == 50
    assert [p.id for p in sdk.get_intent_portfolios(one.id)] == [portfolio.id]

    sdk.remove_intent_from_portfolio(portfolio.id, one.id)
    assert sdk.get_intent_portfolios(one.id) == []
    types = [e.event_type.value for e in sdk.get_events(one.id)]
    assert types[-2:] == ["added_to_portfolio", "removed_from_portfolio"]


def test_governance_completes_the_portfolio_through_sdk_calls(sdk):  # noqa: F811
    portfolio = sdk.create_portfolio("Auto", governance_policy={"require_all_completed": True})
    intent = new_intent(sdk)
    sdk.add_intent_to_portfolio(portfolio.id, intent.id)
    sdk.set_status(intent.id, 1, IntentStatus.ACTIVE)
    sdk.set_status(intent.id, 2, IntentStatus.COMPLETED)
    assert sdk.get_portfolio(portfolio.id).status is PortfolioStatus.COMPLETED


def test_portfolio_errors_map_to_sdk_exceptions(sdk):  # noqa: F811
    portfolio = sdk.create_portfolio("Errors")
    intent = new_intent(sdk)
    sdk.add_intent_to_portfolio(portfolio.id, intent.id)
    with pytest.raises(ConflictError) as caught:
        sdk.add_intent_to_portfolio(portfolio.id, intent.id)
    assert not isinstance(caught.value, LeaseConflictError)
    with pytest.raises(NotFoundError):
        sdk.add_intent_to_portfolio(portfolio.id, "missing")
    with pytest.raises(NotFoundError):
        sdk.add_intent_to_portfolio("missing", intent.id)
    with pytest.raises(NotFoundError):
        sdk.get_portfolio("missing")
    with pytest.raises(NotFoundError):
        sdk.get_portfolio_intents("missing")
    with pytest.raises(NotFoundError):
        sdk.remove_intent_from_portfolio("missing", intent.id)
    with pytest.raises(NotFoundError):
        sdk.update_portfolio_status("missing", PortfolioStatus.COMPLETED)
    with pytest.raises(NotFoundError):
        sdk.get_intent_portfolios("missing")
    with pytest.raises(ValidationError):
        sdk.create_portfolio("")
