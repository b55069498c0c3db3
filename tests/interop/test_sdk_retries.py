"""The official SDK's retry-policy and failure methods, sync and async, against our server."""

from __future__ import annotations

import pytest
from openintent import NotFoundError, OpenIntentClient, RetryStrategy, ValidationError

from tests.interop.test_sdk_core import AGENT, new_intent, sdk  # noqa: F401 (fixture)


def record(sdk, intent_id: str, code: str, message: str):  # noqa: F811
    if isinstance(sdk, OpenIntentClient):
        return sdk.record_failure(intent_id, 1, error_code=code, error_message=message)
    return sdk.record_failure(intent_id, code, message, recoverable=True, metadata={"n": 1})


def test_set_and_get_retry_policy(sdk):  # noqa: F811
    intent = new_intent(sdk)
    assert sdk.get_retry_policy(intent.id) is None
    policy = sdk.set_retry_policy(
        intent.id,
        RetryStrategy.LINEAR,
        max_retries=4,
        base_delay_ms=250,
        max_delay_ms=5000,
        fallback_agent_id="backup",
    )
    assert policy.id and policy.intent_id == intent.id
    assert policy.strategy is RetryStrategy.LINEAR
    assert (policy.max_retries, policy.base_delay_ms, policy.max_delay_ms) == (4, 250, 5000)
    assert policy.fallback_agent_id == "backup" and policy.failure_threshold == 3
    assert policy.created_at is not None and policy.updated_at is not None
    fetched = sdk.get_retry_policy(intent.id)
    assert (fetched.id, fetched.strategy, fetched.max_retries) == (policy.id, policy.strategy, 4)


def test_record_failure_and_get_failures(sdk):  # noqa: F811
    intent = new_intent(sdk)
    sdk.set_retry_policy(intent.id, RetryStrategy.EXPONENTIAL, max_retries=3, base_delay_ms=100)
    failure = record(sdk, intent.id, "TIMEOUT", "took too long")
    assert failure.id and failure.intent_id == intent.id
    assert failure.agent_id == AGENT and failure.attempt_number == 1
    assert (failure.error_code, failure.error_message) == ("TIMEOUT", "took too long")
    assert failure.created_at is not None and failure.retry_scheduled_at is not None
    second = record(sdk, intent.id, "RATE_LIMIT", "429")
    listed = sdk.get_failures(intent.id)
    assert [f.id for f in listed] == [failure.id, second.id]
    types = [e.event_type.value for e in sdk.get_events(intent.id)]
    assert types.count("failure_recorded") == 2


def test_retry_errors_map_to_sdk_exceptions(sdk):  # noqa: F811
    intent = new_intent(sdk)
    with pytest.raises(ValidationError):
        sdk.set_retry_policy(intent.id, RetryStrategy.FIXED, max_retries=-1)
    with pytest.raises(ValidationError):
        sdk.set_retry_policy(intent.id, RetryStrategy.FIXED, base_delay_ms=9000, max_delay_ms=10)
    assert sdk.get_retry_policy(intent.id) is None
    with pytest.raises(NotFoundError):
        record(sdk, "missing", "X", "y")
    with pytest.raises(NotFoundError):
        sdk.get_failures("missing")
