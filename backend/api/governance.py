"""Arbitration requests and decision records (RFC-0003 governance)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from ..domain.errors import InvalidInput
from ..store import Store
from ..store.governance import NewDecision
from ..wire.governance import (
    Arbitration,
    ArbitrationList,
    ArbitrationRequest,
    Decision,
    DecisionCreate,
    DecisionList,
)
from ..wire.limits import MAX_PAGE
from .openapi import errors
from .params import AgentIdHeader, Cursor, Offset, page_of

CAPABILITIES = ["governance"]

ArbitrationStatus = Literal["pending", "resolved"]


def _one_of(field_a: str, a: str | None, field_b: str, b: str | None) -> str | None:
    """Two names for one field: either may be sent; both must then agree."""
    if a is not None and b is not None and a != b:
        raise InvalidInput(
            f"{field_a} and {field_b} name the same field but differ",
            errors=[{"field": field_a}, {"field": field_b}],
        )
    return a if a is not None else b


def _required(field: str, value: str | None, message: str) -> str:
    if value is None or not value.strip():
        raise InvalidInput(message, errors=[{"field": field}])
    return value


def _check_arbitration(data: ArbitrationRequest) -> None:
    _required("reason", data.reason, "An arbitration request needs a reason")
    labels = [option.label for option in data.options]
    if any(not label.strip() for label in labels) or len(set(labels)) != len(labels):
        raise InvalidInput(
            "Each option needs a label, and labels must differ", errors=[{"field": "options"}]
        )


def _new_decision(data: DecisionCreate, agent_id: str | None) -> NewDecision:
    maker = _one_of("decided_by", data.decided_by, "decision_maker_id", data.decision_maker_id)
    reasoning = _one_of("reasoning", data.reasoning, "rationale", data.rationale)
    return NewDecision(
        decision_maker_id=_required(
            "decided_by",
            maker or agent_id,
            "Say who decided: decided_by (or decision_maker_id) or the X-Agent-ID header",
        ),
        decision_type=_required("decision_type", data.decision_type, "decision_type is empty"),
        outcome=_required("outcome", data.outcome, "outcome is empty"),
        reasoning=_required("reasoning", reasoning, "A decision needs its reasoning (rationale)"),
        evidence=data.evidence,
        arbitration_id=data.arbitration_id,
    )


class IntentGovernanceController(Controller):
    path = "/intents/{intent_id:str}"
    tags = ["governance"]

    @post("/arbitrate", status_code=HTTP_201_CREATED, summary="Request arbitration")
    async def arbitrate(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        data: JSONBody[ArbitrationRequest],
        agent_id: AgentIdHeader = None,
    ) -> Arbitration:
        _check_arbitration(data)
        requester = _required(
            "requested_by",
            data.requested_by or agent_id,
            "Say who asks: requested_by or the X-Agent-ID header",
        )
        return await store.request_arbitration(
            intent_id, requester, data.reason, data.context, data.options
        )

    @get("/arbitrations", summary="An intent's arbitration requests, oldest first")
    async def list_for_intent(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        status: Annotated[ArbitrationStatus | None, QueryParameter()] = None,
        offset: Offset = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = MAX_PAGE,
        cursor: Cursor = None,
    ) -> ArbitrationList:
        fetch = partial(store.list_arbitrations, intent_id, status)
        page = await page_of(fetch, request, offset, limit, cursor)
        return ArbitrationList(
            arbitrations=page.items, next_offset=page.next_offset, next_cursor=page.next_cursor
        )

    @post(
        "/decisions",
        status_code=HTTP_201_CREATED,
        summary="Record a decision (naming an arbitration resolves it)",
        responses=errors(409),
    )
    async def decide(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        data: JSONBody[DecisionCreate],
        agent_id: AgentIdHeader = None,
    ) -> Decision:
        return await store.record_decision(intent_id, _new_decision(data, agent_id))

    @get("/decisions", summary="An intent's decisions, oldest first")
    async def list_decisions(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        offset: Offset = 0,
    ) -> DecisionList:
        fetch = partial(store.list_decisions, intent_id)
        page = await page_of(fetch, request, offset)
        return DecisionList(decisions=page.items, next_offset=page.next_offset)


class ArbitrationQueueController(Controller):
    path = "/arbitrations"
    tags = ["governance"]

    @get("", summary="Arbitration requests across intents, oldest first (pending by default)")
    async def queue(
        self,
        request: Request,
        store: NamedDependency[Store],
        status: Annotated[ArbitrationStatus, QueryParameter()] = "pending",
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = MAX_PAGE,
        offset: Offset = 0,
        cursor: Cursor = None,
    ) -> ArbitrationList:
        fetch = partial(store.list_arbitrations, None, status)
        page = await page_of(fetch, request, offset, limit, cursor)
        return ArbitrationList(
            arbitrations=page.items, next_offset=page.next_offset, next_cursor=page.next_cursor
        )

    @get("/{arbitration_id:str}", summary="One arbitration request")
    async def get_one(
        self, store: NamedDependency[Store], arbitration_id: FromPath[str]
    ) -> Arbitration:
        return await store.get_arbitration(arbitration_id)


CONTROLLERS = [IntentGovernanceController, ArbitrationQueueController]
