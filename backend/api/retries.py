"""Retry policies and failures (RFC-0010)."""

from __future__ import annotations

from functools import partial

from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from ..domain.clock import iso, parse_iso
from ..domain.errors import InvalidInput
from ..domain.retries import validate_policy
from ..store import Store
from ..wire.retries import Failure, FailureCreate, FailureList, RetryPolicy, RetryPolicySet
from .params import AgentIdHeader, Offset, actor_of, page_of

CAPABILITIES = ["retry-policies"]


def checked_failure(data: FailureCreate) -> FailureCreate:
    """Normalise what the two SDK shapes send; a bad attempt number or time is a 400."""
    if data.error_code and data.error_type and data.error_code != data.error_type:
        raise InvalidInput(
            "error_code and error_type are aliases but have different values",
            errors=[{"field": "error_code"}, {"field": "error_type"}],
        )
    scheduled = data.retry_scheduled_at
    if scheduled is not None:
        try:
            scheduled = iso(parse_iso(scheduled))
        except ValueError:
            raise InvalidInput(
                f"retry_scheduled_at is not an ISO 8601 time: {scheduled!r}",
                errors=[{"field": "retry_scheduled_at"}],
            ) from None
    return FailureCreate(
        agent_id=data.agent_id,
        attempt_number=data.attempt_number,
        error_code=data.error_code or data.error_type,
        error_message=data.error_message,
        recoverable=data.recoverable,
        retry_scheduled_at=scheduled,
        metadata=data.metadata,
    )


class RetryPolicyController(Controller):
    path = "/intents/{intent_id:str}/retry-policy"
    tags = ["retries"]

    @put("", summary="Set (replace) the intent's retry policy")
    async def set_policy(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        data: JSONBody[RetryPolicySet],
        agent_id: AgentIdHeader = None,
    ) -> RetryPolicy:
        validate_policy(
            data.strategy,
            data.max_retries,
            data.base_delay_ms,
            data.max_delay_ms,
            data.failure_threshold,
        )
        return await store.set_retry_policy(intent_id, data, actor_of(agent_id))

    @get("", summary="The intent's retry policy (404 when none is set)")
    async def get_policy(
        self, store: NamedDependency[Store], intent_id: FromPath[str]
    ) -> RetryPolicy:
        return await store.get_retry_policy(intent_id)

    @delete("", status_code=HTTP_204_NO_CONTENT, summary="Remove the intent's retry policy")
    async def remove_policy(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        agent_id: AgentIdHeader = None,
    ) -> None:
        await store.delete_retry_policy(intent_id, actor_of(agent_id))


class FailureController(Controller):
    path = "/intents/{intent_id:str}/failures"
    tags = ["retries"]

    @post("", status_code=HTTP_201_CREATED, summary="Record a failure; says when to retry")
    async def record(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        data: JSONBody[FailureCreate],
        agent_id: AgentIdHeader = None,
    ) -> Failure:
        failure = checked_failure(data)
        return await store.record_failure(intent_id, failure, actor_of(data.agent_id, agent_id))

    @get("", summary="An intent's failures, oldest first")
    async def list_failures(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        offset: Offset = 0,
    ) -> FailureList:
        page = await page_of(partial(store.list_failures, intent_id), request, offset)
        return FailureList(failures=page.items, next_offset=page.next_offset)


CONTROLLERS = [RetryPolicyController, FailureController]
