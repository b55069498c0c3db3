"""The pure retry rules: delays per strategy, caps, exhaustion, validation."""

from __future__ import annotations

import pytest

from backend.domain.errors import InvalidInput
from backend.domain.retries import (
    next_retry_delay_ms,
    retries_exhausted,
    retry_delay_ms,
    validate_policy,
)


@pytest.mark.parametrize(
    "strategy, expected",
    [
        ("fixed", [1000, 1000, 1000, 1000]),
        ("linear", [1000, 2000, 3000, 4000]),
        ("exponential", [1000, 2000, 4000, 8000]),
    ],
)
def test_delays_follow_the_rfc_patterns(strategy, expected):
    assert [retry_delay_ms(strategy, n, 1000, 60_000) for n in range(1, 5)] == expected


def test_delays_are_capped_even_for_huge_retry_numbers():
    assert retry_delay_ms("exponential", 7, 1000, 60_000) == 60_000
    assert retry_delay_ms("exponential", 10_000, 1000, 60_000) == 60_000
    assert retry_delay_ms("linear", 100, 1000, 5000) == 5000


def test_none_has_no_delay_and_bad_numbers_are_refused():
    with pytest.raises(ValueError):
        retry_delay_ms("none", 1, 1000, 2000)
    with pytest.raises(ValueError):
        retry_delay_ms("fixed", 0, 1000, 2000)
    with pytest.raises(ValueError):
        retry_delay_ms("random", 1, 1000, 2000)


def test_exhaustion_counts_retries_after_the_first_attempt():
    # max_retries=2: attempts 1 and 2 may be retried, attempt 3 was the last retry
    assert [retries_exhausted("fixed", n, 2) for n in (1, 2, 3)] == [False, False, True]
    assert retries_exhausted("none", 1, 5) is True
    assert retries_exhausted("exponential", 1, 0) is True


def test_next_delay_combines_the_rules():
    assert next_retry_delay_ms("exponential", 3, 5, 500, 10_000) == 2000
    assert next_retry_delay_ms("exponential", 6, 5, 500, 10_000) is None
    assert next_retry_delay_ms("fixed", 1, 5, 500, 10_000, recoverable=False) is None
    assert next_retry_delay_ms("none", 1, 5, 500, 10_000) is None


def test_validation_reports_every_broken_bound():
    validate_policy("linear", 0, 0, 0, 1)
    validate_policy("exponential", 100, 86_400_000, 86_400_000, 1000)
    with pytest.raises(InvalidInput) as caught:
        validate_policy("sometimes", -1, -5, 86_400_001, 0)
    fields = [e["field"] for e in caught.value.errors]
    assert fields == [
        "strategy",
        "max_retries",
        "base_delay_ms",
        "max_delay_ms",
        "failure_threshold",
    ]
    with pytest.raises(InvalidInput) as caught:
        validate_policy("fixed", 3, 5000, 1000, 3)
    assert caught.value.errors == [
        {"field": "max_delay_ms", "message": "must not be smaller than base_delay_ms"}
    ]
