"""Federation (RFC-0022/0023): the public well-known documents and /api/v1/federation/*."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import msgspec
from litestar import Controller, Litestar, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from ..domain.errors import DomainError, InvalidInput, NotFound
from ..federation.callbacks import receive_callback
from ..federation.dispatch import create_dispatch
from ..federation.outbox import FederationLane
from ..federation.service import Federation
from ..outbound.delivery import RetryPolicy
from ..store import Store
from ..wire.federation import (
    Callback,
    CallbackAnswer,
    DispatchAnswer,
    DispatchList,
    DispatchRequest,
    DispatchView,
    Envelope,
    FederatedAgentList,
    FederatedAgentOut,
    FederationStatus,
    PeerList,
    ReceiveAnswer,
)
from ..wire.headers import API_KEY
from .body import check_json_body
from .openapi import errors, json_body_operation
from .params import Limit, Offset
from .workflows import WorkflowController, workflow_runner

CAPABILITIES: list[str] = []  # "federation" is added by the app only when it is enabled
NOT_ENABLED = "Federation not enabled"
RETRY_BASE_SECONDS = 1.0  # 1, 2, 4, 8 s (with jitter) between tries
RETRY_MAX_SECONDS = 8.0
log = logging.getLogger("openintent.federation")


def federation_of(request: Request) -> Federation | None:
    return request.app.state.federation


def _enabled(request: Request) -> Federation:
    federation = federation_of(request)
    if federation is None:
        raise NotFound(NOT_ENABLED)
    return federation


@get(
    "/.well-known/openintent-federation.json",
    summary="Federation manifest",
    description="404 when federation is not enabled on this server.",
    tags=["federation"],
    sync_to_thread=False,
    responses=errors(404),
)
def manifest(request: Request) -> dict[str, Any]:
    return _enabled(request).manifest()


@get(
    "/.well-known/did.json",
    summary="DID document",
    description="404 when federation is not enabled on this server.",
    tags=["federation"],
    sync_to_thread=False,
    responses=errors(404),
)
def did_document(request: Request) -> dict[str, Any]:
    return _enabled(request).identity.did_document()


class FederationController(Controller):
    path = "/federation"
    tags = ["federation"]

    @get("/status", summary="Federation status")
    async def status(self, request: Request, store: NamedDependency[Store]) -> FederationStatus:
        federation = federation_of(request)
        if federation is None:
            return FederationStatus(
                enabled=False,
                server_did=None,
                trust_policy=request.app.state.settings.federation_trust_policy,
                peer_count=0,
                active_dispatches=0,
                total_dispatches=0,
                total_received=0,
            )
        counts = await store.federation_counts()
        return FederationStatus(
            enabled=True,
            server_did=federation.did,
            trust_policy=federation.config.trust_policy,
            peer_count=len(federation.config.peers),
            active_dispatches=counts.active_dispatches,
            total_dispatches=counts.total_dispatches,
            total_received=counts.total_received,
        )

    @post(
        "/dispatch",
        status_code=HTTP_202_ACCEPTED,
        summary="Send an intent to a peer",
        description="400 when federation is not enabled, the peer is unknown or the intent "
        "cannot be dispatched; 403 when the peer does not take dispatches from us; 404 for "
        "an unknown intent.",
        responses=errors(403, 404),
    )
    async def dispatch(
        self,
        request: Request,
        store: NamedDependency[Store],
        data: JSONBody[DispatchRequest],
    ) -> DispatchAnswer:
        federation = federation_of(request)
        if federation is None:
            raise InvalidInput(NOT_ENABLED)
        view = await create_dispatch(store, federation, data)
        request.app.state.webhook_worker.wake()
        return DispatchAnswer(
            dispatch_id=view.dispatch_id,
            status="accepted",
            target_server=view.target_server,
            message="Dispatch initiated",
        )

    @get("/dispatches", summary="Dispatches sent (out) or received (in), newest first")
    async def dispatches(
        self,
        store: NamedDependency[Store],
        direction: Annotated[str, QueryParameter(pattern="^(out|in)$")] = "out",
        status: Annotated[str | None, QueryParameter(required=False)] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> DispatchList:
        views, total = await store.list_dispatches(
            direction=direction, status=status, limit=limit, offset=offset
        )
        end = offset + len(views)
        return DispatchList(
            dispatches=views, total=total, next_offset=end if views and end < total else None
        )

    @get("/dispatches/{dispatch_id:str}", summary="One dispatch")
    async def dispatch_record(
        self, store: NamedDependency[Store], dispatch_id: FromPath[str]
    ) -> DispatchView:
        return await store.get_dispatch(dispatch_id)

    @get("/peers", summary="Configured peers: key, reachability, dispatch counts")
    async def peers(self, request: Request, store: NamedDependency[Store]) -> PeerList:
        federation = federation_of(request)
        if federation is None:
            return PeerList(peers=[])
        monitor = federation.peers
        assert monitor is not None  # set while the app runs (Federation.running)
        sent, received = await store.dispatch_counts_by_peer()
        views = [monitor.view(peer, sent, received) for peer in federation.config.peers]
        return msgspec.convert({"peers": views}, PeerList)

    @get("/agents", summary="Agents offered to federated peers", sync_to_thread=False)
    def agents(
        self,
        request: Request,
        source_server: Annotated[
            str | None,
            HeaderParameter(
                name="X-Source-Server",
                description="The asking peer's URL or DID: configured peers also see"
                " unlisted agents.",
                required=False,
            ),
        ] = None,
    ) -> FederatedAgentList:
        federation = federation_of(request)
        if federation is None:
            return FederatedAgentList(agents=[])
        config = federation.config
        visible = {"public"}
        if source_server:
            peer = config.find_peer(url=source_server, did=source_server)
            if peer is not None and peer.may_send_to_us:
                visible.add("unlisted")  # a configured peer may also see unlisted agents
        return FederatedAgentList(
            agents=[
                FederatedAgentOut(
                    agent_id=agent.agent_id,
                    server_url=config.server_url,
                    capabilities=agent.capabilities,
                    visibility=agent.visibility,
                    server_did=federation.did,
                )
                for agent in config.agents
                if agent.visibility in visible
            ]
        )


@post(
    "/api/v1/federation/receive",
    status_code=HTTP_200_OK,
    summary="Receive a dispatch from another server",
    description="Authenticated by the envelope's Ed25519 signature (any failure is a 401,"
    " even with an API key) or, unsigned, by X-API-Key (the SDK's federation_receive)."
    " 403 when the source is not trusted or its delegation token does not hold; 409 when"
    " the dispatch id or idempotency key was already received with different content."
    " Unknown envelope fields are kept: the signature covers the object as received.",
    tags=["federation"],
    operation_class=json_body_operation(Envelope),
    responses=errors(401, 403, 409),
)
async def receive(request: Request, store: NamedDependency[Store]) -> ReceiveAnswer:
    body = await _json_body(request)  # 415 / too deep first, as on every JSON endpoint
    federation = federation_of(request)
    if federation is None:
        raise InvalidInput(NOT_ENABLED)
    presented = request.headers.get(API_KEY.name)
    key_accepted = request.app.state.keyring.accepts(presented)
    assert federation.receiver is not None  # set while the app runs (Federation.running)
    try:
        answer = await federation.receiver.receive(store, body, key_accepted)
    except DomainError as exc:
        if exc.status_code in (401, 403):  # nothing is recorded: the log is the trace
            source = request.client.host if request.client else "?"
            log.warning("federation receive from %s refused (%s): %s", source, exc.status_code, exc)
        raise
    return ReceiveAnswer(**answer)


@post(
    "/api/v1/federation/callback",
    status_code=HTTP_200_OK,
    summary="Progress of one of our dispatches, from its target",
    description="Authenticated by the callback's signature (the dispatch target's key) or, "
    "unsigned, by X-API-Key (the SDK's send_federation_callback). 404 when the dispatch is "
    "not one of ours.",
    tags=["federation"],
    operation_class=json_body_operation(Callback),
    responses=errors(401, 404),
)
async def callback(request: Request, store: NamedDependency[Store]) -> CallbackAnswer:
    body = await _json_body(request)  # 415 / too deep first, as on every JSON endpoint
    federation = federation_of(request)
    if federation is None:
        raise InvalidInput(NOT_ENABLED)
    key_accepted = request.app.state.keyring.accepts(request.headers.get(API_KEY.name))
    answer = await receive_callback(store, federation, body, key_accepted)
    return CallbackAnswer(**answer)


async def _json_body(request: Request) -> bytes:
    """The raw body, once it is declared JSON (415) and not nested too deep (400). It is
    parsed and validated (strictly, into the wire Struct) by the receiver, which needs the
    object exactly as received to verify its signature."""
    body = await request.body()
    check_json_body(
        body, request.headers.get("content-type"), request.app.state.settings.max_json_depth
    )
    return body


@asynccontextmanager
async def federation_running(app: Litestar) -> AsyncIterator[None]:
    """The federation client, and its lane in the outbound (webhook) worker."""
    federation: Federation | None = app.state.federation
    if federation is None:
        yield
        return
    await federation.load_stored_identity(app.state.store)
    async with federation.running():
        settings = app.state.settings
        assert federation.posts is not None  # set by running()
        lane = FederationLane(
            app.state.store,
            federation.config,
            federation.identity,
            federation.posts,
            federation.egress,
            RetryPolicy(
                max_attempts=settings.federation_max_attempts,
                base_seconds=RETRY_BASE_SECONDS,
                max_seconds=RETRY_MAX_SECONDS,
            ),
        )
        app.state.webhook_worker.add_lane(lane)
        yield


PUBLIC_HANDLERS = [manifest, did_document, receive, callback]
# Workflows (spec/federation.md §7) are registered with federation: their `dispatch_to`
# phases are its dispatches, and the runner needs the federation lane (so it comes after).
LIFESPANS = [federation_running, workflow_runner]
CONTROLLERS = [FederationController, WorkflowController]
