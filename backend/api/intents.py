"""Intents (RFC-0001): create, read, list, state patches, status; graph links (RFC-0002)."""

from __future__ import annotations

from typing import Annotated, cast, get_args

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from ..domain.lifecycle import check_status
from ..domain.patches import check_depth
from ..settings import Settings
from ..store import Store
from ..store.intents import IntentFilter
from ..wire.headers import AGENT_ID, IF_MATCH
from ..wire.intents import (
    ChildIntents,
    Intent,
    IntentCounts,
    IntentCreate,
    IntentDependencies,
    IntentList,
    IntentSort,
    StatePatch,
    StatusChange,
)
from ..wire.limits import MAX_INT64, MAX_PAGE
from .fast import Call
from .openapi import errors
from .params import AgentIdHeader, IfMatchHeader, Offset, actor_of, etag, parse_if_match

_encode = msgspec.json.Encoder().encode

CAPABILITIES = ["intents", "state-patches", "optimistic-concurrency", "intent-graphs"]

ETAG = [
    ResponseHeader(
        name="ETag",
        documentation_only=True,  # set by each response (_with_etag and the lean handlers)
        value='"1"',  # only its type is documented (a string): OpenAPI wants a schema
        required=True,
        description='The intent\'s version as an entity tag (`"3"`); send it back, or the bare '
        "number, as `If-Match`",
    )
]


def _with_etag(intent: Intent, status_code: int = 200) -> Response[Intent]:
    return Response(intent, status_code=status_code, headers=etag(intent.version))


async def _patch_state(
    store: Store,
    intent_id: str,
    data: StatePatch,
    if_match: str | None,
    agent_id: str | None,
    settings: Settings,
) -> Intent:
    version = parse_if_match(if_match)
    patches = data.as_triples()
    check_depth(patches, settings.max_json_depth)
    return await store.patch_state(
        intent_id, version, patches, agent_id, max_state_bytes=settings.max_body_bytes
    )


async def _list_intents(store: Store, settings: Settings, filters: IntentFilter) -> IntentList:
    if filters.status is not None:
        check_status(filters.status)
    filters.max_bytes = settings.max_response_bytes
    return await store.list_intents(filters)


_SORTS = get_args(IntentSort)


async def lean_list_intents(call: Call):
    query = call.query()
    filters = IntentFilter(
        status=query.text("status"),
        created_by=query.text("created_by"),
        parent_intent_id=query.text("parent_intent_id"),
        text=query.text("q"),
        limit=query.integer("limit", 50, 1, MAX_PAGE),
        offset=query.integer("offset", 0, 0, MAX_INT64),
        cursor=query.text("cursor"),
        sort=cast("IntentSort | None", query.choice("sort", _SORTS)),
    )
    return 200, await _list_intents(call.store, call.state.settings, filters), None


async def lean_get_intent(call: Call):
    intent = await call.store.get_intent(call.path_params["intent_id"])
    return 200, intent, etag(intent.version)


async def lean_patch_state(call: Call):
    intent = await _patch_state(
        call.store,
        call.path_params["intent_id"],
        call.data(StatePatch),
        call.header(IF_MATCH),
        call.header(AGENT_ID),
        call.state.settings,
    )
    return 200, intent, etag(intent.version)


class IntentController(Controller):
    path = "/intents"
    tags = ["intents"]

    @post("", status_code=HTTP_201_CREATED, summary="Create an intent", response_headers=ETAG)
    async def create(
        self,
        store: NamedDependency[Store],
        data: JSONBody[IntentCreate],
        agent_id: AgentIdHeader = None,
    ) -> Response[Intent]:
        intent = await store.create_intent(data, actor_of(agent_id, data.created_by))
        return _with_etag(intent, HTTP_201_CREATED)

    @get("/counts", summary="How many intents there are, by status")
    async def counts(self, store: NamedDependency[Store]) -> IntentCounts:
        # A static segment: Litestar matches it before `/{intent_id}`, and intent ids are
        # UUIDs, so no intent is hidden behind it.
        return await store.intent_counts()

    @get("", summary="List intents, newest first")
    async def list_intents(
        self,
        request: Request,
        store: NamedDependency[Store],
        status: Annotated[str | None, QueryParameter()] = None,
        created_by: Annotated[str | None, QueryParameter()] = None,
        parent_intent_id: Annotated[str | None, QueryParameter()] = None,
        q: Annotated[
            str | None,
            QueryParameter(
                description="Case-insensitive text in the title or the description (a "
                "substring; three characters or more are answered from the search index)"
            ),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_INT64)] = 0,
        cursor: Annotated[
            str | None,
            QueryParameter(
                description="`next_cursor` of the previous page (send the same filters); "
                "not with a nonzero offset"
            ),
        ] = None,
        sort: Annotated[
            IntentSort | None,
            QueryParameter(
                description="`-created_at` (the default) or `created_at`, "
                "`-updated_at`, `updated_at`; a cursor keeps its own"
            ),
        ] = None,
    ) -> IntentList:
        filters = IntentFilter(
            status=status,
            created_by=created_by,
            parent_intent_id=parent_intent_id,
            text=q,
            limit=limit,
            offset=offset,
            cursor=cursor,
            sort=sort,
        )
        return await _list_intents(store, request.app.state.settings, filters)

    @get(
        "/{intent_id:str}",
        summary="Get an intent",
        response_headers=ETAG,
    )
    async def get_intent(
        self, store: NamedDependency[Store], intent_id: FromPath[str]
    ) -> Response[Intent]:
        return _with_etag(await store.get_intent(intent_id))

    @post(
        "/{intent_id:str}/state",
        status_code=200,
        summary="Apply state patches",
        responses=errors(409),
        response_headers=ETAG,
    )
    async def patch_state(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        data: JSONBody[StatePatch],
        if_match: IfMatchHeader = None,
        agent_id: AgentIdHeader = None,
    ) -> Response[Intent]:
        settings = request.app.state.settings
        return _with_etag(await _patch_state(store, intent_id, data, if_match, agent_id, settings))

    @post(
        "/{intent_id:str}/status",
        status_code=200,
        summary="Change the lifecycle status",
        responses=errors(409),
        response_headers=ETAG,
    )
    async def set_status(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        data: JSONBody[StatusChange],
        if_match: IfMatchHeader = None,
        agent_id: AgentIdHeader = None,
    ) -> Response[Intent]:
        version = parse_if_match(if_match)
        check_status(data.status)
        intent = await store.set_status(intent_id, version, data.status, data.reason, agent_id)
        return _with_etag(intent)

    @post(
        "/{intent_id:str}/children",
        status_code=HTTP_201_CREATED,
        summary="Create a child intent",
        response_headers=ETAG,
    )
    async def create_child(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        data: JSONBody[IntentCreate],
        agent_id: AgentIdHeader = None,
    ) -> Response[Intent]:
        child = msgspec.structs.replace(data, parent_intent_id=intent_id, parent_id=None)
        await store.get_intent(intent_id)  # 404 for an unknown parent in the path
        intent = await store.create_intent(child, actor_of(agent_id, data.created_by))
        return _with_etag(intent, HTTP_201_CREATED)

    @get("/{intent_id:str}/children", summary="Immediate children of an intent")
    async def list_children(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        offset: Offset = 0,
    ) -> ChildIntents:
        await store.get_intent(intent_id)
        page = await store.list_intents(
            IntentFilter(
                parent_intent_id=intent_id,
                limit=MAX_PAGE,
                offset=offset,
                max_bytes=request.app.state.settings.max_response_bytes,
            )
        )
        return ChildIntents(children=page.intents, next_offset=page.next_offset)

    @get("/{intent_id:str}/dependencies", summary="Intents this intent depends on")
    async def list_dependencies(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        offset: Offset = 0,
    ) -> IntentDependencies:
        intent = await store.get_intent(intent_id)
        budget = request.app.state.settings.max_response_bytes
        found: list[Intent] = []
        for dep in intent.depends_on[offset:]:
            dependency = await store.get_intent(dep)
            budget -= len(_encode(dependency))
            if found and budget < 0:
                break
            found.append(dependency)
        end = offset + len(found)
        return IntentDependencies(
            dependencies=found, next_offset=end if end < len(intent.depends_on) else None
        )


CONTROLLERS = [IntentController]
