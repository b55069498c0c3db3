"""The append-only event log: per intent, and the whole server's log for backfill."""

from __future__ import annotations

from typing import Annotated, cast

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from ..settings import Settings
from ..store import Store
from ..wire.events import Event, EventCreate, EventPage
from ..wire.headers import AGENT_ID
from ..wire.limits import MAX_INT64, MAX_PAGE
from .event_pages import FullPages
from .fast import Call
from .params import AgentIdHeader, Limit, Sequence, actor_of

CAPABILITIES = ["events"]

_encode = msgspec.json.Encoder().encode


async def _append(store: Store, intent_id: str, data: EventCreate, agent_id: str | None) -> Event:
    return await store.append_event(intent_id, data, actor_of(agent_id, data.actor, data.agent_id))


async def _event_page(
    store: Store,
    state: State,
    intent_id: str,
    limit: int,
    cursor: int,
    since: str | None,
    event_type: str | None,
) -> bytes:
    """The encoded `EventPage`; a full page is answered from `state.event_pages`, and kept
    there once read (api/event_pages.py says why it never goes stale)."""
    settings: Settings = state.settings
    pages: FullPages = state.event_pages
    key = (intent_id, limit, cursor, since, event_type, settings.max_response_bytes)
    body = pages.get(key)
    if body is None:
        page = await store.list_events(
            intent_id,
            limit=limit,
            cursor=cursor,
            since=since,
            event_type=event_type,
            max_bytes=settings.max_response_bytes,
        )
        body = _encode(page)
        if page.next_cursor is not None:
            pages.put(key, body)
    return body


async def lean_list_events(call: Call):
    query = call.query()
    body = await _event_page(
        call.store,
        call.state,
        call.path_params["intent_id"],
        limit=query.integer("limit", 100, 1, MAX_PAGE),
        cursor=query.integer("cursor", 0, 0, MAX_INT64),
        since=query.text("since"),
        event_type=query.text("event_type"),
    )
    return 200, msgspec.Raw(body), None


async def lean_append_event(call: Call):
    event = await _append(
        call.store,
        call.path_params["intent_id"],
        call.data(EventCreate),
        call.header(AGENT_ID),
    )
    return 201, event, None


class IntentEventController(Controller):
    path = "/intents/{intent_id:str}/events"
    tags = ["events"]

    @post("", status_code=HTTP_201_CREATED, summary="Append an event")
    async def append(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        data: JSONBody[EventCreate],
        agent_id: AgentIdHeader = None,
    ) -> Event:
        return await _append(store, intent_id, data, agent_id)

    @get("", summary="List an intent's events, oldest first")
    async def list_events(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        limit: Limit = 100,
        cursor: Annotated[
            int,
            QueryParameter(ge=0, le=MAX_INT64, description="`next_cursor` of the previous page"),
        ] = 0,
        since: Annotated[
            str | None, QueryParameter(description="Only events after this ISO 8601 time")
        ] = None,
        event_type: Annotated[str | None, QueryParameter()] = None,
    ) -> Response[EventPage]:
        state = request.app.state
        body = await _event_page(store, state, intent_id, limit, cursor, since, event_type)
        # Already encoded: Litestar sends bytes as they are (the type documents the schema).
        return Response(cast("EventPage", body), media_type=MediaType.JSON)


class GlobalEventController(Controller):
    path = "/events"
    tags = ["events"]

    @get("", summary="The whole server's log after a global sequence (backfill)")
    async def after(
        self,
        request: Request,
        store: NamedDependency[Store],
        after: Sequence = 0,
        limit: Limit = 500,
    ) -> EventPage:
        max_bytes = request.app.state.settings.max_response_bytes
        events = await store.events_after(after, limit + 1, max_bytes)
        page = events[:limit]
        # A page also ends early at the response budget: then more may follow.
        more = len(events) > limit or (
            bool(page) and bool(await store.events_after(page[-1].global_sequence, 1))
        )
        return EventPage(events=page, next_cursor=page[-1].global_sequence if more else None)


CONTROLLERS = [IntentEventController, GlobalEventController]
