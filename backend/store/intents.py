"""The intents part of the Store contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import msgspec

from ..wire.intents import (
    AgentAssignment,
    Intent,
    IntentCounts,
    IntentCreate,
    IntentList,
    IntentSort,
)


class IntentFilter(msgspec.Struct, kw_only=True):
    """Filters for listing intents; all optional and combined with AND."""

    status: str | None = None
    created_by: str | None = None
    parent_intent_id: str | None = None
    text: str | None = None
    """Case-insensitive substring of the title or the description."""
    limit: int = 50
    offset: int = 0
    cursor: str | None = None
    """A `next_cursor` handed out by a page with the same filters; not with a nonzero offset."""
    sort: IntentSort | None = None
    """None: `-created_at`, or the cursor's own sort."""
    max_bytes: int | None = None
    """End the page early once its intents hold this much text (`next_offset` continues)."""


class IntentStore(ABC):
    @abstractmethod
    async def create_intent(self, data: IntentCreate, actor: str | None) -> Intent: ...

    @abstractmethod
    async def get_intent(self, intent_id: str) -> Intent:
        """Raises NotFound."""

    @abstractmethod
    async def list_intents(self, filters: IntentFilter) -> IntentList:
        """Raises InvalidInput for a bad cursor, or a cursor with an offset or another sort."""

    @abstractmethod
    async def intent_counts(self) -> IntentCounts:
        """Intents by status; its cost does not depend on how many there are."""

    @abstractmethod
    async def patch_state(
        self,
        intent_id: str,
        expected_version: int,
        patches: list[tuple[str, str, Any]],
        actor: str | None,
        max_state_bytes: int | None = None,
    ) -> Intent:
        """Apply all patches or none. Raises NotFound, VersionConflict, InvalidInput, Conflict,
        and PayloadTooLarge when the new state's JSON would exceed `max_state_bytes`."""

    @abstractmethod
    async def set_status(
        self,
        intent_id: str,
        expected_version: int,
        status: str,
        reason: str | None,
        actor: str | None,
    ) -> Intent: ...

    @abstractmethod
    async def assign_agent(
        self, intent_id: str, agent_id: str, role: str, actor: str | None
    ) -> AgentAssignment:
        """Idempotent: assigning an already-assigned agent returns the existing assignment."""

    @abstractmethod
    async def list_agents(self, intent_id: str) -> list[AgentAssignment]: ...

    @abstractmethod
    async def unassign_agent(self, intent_id: str, agent_id: str, actor: str | None) -> None: ...
