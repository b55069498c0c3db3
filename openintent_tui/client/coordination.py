"""Leases, arbitration and decisions (RFC-0003)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backend.wire.governance import (
    Arbitration,
    ArbitrationList,
    ArbitrationOption,
    Decision,
    DecisionList,
)
from backend.wire.leases import Lease, LeaseList

from .base import API, BaseClient


def options_body(
    options: Sequence[ArbitrationOption | dict[str, Any]] | None,
) -> list[dict[str, Any]]:
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
        revoked or all; `agent_id` keeps one holder's. (`capabilities.list_all_leases`)"""
        page = await self.fetch(
            "GET",
            f"{API}/leases",
            LeaseList,
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
            params={"status": status, "agent_id": agent_id},
        )
        return page.leases

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
        return await self.fetch(
            "DELETE", f"{API}/intents/{intent_id}/leases/{lease_id}", Lease, agent_id=agent_id
        )

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
            params={"status": status},
        )
        return page.arbitrations

    async def request_arbitration(
        self,
        intent_id: str,
        reason: str,
        options: Sequence[ArbitrationOption | dict[str, Any]] | None = None,
        context: dict[str, Any] | None = None,
    ) -> Arbitration:
        body = {"reason": reason, "context": context or {}, "options": options_body(options)}
        return await self.fetch(
            "POST", f"{API}/intents/{intent_id}/arbitrate", Arbitration, body=body
        )

    # -- decisions -------------------------------------------------------------------------
    async def list_decisions(self, intent_id: str) -> list[Decision]:
        """The intent's decisions, oldest first."""
        page = await self.fetch("GET", f"{API}/intents/{intent_id}/decisions", DecisionList)
        return page.decisions

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
        return await self.fetch(
            "POST",
            f"{API}/intents/{intent_id}/decisions",
            Decision,
            body=self.decision_body(
                decision_type, outcome, rationale, arbitration_id, evidence or []
            ),
        )

    def decision_body(
        self,
        decision_type: str,
        outcome: str,
        rationale: str,
        arbitration_id: str | None,
        evidence: list[dict[str, Any]],
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "decision_type": decision_type,
            "outcome": outcome,
            "rationale": rationale,
            "evidence": evidence,
        }
        if arbitration_id is not None:
            body["arbitration_id"] = arbitration_id
        return body
