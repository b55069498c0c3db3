"""Records a server does not send back, rebuilt from what it does send (the reference server).

`adapters` reshapes a reply that carries a record in another form. This module is for replies
that do not carry it at all: an acknowledgement like `{"message", "decision_id"}`, a list
without its summary, or nothing but the event the server logged. The record is rebuilt from
that, the request we sent, and the server's own rules, in the `backend.wire` Structs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backend.domain.clock import now_iso
from backend.domain.portfolios import aggregate_status
from backend.wire.events import Event
from backend.wire.governance import Arbitration, ArbitrationOption, Decision
from backend.wire.portfolios import Membership


def cost_summary(costs: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals by unit, type and agent, for a server that sends only the list of costs."""
    by_unit: dict[str, float] = {}
    by_type: dict[str, float] = {}
    by_agent: dict[str, float] = {}
    for cost in costs:
        amount = cost.get("amount") or 0
        by_unit[cost.get("unit", "")] = by_unit.get(cost.get("unit", ""), 0) + amount
        by_type[cost.get("cost_type", "")] = by_type.get(cost.get("cost_type", ""), 0) + amount
        agent = cost.get("agent_id") or ""
        by_agent[agent] = by_agent.get(agent, 0) + amount
    return {
        "total": sum(by_unit.values()),
        "by_unit": by_unit,
        "by_type": by_type,
        "by_agent": by_agent,
        "count": len(costs),
    }


def portfolio_aggregate(intents: Iterable[Any]) -> dict[str, Any]:
    """A portfolio's aggregate from its member list, by our server's own rule."""
    return aggregate_status(
        (i.get("status") if isinstance(i, dict) else getattr(i, "status", None)) or "unknown"
        for i in intents
    )


def decision_of_event(event: Event) -> Decision:
    """A decision from its `decision_recorded` event (the reference's only record of it)."""
    payload = event.payload
    reasoning = str(payload.get("rationale") or payload.get("reasoning") or "")
    return Decision(
        id=event.id,
        intent_id=event.intent_id or "",
        decision_maker_id=event.actor or "",
        decision_type=str(payload.get("decision_type") or ""),
        outcome=str(payload.get("outcome") or ""),
        reasoning=reasoning,
        rationale=reasoning,
        evidence=list(payload.get("evidence") or []),
        created_at=event.created_at,
    )


def decision_of_reply(reply: Any, intent_id: str, sent: dict[str, Any]) -> Decision | None:
    """From `{"message", "decision_id", "outcome"}` and the body we POSTed; None when the
    reply is not that acknowledgement."""
    if not isinstance(reply, dict) or not isinstance(reply.get("decision_id"), str):
        return None
    return Decision(
        id=reply["decision_id"],
        intent_id=intent_id,
        decision_maker_id=sent["decided_by"],
        decision_type=sent["decision_type"],
        outcome=str(reply.get("outcome") or sent["outcome"]),
        reasoning=sent["rationale"],
        rationale=sent["rationale"],
        evidence=list(sent["evidence"]),
        created_at=now_iso(),
        arbitration_id=sent.get("arbitration_id"),
    )


def arbitration_of_log(
    events: list[Event], intent_id: str, sent: dict[str, Any]
) -> Arbitration | None:
    """The newest `arbitration_requested` event for the reason we sent: the reference keeps
    nothing else, so its id and time stand for the arbitration's. None when it is not there."""
    for event in reversed(events):
        payload = event.payload
        if event.event_type == "arbitration_requested" and payload.get("reason") == sent["reason"]:
            return Arbitration(
                id=event.id,
                intent_id=intent_id,
                requester_id=event.actor or sent["requested_by"],
                reason=sent["reason"],
                context=dict(payload.get("context") or sent["context"]),
                options=[ArbitrationOption(**o) for o in sent["options"]],
                status="pending",
                created_at=event.created_at,
            )
    return None


def membership_of_reply(reply: Any, portfolio_id: str, sent: dict[str, Any]) -> Membership | None:
    """From `{"message", "membership_id"}` and the body we POSTed; None when the reply is a
    membership already (it has an `id`) or not that acknowledgement."""
    if not isinstance(reply, dict) or "id" in reply:
        return None
    if not isinstance(reply.get("membership_id"), str):
        return None
    return Membership(
        id=reply["membership_id"],
        portfolio_id=portfolio_id,
        intent_id=sent["intent_id"],
        role=sent["role"],
        priority=sent["priority"],
        added_at=now_iso(),
    )
