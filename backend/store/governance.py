"""The arbitration and decision part of the Store contract (RFC-0003 governance)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import msgspec

from ..wire.governance import Arbitration, ArbitrationOption, Decision
from .keyset import Slice


class NewDecision(msgspec.Struct, kw_only=True):
    """A decision with its aliases already resolved to one name each."""

    decision_maker_id: str
    decision_type: str
    outcome: str
    reasoning: str
    evidence: list[dict[str, Any]]
    arbitration_id: str | None = None


class GovernanceStore(ABC):
    @abstractmethod
    async def request_arbitration(
        self,
        intent_id: str,
        requester_id: str,
        reason: str,
        context: dict[str, Any],
        options: list[ArbitrationOption],
    ) -> Arbitration: ...

    @abstractmethod
    async def get_arbitration(self, arbitration_id: str) -> Arbitration:
        """Raises NotFound."""

    @abstractmethod
    async def list_arbitrations(
        self,
        intent_id: str | None,
        status: str | None,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
        cursor: str | None = None,
    ) -> Slice[Arbitration]:
        """Oldest first; across all intents when intent_id is None.
        Paged: see `store.sqlite.core.read_keyset`."""

    @abstractmethod
    async def record_decision(self, intent_id: str, decision: NewDecision) -> Decision:
        """A decision naming an arbitration resolves it in the same transaction.
        Raises NotFound, InvalidInput (unknown arbitration), Conflict (already resolved)."""

    @abstractmethod
    async def list_decisions(
        self,
        intent_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
        cursor: str | None = None,
    ) -> Slice[Decision]:
        """Oldest first.
        Paged: see `store.sqlite.core.read_keyset`."""
