"""The retry-policy and failure part of the Store contract (RFC-0010)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..wire.retries import Failure, FailureCreate, RetryPolicy, RetryPolicySet
from .keyset import Slice


class RetryStore(ABC):
    @abstractmethod
    async def set_retry_policy(
        self, intent_id: str, data: RetryPolicySet, actor: str | None
    ) -> RetryPolicy:
        """Create or replace (already validated). Raises NotFound for an unknown intent."""

    @abstractmethod
    async def get_retry_policy(self, intent_id: str) -> RetryPolicy:
        """Raises NotFound for an unknown intent or when none is set."""

    @abstractmethod
    async def delete_retry_policy(self, intent_id: str, actor: str | None) -> None:
        """Raises NotFound for an unknown intent or when none is set."""

    @abstractmethod
    async def record_failure(
        self, intent_id: str, data: FailureCreate, agent_id: str | None
    ) -> Failure:
        """Applies the policy (next delay, exhaustion, fallback) atomically with the insert."""

    @abstractmethod
    async def list_failures(
        self,
        intent_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
        cursor: str | None = None,
    ) -> Slice[Failure]:
        """Oldest first. Raises NotFound.
        Paged: see `store.sqlite.core.read_keyset`."""
