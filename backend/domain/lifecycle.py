"""RFC-0001 intent lifecycle, plus the SDK's `suspended_awaiting_input` pause state."""

from __future__ import annotations

from .errors import InvalidInput

STATUSES = ("draft", "active", "blocked", "suspended_awaiting_input", "completed", "abandoned")

TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"active", "abandoned"}),
    "active": frozenset({"blocked", "suspended_awaiting_input", "completed", "abandoned"}),
    "blocked": frozenset({"active", "abandoned"}),
    "suspended_awaiting_input": frozenset({"active", "abandoned"}),
    "completed": frozenset(),
    "abandoned": frozenset(),
}

INITIAL_STATUSES = frozenset({"draft", "active"})


def check_status(status: str) -> None:
    if status not in TRANSITIONS:
        raise InvalidInput(
            f"Unknown status {status!r}",
            errors=[{"field": "status", "message": f"must be one of {', '.join(STATUSES)}"}],
        )


def check_transition(current: str, target: str) -> None:
    check_status(target)
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final status)"
        raise InvalidInput(
            f"Invalid status transition {current} -> {target}",
            errors=[
                {
                    "field": "status",
                    "message": f"from {current} the allowed statuses are: {allowed}",
                }
            ],
        )
