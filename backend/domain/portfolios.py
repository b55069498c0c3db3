"""RFC-0007 portfolios: aggregate status, governance checks and shared constraints.

Governance policy keys this server acts on (others are stored and shown unchanged):
- `require_all_completed: true`: the portfolio completes once every member is completed.
- `auto_complete_threshold: P` (percent, 0 < P <= 100): it completes once at least P % of
  the members are completed. With both set, both must hold.
- `shared_constraints: {...}`: shown merged into every member's constraints; a member's own
  value wins where both set the same key (the specific overrides the general).
A portfolio without members never completes by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import InvalidInput

PORTFOLIO_STATUSES = ("active", "completed", "abandoned")
MEMBERSHIP_ROLES = ("primary", "member", "dependency")
SUSPENDED = "suspended_awaiting_input"


def check_portfolio_status(status: str) -> None:
    if status not in PORTFOLIO_STATUSES:
        raise InvalidInput(
            f"Unknown portfolio status {status!r}",
            errors=[
                {"field": "status", "message": f"must be one of {', '.join(PORTFOLIO_STATUSES)}"}
            ],
        )


def check_role(role: str) -> None:
    if role not in MEMBERSHIP_ROLES:
        raise InvalidInput(
            f"Unknown membership role {role!r}",
            errors=[{"field": "role", "message": f"must be one of {', '.join(MEMBERSHIP_ROLES)}"}],
        )


def check_governance_policy(policy: dict[str, Any]) -> None:
    errors = []
    flag = policy.get("require_all_completed")
    if flag is not None and not isinstance(flag, bool):
        errors.append({"field": "governance_policy.require_all_completed", "message": "boolean"})
    threshold = policy.get("auto_complete_threshold")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 < threshold <= 100
    ):
        errors.append(
            {
                "field": "governance_policy.auto_complete_threshold",
                "message": "a percentage: greater than 0, at most 100",
            }
        )
    shared = policy.get("shared_constraints")
    if shared is not None and not isinstance(shared, dict):
        errors.append({"field": "governance_policy.shared_constraints", "message": "an object"})
    if errors:
        raise InvalidInput(
            "Invalid governance policy: "
            + "; ".join(f"{e['field']} must be {e['message']}" for e in errors),
            errors=errors,
        )


def aggregate_status(statuses: Iterable[str]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    for status in statuses:
        by_status[status] = by_status.get(status, 0) + 1
    total = sum(by_status.values())
    completed = by_status.get("completed", 0)
    suspended = by_status.get(SUSPENDED, 0)
    return {
        "total": total,
        "by_status": by_status,
        # floor: 2 of 3 done is 66 %, never rounded up to a threshold it has not reached
        "completion_percentage": completed * 100 // total if total else 0,
        "has_suspended_members": suspended > 0,
        "suspended_member_count": suspended,
    }


def completion_due(policy: dict[str, Any] | None, statuses: list[str]) -> bool:
    """Does the governance policy say a portfolio with these member statuses is complete?"""
    policy = policy or {}
    require_all = policy.get("require_all_completed") is True
    threshold = policy.get("auto_complete_threshold")
    if not statuses or (not require_all and threshold is None):
        return False
    completed = sum(1 for s in statuses if s == "completed")
    if require_all and completed < len(statuses):
        return False
    return threshold is None or completed * 100 >= threshold * len(statuses)


def merge_constraints(shared: dict[str, Any] | None, own: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of the portfolio's shared constraints under the intent's own."""
    merged = dict(shared or {})
    for key, value in own.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            merged[key] = merge_constraints(base, value)
        else:
            merged[key] = value
    return merged
