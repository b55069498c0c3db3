"""RFC-0009 cost records and their summary (with the intent's budget, when it sets one)."""

from __future__ import annotations

from typing import Union

import msgspec

from .base import JSONObject, Request, Response
from .limits import AgentId, Name

Amount = Union[int, float]  # noqa: UP007
"""An integer or a float, as sent. `typing.Union`, not `int | float`: the OpenAPI document
calls it `number` (backend/api/openapi.py, NumberSchema), which needs this spelling."""


class Cost(Response):
    id: str
    intent_id: str
    agent_id: str | None
    cost_type: str
    amount: Amount
    unit: str
    provider: str | None
    metadata: JSONObject
    recorded_at: str
    recorded_at_camel: str = msgspec.field(name="recordedAt", default="")
    """The SDK reads cost timestamps only from `recordedAt`."""


class CostCreate(Request):
    """Sync SDK: with `agent_id`; async SDK: without (then X-Agent-ID is the agent).
    `cost_metadata` is the reference server's name for `metadata`."""

    cost_type: Name
    amount: Amount
    """0 to 10**15."""
    unit: Name
    agent_id: AgentId | None = None
    provider: Name | None = None
    metadata: JSONObject | None = None
    cost_metadata: JSONObject | None = None


class BudgetStatus(Response):
    limit: Amount
    unit: str
    spent: Amount
    """What was recorded in `unit`; other units do not count against the budget."""
    remaining: Amount
    """Never below 0: see `exceeded`."""
    exceeded: bool
    alert_threshold_percent: Amount
    alerted: bool
    """The spend has reached the alert threshold (recorded once in the log)."""


class CostSummary(Response, omit_defaults=True):
    total: Amount
    """Every amount added, whatever its unit (RFC-0009); `by_unit` is per unit."""
    by_unit: dict[str, Amount]
    by_type: dict[str, Amount]
    by_agent: dict[str, Amount]
    count: int
    budget: BudgetStatus | None = None


class CostList(Response):
    costs: list[Cost]
    summary: CostSummary
    next_offset: int | None = None
    """Pass as `offset` for the next page (1000 items, or fewer at the response budget);
    null at the end."""
