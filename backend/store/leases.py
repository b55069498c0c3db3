"""The leases part of the Store contract (RFC-0003)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..wire.leases import Lease
from .keyset import Slice


class LeaseStore(ABC):
    @abstractmethod
    async def acquire_lease(
        self, intent_id: str, scope: str, agent_id: str, duration_seconds: int
    ) -> Lease:
        """Raises NotFound, or Conflict (with `existing_lease`) while the scope is held."""

    @abstractmethod
    async def renew_lease(
        self, intent_id: str, lease_id: str, agent_id: str, duration_seconds: int
    ) -> Lease:
        """Only the holder, only an active unexpired lease. Raises NotFound, Forbidden, Conflict."""

    @abstractmethod
    async def release_lease(self, intent_id: str, lease_id: str, agent_id: str) -> Lease:
        """Only the holder. Releasing a lease that no longer holds changes and logs nothing."""

    @abstractmethod
    async def revoke_lease(self, intent_id: str, lease_id: str, actor: str, reason: str) -> Lease:
        """An operator ends someone's lease. Raises NotFound, or Conflict if it no longer holds."""

    @abstractmethod
    async def list_leases(
        self,
        intent_id: str | None,
        status: str,
        limit: int = 1000,
        agent_id: str | None = None,
        cursor: str | None = None,
    ) -> Slice[Lease]:
        """One intent's leases, or every intent's when intent_id is None; `status` is a lease
        status or "all"; `agent_id` keeps one holder's. Oldest first; `cursor` continues
        from a page's `next_cursor`."""

    @abstractmethod
    async def expire_leases(self, limit: int = 500) -> int:
        """Mark lapsed leases expired (logging each); returns how many were marked."""
