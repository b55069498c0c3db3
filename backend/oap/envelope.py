"""The TaskEnvelope rules of OAP 0.3.0 (spec/oap.md §1, §3): building one from an intent and
applying an agent's answer exactly as OAP's `HTTPAdapter.to_envelope` does. Pure, no I/O."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import msgspec

from ..wire.intents import Intent
from ..wire.oap import Constraints, Handoff, Step, TaskEnvelope

RESERVED_MEMORY_KEY = "openintent"
"""memory["openintent"] = {intent_id, chain_id, intent_version}: ours, re-asserted each hop."""
STATE_MEMORY_KEY = "oap_memory"
STATE_LAST_RESULT_KEY = "oap_last_result"

encode = msgspec.json.Encoder().encode


class BadResponse(ValueError):
    """The agent's answer cannot be applied (where OAP would raise TypeError, KeyError,
    AttributeError or a ValidationError)."""


def step_timestamp(moment: datetime | None = None) -> str:
    """pydantic's JSON form of an aware UTC datetime: `2026-11-22T05:56:27.993204Z`."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")


def goal_of(intent: Intent) -> str:
    description = (intent.description or "").strip()
    return f"{intent.title}: {description}" if description else intent.title


def constraints_of(intent: Intent) -> Constraints:
    """The intent's constraints OAP has fields for; a value of the wrong type is left out
    rather than sent for the agent's validation to reject."""
    given = intent.constraints if isinstance(intent.constraints, dict) else {}
    cost = given.get("max_cost_usd")
    deadline = given.get("deadline_ms")
    tools = given.get("allowed_tools")
    return Constraints(
        max_cost_usd=float(cost)
        if isinstance(cost, int | float) and not isinstance(cost, bool)
        else None,
        allowed_tools=list(tools)
        if isinstance(tools, list) and all(isinstance(t, str) for t in tools)
        else None,
        deadline_ms=deadline
        if isinstance(deadline, int) and not isinstance(deadline, bool)
        else None,
    )


def reserved_memory(intent_id: str, chain_id: str, intent_version: int) -> dict[str, Any]:
    return {"intent_id": intent_id, "chain_id": chain_id, "intent_version": intent_version}


def envelope_for(intent: Intent, chain_id: str, first_agent: str | None) -> TaskEnvelope:
    """The first envelope of a chain on `intent` (spec/oap.md §8, "Intent -> envelope")."""
    state = intent.state if isinstance(intent.state, dict) else {}
    saved = state.get(STATE_MEMORY_KEY)
    memory = dict(saved) if isinstance(saved, dict) else {}
    memory[RESERVED_MEMORY_KEY] = reserved_memory(intent.id, chain_id, intent.version)
    return TaskEnvelope(
        id=chain_id,
        goal=goal_of(intent),
        memory=memory,
        constraints=constraints_of(intent),
        handoff=Handoff(next_agent=first_agent, reason="forced") if first_agent else None,
    )


def _memory_update(value: Any) -> dict[str, Any]:
    """What `dict.update(value)` accepts from JSON: an object, or a list of [key, value]
    pairs (string keys only, since the memory goes back out as a JSON object)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in value
    ):
        return dict(value)
    raise BadResponse(f"`memory` must be an object, not {type(value).__name__}")


def _handoff(value: Any) -> Handoff:
    if not isinstance(value, dict):
        raise BadResponse(f"`handoff` must be an object, not {type(value).__name__}")
    if "next_agent" not in value:
        raise BadResponse("`handoff` has no `next_agent`")
    next_agent, reason = value["next_agent"], value.get("reason", "")
    if not isinstance(next_agent, str):
        raise BadResponse("`handoff.next_agent` must be a string")
    if not isinstance(reason, str):
        raise BadResponse("`handoff.reason` must be a string")
    return Handoff(next_agent=next_agent, reason=reason, partial_result=value.get("partial_result"))


def apply_response(
    previous: TaskEnvelope,
    response: Any,
    *,
    agent_id: str,
    action: str,
    pipeline: bool,
    reserved: dict[str, Any] | None,
) -> TaskEnvelope:
    """OAP's `to_envelope` on a copy of `previous`, then the Step OAP's router appends (the
    whole raw answer as its result). A pipeline clears the handoff before the step, as
    `run_pipeline` does. `reserved` re-asserts memory["openintent"]."""
    if not isinstance(response, dict):
        raise BadResponse(f"the answer must be a JSON object, not {type(response).__name__}")
    memory = copy.deepcopy(previous.memory)
    if "memory" in response:
        memory.update(_memory_update(response["memory"]))
    if "result" in response:
        memory["last_result"] = response["result"]
    handoff = _handoff(response["handoff"]) if response.get("handoff") else None
    if pipeline:
        handoff = None
    if reserved is not None:
        memory[RESERVED_MEMORY_KEY] = dict(reserved)
    step = Step(agent_id=agent_id, action=action, result=response, timestamp=step_timestamp())
    return msgspec.structs.replace(
        previous,
        memory=memory,
        steps_taken=[*previous.steps_taken, step],
        handoff=handoff,
    )


def action_for(agent_id: str, *, pipeline_position: int | None, pipeline_length: int) -> str:
    if pipeline_position is None:
        return f"Routed to {agent_id}"
    return f"Pipeline hop {pipeline_position}/{pipeline_length}: {agent_id}"


def state_memory(envelope: TaskEnvelope) -> dict[str, Any]:
    """What the intent keeps in state.oap_memory: the memory without our reserved key."""
    return {k: v for k, v in envelope.memory.items() if k != RESERVED_MEMORY_KEY}
