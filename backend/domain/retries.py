"""RFC-0010 retry policies: validation, the delay before the next retry, exhaustion.

Attempts are numbered from 1. A policy with `max_retries = N` allows N retries after the
first attempt, so the failure of attempt `n` is followed by retry number `n` while
`n <= N`; after that retries are exhausted. Delays grow with the retry number:
fixed `base`, linear `base * n`, exponential `base * 2**(n-1)`, each capped at `max_delay_ms`.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidInput

STRATEGIES = ("none", "fixed", "exponential", "linear")
MAX_RETRIES_LIMIT = 100
MAX_DELAY_LIMIT_MS = 86_400_000  # one day: a longer wait is a schedule, not a retry
MAX_FAILURE_THRESHOLD = 1000


def validate_policy(
    strategy: str,
    max_retries: int,
    base_delay_ms: int,
    max_delay_ms: int,
    failure_threshold: int,
) -> None:
    """Raise InvalidInput listing every broken bound (all of them, not just the first)."""
    errors: list[dict[str, Any]] = []

    def bound(field: str, value: int, low: int, high: int) -> None:
        if not low <= value <= high:
            errors.append({"field": field, "message": f"must be between {low} and {high}"})

    if strategy not in STRATEGIES:
        errors.append({"field": "strategy", "message": f"must be one of {', '.join(STRATEGIES)}"})
    bound("max_retries", max_retries, 0, MAX_RETRIES_LIMIT)
    bound("base_delay_ms", base_delay_ms, 0, MAX_DELAY_LIMIT_MS)
    bound("max_delay_ms", max_delay_ms, 0, MAX_DELAY_LIMIT_MS)
    bound("failure_threshold", failure_threshold, 1, MAX_FAILURE_THRESHOLD)
    if max_delay_ms < base_delay_ms:
        errors.append(
            {"field": "max_delay_ms", "message": "must not be smaller than base_delay_ms"}
        )
    if errors:
        raise InvalidInput(
            "Invalid retry policy: " + "; ".join(f"{e['field']} {e['message']}" for e in errors),
            errors=errors,
        )


def retry_delay_ms(strategy: str, retry_number: int, base_delay_ms: int, max_delay_ms: int) -> int:
    """The wait before retry `retry_number` (from 1); strategy `none` never retries."""
    if strategy == "none":
        raise ValueError("strategy 'none' has no retry delay")
    if retry_number < 1:
        raise ValueError("retry numbers start at 1")
    if strategy == "fixed":
        delay = base_delay_ms
    elif strategy == "linear":
        delay = base_delay_ms * retry_number
    elif strategy == "exponential":
        # Cap the exponent first: 2**retry_number for a large number is a huge int for nothing.
        delay = base_delay_ms * (1 << min(retry_number - 1, 62))
    else:
        raise ValueError(f"unknown strategy {strategy!r}")
    return min(delay, max_delay_ms)


def retries_exhausted(strategy: str, attempt_number: int, max_retries: int) -> bool:
    """After the failure of attempt `attempt_number`, is there no retry left?"""
    return strategy == "none" or attempt_number > max_retries


def next_retry_delay_ms(
    strategy: str,
    attempt_number: int,
    max_retries: int,
    base_delay_ms: int,
    max_delay_ms: int,
    recoverable: bool = True,
) -> int | None:
    """The delay before retrying after attempt `attempt_number` failed, or None for no retry
    (strategy `none`, retries exhausted, or an error the agent says is not recoverable)."""
    if not recoverable or retries_exhausted(strategy, attempt_number, max_retries):
        return None
    return retry_delay_ms(strategy, attempt_number, base_delay_ms, max_delay_ms)
