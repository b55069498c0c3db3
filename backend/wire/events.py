"""The event log (RFC-0001 events, RFC-0002 append-only log)."""

from __future__ import annotations

from typing import Any

import msgspec

from .base import JSONObject, Request, Response
from .limits import AgentId, Id, Name

# Exactly the values of the SDK 0.17.0 `EventType` enum. The SDK decodes a whole log with
# `EventType(value)`, so one foreign type makes every read of that intent's log fail.
EVENT_TYPES: frozenset[str] = frozenset(
    (
        "intent_created",
        "state_patched",
        "status_changed",
        "agent_assigned",
        "agent_unassigned",
        "constraint_added",
        "constraint_removed",
        "dependency_added",
        "dependency_removed",
        "lease_acquired",
        "lease_released",
        "arbitration_requested",
        "decision_recorded",
        "attachment_added",
        "portfolio_created",
        "added_to_portfolio",
        "removed_from_portfolio",
        "failure_recorded",
        "comment",
        "tool_call_started",
        "tool_call_completed",
        "tool_call_failed",
        "llm_request_started",
        "llm_request_completed",
        "llm_request_failed",
        "stream_started",
        "stream_chunk",
        "stream_completed",
        "stream_cancelled",
        "access_granted",
        "access_revoked",
        "access_expired",
        "access_requested",
        "access_request_approved",
        "access_request_denied",
        "task.created",
        "task.ready",
        "task.claimed",
        "task.started",
        "task.progress",
        "task.completed",
        "task.failed",
        "task.retrying",
        "task.blocked",
        "task.unblocked",
        "task.delegated",
        "task.escalated",
        "task.cancelled",
        "task.skipped",
        "plan.created",
        "plan.activated",
        "plan.paused",
        "plan.resumed",
        "plan.completed",
        "plan.failed",
        "plan.checkpoint_reached",
        "plan.checkpoint_approved",
        "plan.checkpoint_rejected",
        "coordinator.decision",
        "coordinator.heartbeat",
        "coordinator.paused",
        "coordinator.resumed",
        "coordinator.replaced",
        "coordinator.unresponsive",
        "coordinator.failed_over",
        "coordinator.handoff",
        "coordinator.plan_overridden",
        "coordinator.guardrails_updated",
        "coordinator.stalled",
        "coordinator.escalation_resolved",
        "governance.policy_set",
        "governance.policy_removed",
        "governance.approval_granted",
        "governance.approval_denied",
        "governance.violation",
        "tool.invoked",
        "tool.denied",
        "grant.created",
        "grant.delegated",
        "grant.revoked",
        "grant.expired",
        "grant.suspended",
        "grant.resumed",
        "credential.created",
        "credential.rotated",
        "credential.expired",
        "credential.revoked",
        "memory.created",
        "memory.updated",
        "memory.deleted",
        "memory.archived",
        "memory.evicted",
        "memory.expired",
        "agent.lifecycle",
        "agent.registered",
        "agent.status_changed",
        "agent.dead",
        "trigger.fired",
        "trigger.skipped",
        "trigger.cascade_limit",
        "trigger.namespace_blocked",
        "agent.identity.registered",
        "agent.identity.rotated",
        "agent.identity.revoked",
        "agent.identity.challenge_issued",
        "agent.identity.verified",
        "log.checkpoint.created",
        "log.checkpoint.anchored",
        "channel.created",
        "channel.closed",
        "channel.message",
        "governance.approval_enforced",
        "federation.dispatched",
        "federation.received",
        "federation.callback",
        "federation.budget_warning",
        "federation.completed",
        "federation.failed",
        "intent.suspended",
        "intent.resumed",
        "intent.suspension_expired",
        "engagement.decision",
        "intent.suspension_renotified",
        "intent.suspension_escalated",
        "portfolio.member_suspended",
        "portfolio.member_resumed",
    )
)


class Event(Response, omit_defaults=True):
    id: str
    intent_id: str | None
    """None only for events about a portfolio itself (`portfolio_created`)."""
    event_type: str
    actor: str | None
    payload: JSONObject
    created_at: str
    sequence: int = 0
    """Position in this intent's log, from 1, without gaps."""
    global_sequence: int = 0
    """Position in the whole server's log: the SSE `id:` and the backfill cursor."""
    portfolio_id: str | None = None
    trace_id: str | None = None
    parent_event_id: str | None = None


class EventCreate(Request):
    event_type: Name
    payload: JSONObject = msgspec.field(default_factory=dict)
    actor: AgentId | None = None
    agent_id: AgentId | None = None
    trace_id: Id | None = None
    parent_event_id: Id | None = None


class EventPage(Response):
    events: list[Event]
    next_cursor: int | None = None
    """Pass back as `cursor` for the next page; null when this page reached the end."""


def event_type_error_detail() -> dict[str, Any]:
    return {"field": "event_type", "allowed": sorted(EVENT_TYPES)}
