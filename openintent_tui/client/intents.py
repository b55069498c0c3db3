"""Intents, their graph, agent assignments and the event log."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from backend.domain.lifecycle import STATUSES
from backend.wire.base import Message
from backend.wire.events import Event, EventCreate, EventPage
from backend.wire.headers import IF_MATCH
from backend.wire.intents import (
    AgentAssignment,
    AgentAssignmentList,
    ChildIntents,
    Intent,
    IntentCounts,
    IntentCreate,
    IntentDependencies,
    IntentList,
    IntentSort,
    PatchOp,
)
from backend.wire.limits import MAX_PAGE

from .base import API, BaseClient
from .errors import NotFoundError, Unavailable
from .sse import SSEFrame
from .stream import event_from_frame


def _if_match(version: int) -> dict[str, str]:
    return {IF_MATCH.name: str(version)}


def _patch_body(patches: list[PatchOp | dict[str, Any]]) -> dict[str, Any]:
    ops = [msgspec.to_builtins(p) if isinstance(p, PatchOp) else dict(p) for p in patches]
    return {"patches": ops}


class IntentsAPI(BaseClient):
    # -- discovery -------------------------------------------------------------------------
    async def discover(self) -> dict[str, Any]:
        """`/.well-known/openintent.json` (capabilities, protocol version) as a dict, because
        implementations disagree on its shape."""
        return await self.raw("GET", "/.well-known/openintent.json")

    async def health(self) -> dict[str, Any]:
        return await self.raw("GET", "/health")

    # -- intents ---------------------------------------------------------------------------
    _keyset: bool | None = None
    """Whether the server speaks issue 16's list contract; None until `keyset_intents()`."""

    async def list_intents(
        self,
        status: str | None = None,
        q: str | None = None,
        created_by: str | None = None,
        parent_intent_id: str | None = None,
        limit: int = 500,
        offset: int = 0,
        *,
        sort: IntentSort | None = None,
        cursor: str | None = None,
    ) -> IntentList:
        """One page, newest first unless `sort`. `cursor` is a previous page's `next_cursor`,
        sent with the same filters (and then no offset: the server refuses both).
        (`capabilities.list_intents`: `Unavailable` without it.)"""
        params = {
            "status": status,
            "q": q,
            "created_by": created_by,
            "parent_intent_id": parent_intent_id,
            "limit": limit,
            "offset": None if cursor else offset,
            "sort": sort,
            "cursor": cursor,
        }
        return await self.fetch("GET", f"{API}/intents", IntentList, params=params)

    async def keyset_intents(self) -> bool:
        """Whether this server pages intents by cursor, sorts them on request and counts them
        by status (`GET /intents/counts`): the three came together (issue 16), so one probe
        of the counts endpoint answers for all three, once per client."""
        if self._keyset is None:
            try:
                await self.fetch("GET", f"{API}/intents/counts", IntentCounts)
                self._keyset = True
            except (NotFoundError, Unavailable):  # "counts" read as an intent id, or no route
                self._keyset = False
        return self._keyset

    async def intent_counts(self) -> IntentCounts:
        """The fleet's size by status. A server without the counts endpoint is counted from
        the `total` of one one-row list per status (what it costs that server to count)."""
        if await self.keyset_intents():
            return await self.fetch("GET", f"{API}/intents/counts", IntentCounts)
        pages = await asyncio.gather(*(self.list_intents(status=s, limit=1) for s in STATUSES))
        by_status = {s: page.total for s, page in zip(STATUSES, pages, strict=True) if page.total}
        return IntentCounts(total=sum(by_status.values()), by_status=by_status)

    async def list_all_intents(self, page_size: int = MAX_PAGE, **filters: Any) -> list[Intent]:
        """Every intent, paging by offset; de-duplicated by id (pages shift while intents
        are created during the walk)."""
        seen: dict[str, Intent] = {}
        offset = 0
        while True:
            page = await self.list_intents(limit=page_size, offset=offset, **filters)
            for intent in page.intents:
                seen.setdefault(intent.id, intent)
            if page.next_offset is not None:  # ours: a page may end early at its byte budget
                offset = page.next_offset
                continue
            offset += len(page.intents)
            if len(page.intents) < page_size or offset >= page.total:
                return list(seen.values())

    async def get_intent(self, intent_id: str) -> Intent:
        return await self.fetch("GET", f"{API}/intents/{intent_id}", Intent)

    async def create_intent(self, title: str, **fields: Any) -> Intent:
        """Fields as in `IntentCreate` (description, state, constraints, parent_intent_id,
        depends_on, status, ...); an unknown field raises TypeError before any request."""
        IntentCreate(title=title, **fields)  # validates names locally
        return await self.fetch("POST", f"{API}/intents", Intent, body={"title": title, **fields})

    async def create_child(self, parent_id: str, title: str, **fields: Any) -> Intent:
        IntentCreate(title=title, **fields)
        return await self.fetch(
            "POST", f"{API}/intents/{parent_id}/children", Intent, body={"title": title, **fields}
        )

    async def patch_state(
        self, intent_id: str, version: int, patches: list[PatchOp | dict[str, Any]]
    ) -> Intent:
        """Apply JSON-pointer patches (`{"op": "set", "path": "/a", "value": 1}`) at `version`;
        a stale version raises `ConflictError` with `current_version`."""
        return await self.fetch(
            "POST",
            f"{API}/intents/{intent_id}/state",
            Intent,
            body=_patch_body(patches),
            headers=_if_match(version),
        )

    async def set_status(
        self, intent_id: str, version: int, status: str, reason: str | None = None
    ) -> Intent:
        body: dict[str, Any] = {"status": status}
        if reason is not None:
            body["reason"] = reason
        return await self.fetch(
            "POST",
            f"{API}/intents/{intent_id}/status",
            Intent,
            body=body,
            headers=_if_match(version),
        )

    async def children(self, intent_id: str) -> list[Intent]:
        page = await self.fetch("GET", f"{API}/intents/{intent_id}/children", ChildIntents)
        return page.children

    async def dependencies(self, intent_id: str) -> list[Intent]:
        page = await self.fetch(
            "GET", f"{API}/intents/{intent_id}/dependencies", IntentDependencies
        )
        return page.dependencies

    # -- agents ----------------------------------------------------------------------------
    async def assign_agent(
        self, intent_id: str, agent_id: str | None = None, role: str = "worker"
    ) -> AgentAssignment:
        return await self.fetch(
            "POST",
            f"{API}/intents/{intent_id}/agents",
            AgentAssignment,
            body={"agent_id": agent_id or self.agent_id, "role": role},
        )

    async def list_agents(self, intent_id: str) -> list[AgentAssignment]:
        page = await self.fetch("GET", f"{API}/intents/{intent_id}/agents", AgentAssignmentList)
        return page.agents

    async def unassign_agent(self, intent_id: str, agent_id: str) -> Message:
        return await self.fetch("DELETE", f"{API}/intents/{intent_id}/agents/{agent_id}", Message)

    # -- events ----------------------------------------------------------------------------
    async def log_event(
        self, intent_id: str, event_type: str, payload: dict[str, Any] | None = None, **fields: Any
    ) -> Event:
        """Append an event; `event_type` must be one of `backend.wire.events.EVENT_TYPES`."""
        body = {"event_type": event_type, "payload": payload or {}, **fields}
        EventCreate(**body)  # validates names locally; the actor is X-Agent-ID
        return await self.fetch("POST", f"{API}/intents/{intent_id}/events", Event, body=body)

    async def list_events(
        self,
        intent_id: str,
        limit: int = 100,
        cursor: int = 0,
        event_type: str | None = None,
        since: str | None = None,
    ) -> EventPage:
        """One page of an intent's log, oldest first, after per-intent sequence `cursor`."""
        return await self.fetch(
            "GET",
            f"{API}/intents/{intent_id}/events",
            EventPage,
            params={"limit": limit, "cursor": cursor, "event_type": event_type, "since": since},
        )

    async def events_after(self, global_sequence: int, limit: int = 500) -> EventPage:
        """The whole server's log after `global_sequence`, oldest first (stream backfill)."""
        return await self.fetch(
            "GET",
            f"{API}/events",
            EventPage,
            params={"after": global_sequence, "limit": limit},
        )

    # -- streams -----------------------------------------------------------------------------
    def intent_stream_path(self, intent_id: str) -> str:
        return f"{API}/intents/{intent_id}/subscribe"  # the SDK's documented path

    def event_of_frame(self, frame: SSEFrame) -> Event | None:
        return event_from_frame(frame)

    def change_key(self, event: Event) -> str | None:
        return None  # every event of ours carries its sequence
