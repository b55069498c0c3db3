"""The costs part of the Store contract (RFC-0009)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..wire.costs import Cost, CostCreate, CostList


class CostStore(ABC):
    @abstractmethod
    async def record_cost(self, intent_id: str, data: CostCreate, agent_id: str | None) -> Cost:
        """Raises NotFound. When the intent has a budget, reaching its alert threshold and
        exceeding it are each logged once, in the same transaction."""

    @abstractmethod
    async def list_costs(
        self,
        intent_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> CostList:
        """Oldest first, with the summary of every cost. Raises NotFound.
        Paged: see `store.sqlite.core.read_page`."""
