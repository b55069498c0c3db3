"""The pure portfolio and budget rules."""

from __future__ import annotations

import pytest

from backend.domain.budgets import Budget, CostLine, budget_of, thresholds_reached, totals
from backend.domain.errors import InvalidInput
from backend.domain.portfolios import (
    aggregate_status,
    check_governance_policy,
    check_portfolio_status,
    check_role,
    completion_due,
    merge_constraints,
)


def test_aggregate_counts_statuses_and_floors_the_percentage():
    aggregate = aggregate_status(["completed", "completed", "active"])
    assert aggregate["total"] == 3
    assert aggregate["by_status"] == {"completed": 2, "active": 1}
    assert aggregate["completion_percentage"] == 66
    assert aggregate_status([])["completion_percentage"] == 0
    suspended = aggregate_status(["suspended_awaiting_input", "active"])
    assert suspended["has_suspended_members"] is True
    assert suspended["suspended_member_count"] == 1


@pytest.mark.parametrize(
    "policy, statuses, due",
    [
        ({}, ["completed"], False),
        ({"require_all_completed": True}, [], False),
        ({"require_all_completed": True}, ["completed", "active"], False),
        ({"require_all_completed": True}, ["completed", "completed"], True),
        ({"require_all_completed": False}, ["completed"], False),
        ({"auto_complete_threshold": 50}, ["completed", "active"], True),
        ({"auto_complete_threshold": 67}, ["completed", "completed", "active"], False),
        ({"auto_complete_threshold": 66}, ["completed", "completed", "active"], True),
        ({"auto_complete_threshold": 50, "require_all_completed": True}, ["completed", "x"], False),
    ],
)
def test_completion_due(policy, statuses, due):
    assert completion_due(policy, statuses) is due


def test_shared_constraints_merge_under_the_intents_own():
    shared = {"deadline": "2026-03-31", "budget": {"max_total_cents": 100, "unit": "cents"}}
    own = {"budget": {"max_total_cents": 50}, "region": "eu"}
    assert merge_constraints(shared, own) == {
        "deadline": "2026-03-31",
        "budget": {"max_total_cents": 50, "unit": "cents"},
        "region": "eu",
    }
    assert shared == {"deadline": "2026-03-31", "budget": {"max_total_cents": 100, "unit": "cents"}}
    assert merge_constraints(None, {"a": 1}) == {"a": 1}


def test_validation_of_status_role_and_policy():
    check_portfolio_status("abandoned")
    check_role("dependency")
    check_governance_policy({"require_all_completed": True, "auto_complete_threshold": 100})
    for call in (
        lambda: check_portfolio_status("done"),
        lambda: check_role("owner"),
        lambda: check_governance_policy({"require_all_completed": "yes"}),
        lambda: check_governance_policy({"auto_complete_threshold": 0}),
        lambda: check_governance_policy({"auto_complete_threshold": 101}),
        lambda: check_governance_policy({"auto_complete_threshold": True}),
        lambda: check_governance_policy({"shared_constraints": []}),
    ):
        with pytest.raises(InvalidInput):
            call()


def test_budget_forms_and_thresholds():
    assert budget_of({"budget": {"max_total_cents": 100}}) == Budget(100, "cents", 80)
    assert budget_of({"budget": {"max_total": 5, "unit": "tokens", "alert_threshold_percent": 10}})
    assert budget_of({"budget": {"max_total": 5}}) is None
    assert budget_of({"budget": 5}) is None
    assert budget_of({}) is None
    assert budget_of({"budget": {"max_total_cents": 1, "alert_threshold_percent": 500}}) == Budget(
        1, "cents", 80
    )
    budget = Budget(100, "cents", 80)
    assert thresholds_reached(budget, 79) == []
    assert thresholds_reached(budget, 80) == ["alert"]
    assert thresholds_reached(budget, 100) == ["alert"]
    assert thresholds_reached(budget, 100.5) == ["alert", "exceeded"]


def test_totals_add_per_unit_type_and_agent():
    lines = [
        CostLine("a", "tokens", 10, "tokens"),
        CostLine(None, "api_call", 0.1, "cents"),
        CostLine("a", "api_call", 0.2, "cents"),
    ]
    summary = totals(lines)
    assert summary["by_unit"] == {"tokens": 10, "cents": 0.3}
    assert summary["by_agent"] == {"a": 10.2, "unknown": 0.1}
    assert summary["total"] == 10.3 and summary["count"] == 3
