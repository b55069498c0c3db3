"""Leases, arbitration and decisions (RFC-0003)."""

from __future__ import annotations

from typing import Any

import msgspec

from backend.wire.governance import (
    Arbitration,
    ArbitrationList,
    ArbitrationOption,
    Decision,
    DecisionList,
)
from backend.wire.leases import Lease, LeaseList

from . import adapters, rebuilt
from .base import API, BaseClient
from .errors import ClientError


def _lease_or_none(raw: Any, secret: str | None) -> Lease | None:
    """Releases answer with the lease here, with `{"message"}` on the reference server."""
    if not isinstance(raw, dict) or "id" not in raw:
        return None
    try:
        return adapters.convert(raw, Lease, secret=secret)
    except (msgspec.ValidationError, TypeError):
        return None


def _options(options: list[ArbitrationOption | dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [
        {"label": o.label, "rationale": o.rationale}
        if isinstance(o, ArbitrationOption)
        else dict(o)
        for o in options or []
    ]


class CoordinationAPI(BaseClient):
    # -- leases ----------------------------------------------------------------------------
    async def list_leases(
        self, status: str = "active", limit: int = 1000, agent_id: str | None = None
    ) -> list[Lease]:
        """Leases across every intent, oldest first; `status` is active, released, expired,
        revoked or all; `agent_id` keeps one holder's. (This server only: `Unavailable` on
        the reference.)"""
        page = await self.fetch(
            "GET",
            f"{API}/leases",
            LeaseList,
            key="leases",
            params={"status": status, "limit": limit, "agent_id": agent_id},
        )
        return page.leases

    async def intent_leases(
        self, intent_id: str, status: str = "active", agent_id: str | None = None
    ) -> list[Lease]:
        """The intent's leases in `status` (active, released, expired, revoked or all)."""
        page = await self.fetch(
            "GET",
            f"{API}/intents/{intent_id}/leases",
            LeaseList,
            key="leases",
            params={"status": status, "agent_id": agent_id},
        )
        # Filtered here too: the reference ignores both and answers every lease it has.
        return [
            lease
            for lease in page.leases
            if (status == "all" or lease.status == status)
            and (agent_id is None or lease.agent_id == agent_id)
        ]

    async def acquire_lease(
        self,
        intent_id: str,
        scope: str,
        duration_seconds: int = 300,
        agent_id: str | None = None,
    ) -> Lease:
        """Acquire for `agent_id` (default: this client's agent), sent as X-Agent-ID so the
        server records that agent as the holder. A held scope raises `ConflictError` with
        `existing_lease`."""
        return await self.fetch(
            "POST",
            f"{API}/intents/{intent_id}/leases",
            Lease,
            body={"scope": scope, "duration_seconds": duration_seconds},
            agent_id=agent_id,
        )

    async def renew_lease(
        self,
        intent_id: str,
        lease_id: str,
        duration_seconds: int = 300,
        agent_id: str | None = None,
    ) -> Lease:
        return await self.fetch(
            "PATCH",
            f"{API}/intents/{intent_id}/leases/{lease_id}",
            Lease,
            body={"duration_seconds": duration_seconds},
            agent_id=agent_id,
        )

    async def release_lease(
        self, intent_id: str, lease_id: str, agent_id: str | None = None
    ) -> Lease | None:
        """The released lease. None only when the server no longer lists it."""
        raw = await self.raw(
            "DELETE", f"{API}/intents/{intent_id}/leases/{lease_id}", agent_id=agent_id
        )
        lease = _lease_or_none(raw, self.api_key)
        if lease is None:  # the reference answers {"message"}: read the lease back
            every = await self.intent_leases(intent_id, status="all")
            lease = next((x for x in every if x.id == lease_id), None)
        return lease

    async def revoke_lease(self, intent_id: str, lease_id: str, reason: str) -> Lease:
        """An operator ends someone else's lease; the reason is recorded."""
        return await self.fetch(
            "POST",
            f"{API}/intents/{intent_id}/leases/{lease_id}/revoke",
            Lease,
            body={"reason": reason},
        )

    # -- arbitration -----------------------------------------------------------------------
    async def list_arbitrations(
        self, status: str = "pending", limit: int = 1000
    ) -> list[Arbitration]:
        """Arbitration requests across intents (pending or resolved), oldest first."""
        page = await self.fetch(
            "GET",
            f"{API}/arbitrations",
            ArbitrationList,
            key="arbitrations",
            params={"status": status, "limit": limit},
        )
        return page.arbitrations

    async def get_arbitration(self, arbitration_id: str) -> Arbitration:
        return await self.fetch("GET", f"{API}/arbitrations/{arbitration_id}", Arbitration)

    async def intent_arbitrations(
        self, intent_id: str, status: str | None = None
    ) -> list[Arbitration]:
        page = await self.fetch(
            "GET",
            f"{API}/intents/{intent_id}/arbitrations",
            ArbitrationList,
            key="arbitrations",
            params={"status": status},
        )
        return page.arbitrations

    async def request_arbitration(
        self,
        intent_id: str,
        reason: str,
        options: list[ArbitrationOption | dict[str, Any]] | None = None,
        context: dict[str, Any] | None = None,
    ) -> Arbitration:
        what = f"POST {API}/intents/{intent_id}/arbitrate"
        body = {
            "reason": reason,
            "context": context or {},
            "options": _options(options),
            "requested_by": self.agent_id,  # ours defaults it to X-Agent-ID; the ref needs it
        }
        raw = await self.raw("POST", f"{API}/intents/{intent_id}/arbitrate", body=body)
        if isinstance(raw, dict) and "id" in raw:
            return self.convert(raw, Arbitration, what)
        # The reference answers {"message", "status"} and keeps only the logged event.
        logged = await self.list_events(intent_id, limit=50)
        arbitration = rebuilt.arbitration_of_log(logged.events, intent_id, body)
        if arbitration is None:
            raise ClientError(200, f"Unexpected response to {what}: no arbitration in it", raw)
        return arbitration

    # -- decisions -------------------------------------------------------------------------
    async def list_decisions(self, intent_id: str) -> list[Decision]:
        """The intent's decisions, oldest first."""
        path = f"{API}/intents/{intent_id}/decisions"
        raw = await self.raw("GET", path)
        page = self.convert(adapters.envelope(raw, "decisions"), DecisionList, f"GET {path}")
        if isinstance(raw, dict):
            return page.decisions
        # A bare list: the reference's RFC-0013 coordinator records, which never include the
        # decisions POSTed here. It keeps those only as `decision_recorded` events.
        logged = await self.list_events(intent_id, limit=1000)
        known = {d.id for d in page.decisions}
        decisions = page.decisions + [
            rebuilt.decision_of_event(event)
            for event in logged.events
            if event.event_type == "decision_recorded" and event.id not in known
        ]
        return sorted(decisions, key=lambda d: d.created_at)

    async def record_decision(
        self,
        intent_id: str,
        decision_type: str,
        outcome: str,
        rationale: str,
        arbitration_id: str | None = None,
        evidence: list[dict[str, Any]] | None = None,
    ) -> Decision:
        """Record a decision by this client's agent (the operator); naming `arbitration_id`
        resolves that pending arbitration in the same transaction."""
        what = f"POST {API}/intents/{intent_id}/decisions"
        body: dict[str, Any] = {
            "decision_type": decision_type,
            "outcome": outcome,
            "rationale": rationale,
            "evidence": evidence or [],
            "decided_by": self.agent_id,  # ours defaults it to X-Agent-ID; the ref needs it
        }
        if arbitration_id is not None:
            body["arbitration_id"] = arbitration_id
        raw = await self.raw("POST", f"{API}/intents/{intent_id}/decisions", body=body)
        if isinstance(raw, dict) and "id" in raw:
            return self.convert(raw, Decision, what)
        decision = rebuilt.decision_of_reply(raw, intent_id, body)
        if decision is None:
            raise ClientError(200, f"Unexpected response to {what}: no decision in it", raw)
        return decision
