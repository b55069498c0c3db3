"""Delegation scopes (RFC-0023): attenuation and the "narrower or equal" rule. Pure.

A scope is the SDK's `DelegationScope.to_dict()`: `permissions`, `denied_operations`,
`max_delegation_depth` and, optionally, `expires_at` (ISO 8601).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

DEFAULT_PERMISSIONS = ["state.patch", "events.log"]


class DelegationError(ValueError):
    pass


def normalize_scope(scope: dict[str, Any] | None) -> dict[str, Any]:
    """The full shape with the SDK's defaults; raises DelegationError when malformed."""
    scope = {} if scope is None else scope
    if not isinstance(scope, dict):
        raise DelegationError("scope is not an object")
    permissions = scope.get("permissions", DEFAULT_PERMISSIONS)
    denied = scope.get("denied_operations", [])
    depth = scope.get("max_delegation_depth", 1)
    expires_at = scope.get("expires_at")
    if not (isinstance(permissions, list) and all(isinstance(p, str) for p in permissions)):
        raise DelegationError("permissions must be a list of strings")
    if not (isinstance(denied, list) and all(isinstance(d, str) for d in denied)):
        raise DelegationError("denied_operations must be a list of strings")
    if not isinstance(depth, int) or isinstance(depth, bool):
        raise DelegationError("max_delegation_depth must be an integer")
    if expires_at is not None and _time(expires_at) is None:
        raise DelegationError("expires_at must be an ISO 8601 time with a zone")
    result: dict[str, Any] = {
        "permissions": list(permissions),
        "denied_operations": list(denied),
        "max_delegation_depth": depth,
    }
    if expires_at:
        result["expires_at"] = expires_at
    return result


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def attenuate(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """The SDK's rule (intersection, union, depth min(parent-1, child)), except that the
    child's `expires_at` counts when earlier (the SDK keeps the parent's). Raises
    DelegationError("Delegation depth exceeded") below depth 0."""
    parent, child = normalize_scope(parent), normalize_scope(child)
    depth = min(parent["max_delegation_depth"] - 1, child["max_delegation_depth"])
    if depth < 0:
        raise DelegationError("Delegation depth exceeded")
    result: dict[str, Any] = {
        "permissions": sorted(set(parent["permissions"]) & set(child["permissions"])),
        "denied_operations": sorted(
            set(parent["denied_operations"]) | set(child["denied_operations"])
        ),
        "max_delegation_depth": depth,
    }
    expiries = [
        (moment, s["expires_at"]) for s in (parent, child) if (moment := _time(s.get("expires_at")))
    ]
    if expiries:
        result["expires_at"] = min(expiries)[1]
    return result


def widening(child: dict[str, Any], parent: dict[str, Any], *, strict_depth: bool) -> str | None:
    """Why `child` is not within `parent`, or None. `strict_depth`: a delegation link must
    lower the depth by at least one; an envelope's scope only must not exceed its token's."""
    child, parent = normalize_scope(child), normalize_scope(parent)
    extra = set(child["permissions"]) - set(parent["permissions"])
    if extra:
        return f"permissions widened by {sorted(extra)}"
    dropped = set(parent["denied_operations"]) - set(child["denied_operations"])
    if dropped:
        return f"denied operations dropped: {sorted(dropped)}"
    limit = parent["max_delegation_depth"] - (1 if strict_depth else 0)
    if child["max_delegation_depth"] < 0:
        return "negative delegation depth"
    if child["max_delegation_depth"] > limit:
        return "delegation depth exceeded"
    parent_expiry = _time(parent.get("expires_at"))
    if parent_expiry is not None:
        child_expiry = _time(child.get("expires_at"))
        if child_expiry is None:
            return "expiry removed"
        if child_expiry > parent_expiry:
            return "expiry extended"
    return None


def allows(scope: dict[str, Any], operation: str) -> bool:
    """True when `operation` is granted and not denied."""
    scope = normalize_scope(scope)
    return operation in scope["permissions"] and operation not in scope["denied_operations"]


def compose_strictest(
    received: dict[str, Any] | None, requested: dict[str, Any] | None
) -> dict[str, Any] | None:
    """RFC-0022 governance propagation, as the SDK's `compose_strictest`: governance booleans
    OR, numbers the minimum, other values from the requested side; budget numbers the
    minimum; observability merged."""
    if not received and not requested:
        return None
    received, requested = received or {}, requested or {}
    composed: dict[str, Any] = {}
    for section in ("governance", "budget", "observability"):
        left = received.get(section) or {}
        right = requested.get(section) or {}
        merged = dict(left)
        for key, value in right.items():
            mine = merged.get(key)
            if isinstance(value, bool) and isinstance(mine, bool):
                merged[key] = mine or value
            elif _number(value) and _number(mine):
                merged[key] = min(mine, value)
            else:
                merged[key] = value
        composed[section] = merged
    return composed


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
