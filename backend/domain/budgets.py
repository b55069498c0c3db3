"""RFC-0009 cost summaries and budgets.

A budget lives in the intent's constraints, as RFC-0009 writes it:
`{"budget": {"max_total_cents": 10000, "alert_threshold_percent": 80}}`, which is a limit
of 10000 in unit `cents`. Other units use the generic form `{"budget": {"max_total": 50000,
"unit": "tokens"}}`. Only costs recorded in the budget's unit count against it; units are
never converted. The alert threshold defaults to 80 %.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

DEFAULT_ALERT_THRESHOLD_PERCENT = 80
ALERT = "alert"
EXCEEDED = "exceeded"

Amount = int | float


class Budget(msgspec.Struct, frozen=True):
    limit: Amount
    unit: str
    alert_threshold_percent: Amount = DEFAULT_ALERT_THRESHOLD_PERCENT


class CostLine(msgspec.Struct, frozen=True):
    agent_id: str | None
    cost_type: str
    amount: Amount
    unit: str


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def budget_of(constraints: dict[str, Any] | None) -> Budget | None:
    """The budget an intent's constraints set, or None (also for a malformed one: constraints
    are free-form, and a typo there must not make recording a cost fail)."""
    raw = (constraints or {}).get("budget")
    if not isinstance(raw, dict):
        return None
    if _number(raw.get("max_total_cents")):
        limit, unit = raw["max_total_cents"], "cents"
    elif _number(raw.get("max_total")) and isinstance(raw.get("unit"), str) and raw["unit"]:
        limit, unit = raw["max_total"], raw["unit"]
    else:
        return None
    if limit < 0:
        return None
    threshold = raw.get("alert_threshold_percent", DEFAULT_ALERT_THRESHOLD_PERCENT)
    if not _number(threshold) or not 0 < threshold <= 100:
        threshold = DEFAULT_ALERT_THRESHOLD_PERCENT
    return Budget(limit=limit, unit=unit, alert_threshold_percent=threshold)


def tidy(amount: Amount) -> Amount:
    """Sums of floats drift (0.1 + 0.2); round them to what a ledger can mean."""
    return round(amount, 9) if isinstance(amount, float) else amount


def spent_in(lines: Iterable[CostLine], unit: str) -> Amount:
    return tidy(sum(line.amount for line in lines if line.unit == unit))


def thresholds_reached(budget: Budget, spent: Amount) -> list[str]:
    """Which budget marks `spent` has reached: the alert at the threshold, `exceeded` only
    strictly beyond the limit (spending exactly the budget is within it)."""
    reached = []
    if spent >= budget.limit * budget.alert_threshold_percent / 100:
        reached.append(ALERT)
    if spent > budget.limit:
        reached.append(EXCEEDED)
    return reached


def totals(lines: Iterable[CostLine]) -> dict[str, Any]:
    """`total` adds every amount whatever its unit, as RFC-0009's summary does; `by_unit` is
    the per-unit truth. `by_type` and `by_agent` also add across units."""
    total: Amount = 0
    by_unit: dict[str, Amount] = {}
    by_type: dict[str, Amount] = {}
    by_agent: dict[str, Amount] = {}
    count = 0
    for line in lines:
        count += 1
        total += line.amount
        by_unit[line.unit] = by_unit.get(line.unit, 0) + line.amount
        by_type[line.cost_type] = by_type.get(line.cost_type, 0) + line.amount
        agent = line.agent_id or "unknown"
        by_agent[agent] = by_agent.get(agent, 0) + line.amount
    return {
        "count": count,
        "total": tidy(total),
        "by_unit": {k: tidy(v) for k, v in by_unit.items()},
        "by_type": {k: tidy(v) for k, v in by_type.items()},
        "by_agent": {k: tidy(v) for k, v in by_agent.items()},
    }
