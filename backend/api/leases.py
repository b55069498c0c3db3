"""Leases (RFC-0003): acquire, renew, release, revoke, list; and the expiry sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from litestar import Controller, Litestar, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from ..domain.errors import InvalidInput
from ..domain.leases import check_duration, check_list_filter, check_scope, holder_of
from ..store import Store
from ..wire.headers import AGENT_ID
from ..wire.leases import Lease, LeaseAcquire, LeaseList, LeaseRenew, LeaseRevoke
from ..wire.limits import MAX_PAGE
from .fast import Call
from .openapi import errors
from .params import AgentIdHeader, Cursor

CAPABILITIES = ["leasing"]

SWEEP_BATCH = 500
log = logging.getLogger("openintent.leases")

StatusFilter = Annotated[
    str,
    QueryParameter(description="active (default), released, expired, revoked, or all"),
]
LeaseLimit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="At most this many")]
HolderFilter = Annotated[
    str | None, QueryParameter(name="agent_id", description="Only this agent's leases")
]


def _max_lease_seconds(request: Request) -> int:
    return request.app.state.settings.max_lease_seconds


async def _acquire(
    store: Store,
    intent_id: str,
    data: LeaseAcquire,
    agent_id: str | None,
    max_lease_seconds: int,
) -> Lease:
    holder = holder_of(agent_id, data.agent_id)
    check_scope(data.scope)
    check_duration(data.duration_seconds, max_lease_seconds)
    return await store.acquire_lease(intent_id, data.scope, holder, data.duration_seconds)


async def lean_acquire_lease(call: Call):
    lease = await _acquire(
        call.store,
        call.path_params["intent_id"],
        call.data(LeaseAcquire),
        call.header(AGENT_ID),
        call.state.settings.max_lease_seconds,
    )
    return 201, lease, None


async def lean_release_lease(call: Call):
    params = call.path_params
    holder = holder_of(call.header(AGENT_ID), None)
    return (
        200,
        await call.store.release_lease(params["intent_id"], params["lease_id"], holder),
        None,
    )


class IntentLeaseController(Controller):
    path = "/intents/{intent_id:str}/leases"
    tags = ["leases"]

    @post(
        "",
        status_code=HTTP_201_CREATED,
        summary="Acquire a lease on a scope",
        responses=errors(409),
    )
    async def acquire(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        data: JSONBody[LeaseAcquire],
        agent_id: AgentIdHeader = None,
    ) -> Lease:
        return await _acquire(store, intent_id, data, agent_id, _max_lease_seconds(request))

    @get("", summary="An intent's leases, oldest first (active ones by default)")
    async def list_for_intent(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        status: StatusFilter = "active",
        limit: LeaseLimit = 1000,
        holder: HolderFilter = None,
        cursor: Cursor = None,
    ) -> LeaseList:
        check_list_filter(status)
        page = await store.list_leases(intent_id, status, limit, holder, cursor)
        return LeaseList(leases=page.items, next_cursor=page.next_cursor)

    @patch(
        "/{lease_id:str}",
        summary="Renew a lease: a new lifetime from now (holder only)",
        responses=errors(403, 409),
    )
    async def renew(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        lease_id: FromPath[str],
        data: JSONBody[LeaseRenew],
        agent_id: AgentIdHeader = None,
    ) -> Lease:
        holder = holder_of(agent_id, None)
        check_duration(data.duration_seconds, _max_lease_seconds(request))
        return await store.renew_lease(intent_id, lease_id, holder, data.duration_seconds)

    @delete(
        "/{lease_id:str}",
        status_code=200,
        summary="Release a lease (holder only; releasing again is harmless)",
        responses=errors(403),
    )
    async def release(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        lease_id: FromPath[str],
        agent_id: AgentIdHeader = None,
    ) -> Lease:
        return await store.release_lease(intent_id, lease_id, holder_of(agent_id, None))

    @post(
        "/{lease_id:str}/revoke",
        status_code=200,
        summary="Revoke a lease (operator action)",
        responses=errors(409),
    )
    async def revoke(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        lease_id: FromPath[str],
        data: JSONBody[LeaseRevoke],
        agent_id: AgentIdHeader = None,
    ) -> Lease:
        actor = holder_of(agent_id, None)
        if not data.reason.strip():
            raise InvalidInput("A revocation needs a reason", errors=[{"field": "reason"}])
        return await store.revoke_lease(intent_id, lease_id, actor, data.reason)


class AllLeasesController(Controller):
    path = "/leases"
    tags = ["leases"]

    @get("", summary="Leases across all intents, oldest first (active ones by default)")
    async def list_all(
        self,
        store: NamedDependency[Store],
        status: StatusFilter = "active",
        limit: LeaseLimit = 1000,
        holder: HolderFilter = None,
        cursor: Cursor = None,
    ) -> LeaseList:
        check_list_filter(status)
        page = await store.list_leases(None, status, limit, holder, cursor)
        return LeaseList(leases=page.items, next_cursor=page.next_cursor)


async def _sweep_forever(store: Store, period: float) -> None:
    while True:
        await asyncio.sleep(period)
        try:
            # A full batch means more may be waiting: take them now, not one period later.
            while await store.expire_leases(SWEEP_BATCH) == SWEEP_BATCH:
                pass
        except Exception:  # keep sweeping: one failed batch must not stop expiry for good
            log.exception("lease sweep failed")


@contextlib.asynccontextmanager
async def lease_sweeper(app: Litestar) -> AsyncIterator[None]:
    """Marks lapsed leases expired every `lease_sweep_seconds` (each logged as released)."""
    task = asyncio.create_task(
        _sweep_forever(app.state.store, app.state.settings.lease_sweep_seconds),
        name="lease-sweeper",
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


CONTROLLERS = [IntentLeaseController, AllLeasesController]
LIFESPANS = [lease_sweeper]
