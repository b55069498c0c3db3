"""The official SDK's cost methods, sync and async, against our server."""

from __future__ import annotations

import pytest
from openintent import NotFoundError, ValidationError

from tests.interop.test_sdk_core import AGENT, new_intent, sdk  # noqa: F401 (fixture)


def test_record_cost_and_get_costs_with_summary(sdk):  # noqa: F811
    intent = new_intent(sdk, constraints={"budget": {"max_total_cents": 100}})
    cost = sdk.record_cost(
        intent.id, "tokens", 1500, "tokens", provider="openai", metadata={"model": "gpt-4"}
    )
    assert cost.id and cost.intent_id == intent.id
    # the async client sends no agent_id: the X-Agent-ID header names the agent
    assert cost.agent_id == AGENT
    assert (cost.cost_type, cost.amount, cost.unit, cost.provider) == (
        "tokens",
        1500,
        "tokens",
        "openai",
    )
    assert cost.metadata == {"model": "gpt-4"}
    assert cost.recorded_at is not None and cost.recorded_at.tzinfo is not None
    sdk.record_cost(intent.id, "api_call", 90, "cents")

    costs, summary = sdk.get_costs(intent.id)
    assert costs[0].id == cost.id and len(costs) == 2
    assert summary.total == 1590
    assert summary.by_type == {"tokens": 1500, "api_call": 90}
    assert summary.by_agent == {AGENT: 1590}
    # crossing the budget's alert threshold is logged with a type the SDK can read
    types = [e.event_type.value for e in sdk.get_events(intent.id)]
    assert types.count("comment") == 1


def test_cost_errors_map_to_sdk_exceptions(sdk):  # noqa: F811
    with pytest.raises(NotFoundError):
        sdk.record_cost("missing", "tokens", 1, "tokens")
    with pytest.raises(NotFoundError):
        sdk.get_costs("missing")
    intent = new_intent(sdk)
    with pytest.raises(ValidationError):
        sdk.record_cost(intent.id, "tokens", -5, "tokens")
