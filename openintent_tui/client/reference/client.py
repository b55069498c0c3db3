"""`ReferenceClient`: the native client, with each call the reference server answers
differently overridden here (and nowhere else)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from backend.wire.attachments import Attachment, AttachmentList
from backend.wire.costs import CostList
from backend.wire.events import Event, EventPage
from backend.wire.governance import (
    Arbitration,
    ArbitrationList,
    ArbitrationOption,
    Decision,
    DecisionList,
)
from backend.wire.intents import (
    AgentAssignmentList,
    ChildIntents,
    IntentCounts,
    IntentDependencies,
    IntentList,
)
from backend.wire.leases import Lease, LeaseList
from backend.wire.portfolios import (
    Membership,
    PortfolioDetail,
    PortfolioIntents,
    PortfolioList,
)
from backend.wire.retries import Failure, FailureList
from backend.wire.subscriptions import SubscriptionList

from ..api import Capabilities
from ..base import API
from ..coordination import options_body
from ..core import OpenIntentClient
from ..errors import ClientError, Unavailable, ValidationError
from ..sse import SSEFrame
from . import adapters, rebuilt, stream

T = TypeVar("T")

REFERENCE = Capabilities(
    list_intents=False,
    global_stream=False,
    arbitration_queue=False,
    list_all_leases=False,
    revoke_leases=False,
    unassign_agents=False,
    store_attachments=False,
    webhooks=False,
    agent_routing=False,
)
"""What `openintent-server` 0.17.0 lacks (shared/spec/wire.md): no listing of intents, leases
or arbitrations, no global stream or log, no revoke or unassign route, no stored attachment
bytes, no webhook subscriptions, no OAP agent routing."""

# The envelope each list comes in on our server; it sends the bare list.
ENVELOPES: dict[type, str] = {
    IntentList: "intents",
    ChildIntents: "children",
    IntentDependencies: "dependencies",
    AgentAssignmentList: "agents",
    EventPage: "events",
    LeaseList: "leases",
    ArbitrationList: "arbitrations",
    DecisionList: "decisions",
    AttachmentList: "attachments",
    CostList: "costs",
    FailureList: "failures",
    PortfolioList: "portfolios",
    PortfolioIntents: "intents",
    SubscriptionList: "subscriptions",
}
# Envelope fields it does not send, derived from the list.
ENVELOPE_FIELDS: dict[type, dict[str, Callable[[list[Any]], Any] | Any]] = {
    IntentList: {"total": len, "limit": len, "offset": 0},
    CostList: {"summary": rebuilt.cost_summary},
    PortfolioIntents: {"aggregate_status": rebuilt.portfolio_aggregate, "memberships": []},
}


def _names_field(error: ValidationError, field: str) -> bool:
    return any(field in str(item.get("loc") or item.get("field") or "") for item in error.errors)


class ReferenceClient(OpenIntentClient):
    """The same `ServerAPI`, spoken to the reference server."""

    dialect = "reference"
    capabilities = REFERENCE

    # -- decoding: its shapes into ours ------------------------------------------------------
    def decode(self, content: bytes, kind: type[T]) -> T:
        return adapters.decode(
            content,
            kind,
            key=ENVELOPES.get(kind),
            secret=self.api_key,
            **ENVELOPE_FIELDS.get(kind, {}),
        )

    def reshape(self, raw: Any, kind: type[T]) -> T:
        return adapters.convert(raw, kind, secret=self.api_key)

    # -- intents ---------------------------------------------------------------------------
    async def keyset_intents(self) -> bool:
        return False  # it cannot list intents at all (REFERENCE.list_intents)

    async def intent_counts(self) -> IntentCounts:
        raise Unavailable(0, "This server does not count intents", None)

    # -- events and streams ------------------------------------------------------------------
    async def log_event(
        self, intent_id: str, event_type: str, payload: dict[str, Any] | None = None, **fields: Any
    ) -> Event:
        # It takes the actor from the body only, not from X-Agent-ID.
        fields.setdefault("actor", fields.get("agent_id") or self.agent_id)
        return await super().log_event(intent_id, event_type, payload, **fields)

    async def list_events(
        self,
        intent_id: str,
        limit: int = 100,
        cursor: int = 0,
        event_type: str | None = None,
        since: str | None = None,
    ) -> EventPage:
        page = await super().list_events(intent_id, limit, cursor, event_type, since)
        if page.events and page.events[0].created_at > page.events[-1].created_at:
            page.events.reverse()  # it answers newest first
        return page

    def intent_stream_path(self, intent_id: str) -> str:
        return f"{API}/subscribe/intents/{intent_id}"

    def event_of_frame(self, frame: SSEFrame) -> Event | None:
        return stream.event_from_frame(frame)

    def change_key(self, event: Event) -> str | None:
        return stream.change_key(event)

    # -- leases ------------------------------------------------------------------------------
    async def intent_leases(
        self, intent_id: str, status: str = "active", agent_id: str | None = None
    ) -> list[Lease]:
        # It ignores both filters and answers every lease it has: filtered here.
        every = await super().intent_leases(intent_id, status, agent_id)
        return [
            lease
            for lease in every
            if (status == "all" or lease.status == status)
            and (agent_id is None or lease.agent_id == agent_id)
        ]

    async def release_lease(
        self, intent_id: str, lease_id: str, agent_id: str | None = None
    ) -> Lease | None:
        raw = await self.raw(
            "DELETE", f"{API}/intents/{intent_id}/leases/{lease_id}", agent_id=agent_id
        )
        if isinstance(raw, dict) and "id" in raw:
            try:
                return self.reshape(raw, Lease)
            except (msgspec.ValidationError, TypeError):
                pass
        # It answers {"message"}: read the lease back.
        every = await self.intent_leases(intent_id, status="all")
        return next((x for x in every if x.id == lease_id), None)

    # -- arbitration and decisions -----------------------------------------------------------
    async def request_arbitration(
        self,
        intent_id: str,
        reason: str,
        options: Sequence[ArbitrationOption | dict[str, Any]] | None = None,
        context: dict[str, Any] | None = None,
    ) -> Arbitration:
        what = f"POST {API}/intents/{intent_id}/arbitrate"
        body = {
            "reason": reason,
            "context": context or {},
            "options": options_body(options),
            "requested_by": self.agent_id,  # required in the body
        }
        raw = await self.raw("POST", f"{API}/intents/{intent_id}/arbitrate", body=body)
        if isinstance(raw, dict) and "id" in raw:
            return self.convert(raw, Arbitration, what)
        # It answers {"message", "status"} and keeps only the logged event.
        logged = await self.list_events(intent_id, limit=50)
        arbitration = rebuilt.arbitration_of_log(logged.events, intent_id, body)
        if arbitration is None:
            raise ClientError(200, f"Unexpected response to {what}: no arbitration in it", raw)
        return arbitration

    async def list_decisions(self, intent_id: str) -> list[Decision]:
        path = f"{API}/intents/{intent_id}/decisions"
        raw = await self.raw("GET", path)
        page = self.convert(adapters.envelope(raw, "decisions"), DecisionList, f"GET {path}")
        if isinstance(raw, dict):
            return page.decisions
        # A bare list: its RFC-0013 coordinator records, which never include the decisions
        # POSTed here. It keeps those only as `decision_recorded` events.
        logged = await self.list_events(intent_id, limit=1000)
        known = {d.id for d in page.decisions}
        decisions = page.decisions + [
            rebuilt.decision_of_event(event)
            for event in logged.events
            if event.event_type == "decision_recorded" and event.id not in known
        ]
        return sorted(decisions, key=lambda d: d.created_at)

    def decision_body(
        self,
        decision_type: str,
        outcome: str,
        rationale: str,
        arbitration_id: str | None,
        evidence: list[dict[str, Any]],
    ) -> dict[str, Any]:
        body = super().decision_body(decision_type, outcome, rationale, arbitration_id, evidence)
        body["decided_by"] = self.agent_id  # required in the body
        return body

    async def record_decision(
        self,
        intent_id: str,
        decision_type: str,
        outcome: str,
        rationale: str,
        arbitration_id: str | None = None,
        evidence: list[dict[str, Any]] | None = None,
    ) -> Decision:
        what = f"POST {API}/intents/{intent_id}/decisions"
        body = self.decision_body(decision_type, outcome, rationale, arbitration_id, evidence or [])
        raw = await self.raw("POST", f"{API}/intents/{intent_id}/decisions", body=body)
        if isinstance(raw, dict) and "id" in raw:
            return self.convert(raw, Decision, what)
        decision = rebuilt.decision_of_reply(raw, intent_id, body)  # {"message", "decision_id"}
        if decision is None:
            raise ClientError(200, f"Unexpected response to {what}: no decision in it", raw)
        return decision

    # -- attachments, costs, failures --------------------------------------------------------
    async def add_attachment(
        self,
        intent_id: str,
        filename: str,
        *,
        content: bytes | None = None,
        url: str | None = None,
        mime_type: str = "application/octet-stream",
        metadata: dict[str, Any] | None = None,
        size: int | None = None,
    ) -> Attachment:
        try:
            return await super().add_attachment(
                intent_id,
                filename,
                content=content,
                url=url,
                mime_type=mime_type,
                metadata=metadata,
                size=size,
            )
        except ValidationError as exc:
            if url is None and _names_field(exc, "storage_url"):
                raise Unavailable(
                    exc.status,
                    "This server does not store attachment content: reference a URL instead",
                    exc.body,
                ) from exc
            raise

    def _cost_metadata(self, metadata: dict[str, Any]) -> dict[str, Any]:
        return {"metadata": metadata, "cost_metadata": metadata}  # its name for it

    async def record_failure(self, intent_id: str, **fields: Any) -> Failure:
        if "error_code" in fields and "error_type" not in fields:
            fields["error_type"] = fields["error_code"]  # its name for it
        return await super().record_failure(intent_id, **fields)

    # -- portfolios --------------------------------------------------------------------------
    async def get_portfolio(self, portfolio_id: str) -> PortfolioDetail:
        detail = await super().get_portfolio(portfolio_id)
        if detail.aggregate_status is not None:
            return detail
        # It sends the bare portfolio: its members are a second request.
        members = await self.portfolio_intents(portfolio_id)
        return msgspec.structs.replace(
            detail,
            intents=members.intents,
            aggregate_status=members.aggregate_status,
            memberships=members.memberships,
        )

    async def add_to_portfolio(
        self, portfolio_id: str, intent_id: str, role: str = "member", priority: int = 0
    ) -> Membership:
        path = f"{API}/portfolios/{portfolio_id}/intents"
        body = {"intent_id": intent_id, "role": role, "priority": priority}
        raw = await self.raw("POST", path, body=body)
        membership = rebuilt.membership_of_reply(raw, portfolio_id, body)
        if membership is not None:  # {"message", "membership_id"}
            return membership
        return self.convert(raw, Membership, f"POST {path}")
