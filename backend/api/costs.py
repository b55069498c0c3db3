"""Costs (RFC-0009): record, and list with a summary that includes the intent's budget."""

from __future__ import annotations

import math

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from ..domain.errors import InvalidInput
from ..store import Store
from ..wire.costs import Cost, CostCreate, CostList
from ..wire.limits import MAX_PAGE
from .params import AgentIdHeader, Offset, actor_of

CAPABILITIES = ["cost-tracking"]
MAX_NAME = 200
MAX_AMOUNT = 10**15  # far beyond any real spend, and inside SQLite's 64-bit integers


def check_cost(data: CostCreate) -> None:
    errors = []
    if not (math.isfinite(data.amount) and 0 <= data.amount <= MAX_AMOUNT):
        errors.append({"field": "amount", "message": f"a number from 0 to {MAX_AMOUNT:.0e}"})
    for field in ("cost_type", "unit"):
        value = getattr(data, field)
        if not value.strip() or len(value) > MAX_NAME:
            errors.append({"field": field, "message": f"1 to {MAX_NAME} characters"})
    if errors:
        raise InvalidInput(
            "Invalid cost: " + "; ".join(f"{e['field']} must be {e['message']}" for e in errors),
            errors=errors,
        )


class CostController(Controller):
    path = "/intents/{intent_id:str}/costs"
    tags = ["costs"]

    @post("", status_code=HTTP_201_CREATED, summary="Record a cost")
    async def record(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        data: JSONBody[CostCreate],
        agent_id: AgentIdHeader = None,
    ) -> Cost:
        check_cost(data)
        return await store.record_cost(intent_id, data, actor_of(data.agent_id, agent_id))

    @get("", summary="An intent's costs, oldest first, with totals and budget")
    async def list_costs(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        offset: Offset = 0,
    ) -> CostList:
        budget = request.app.state.settings.max_response_bytes
        page = await store.list_costs(intent_id, offset=offset, limit=MAX_PAGE, max_bytes=budget)
        end = offset + len(page.costs)
        if page.costs and (await store.list_costs(intent_id, offset=end, limit=1)).costs:
            page.next_offset = end
        return page


CONTROLLERS = [CostController]
