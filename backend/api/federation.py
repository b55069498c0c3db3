"""Federation (RFC-0022/0023): the public well-known documents and /api/v1/federation/*."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from litestar import Controller, Litestar, Request, get, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter
from litestar.status_codes import HTTP_200_OK

from ..auth import API_KEY_HEADER
from ..domain.errors import InvalidInput, NotFound
from ..federation.service import Federation
from ..store import Store
from ..wire.federation import FederatedAgentList, FederatedAgentOut, FederationStatus

CAPABILITIES: list[str] = []  # "federation" is added by the app only when it is enabled
NOT_ENABLED = "Federation not enabled"


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
    tags=["federation"],
    sync_to_thread=False,
)
def manifest(request: Request) -> dict[str, Any]:
    return _enabled(request).manifest()


@get("/.well-known/did.json", summary="DID document", tags=["federation"], sync_to_thread=False)
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
    " even with an API key) or, unsigned, by X-API-Key (the SDK's federation_receive).",
    tags=["federation"],
)
async def receive(request: Request, store: NamedDependency[Store]) -> dict[str, Any]:
    federation = federation_of(request)
    if federation is None:
        raise InvalidInput(NOT_ENABLED)
    presented = request.headers.get(API_KEY_HEADER)
    key_accepted = request.app.state.keyring.accepts(presented)
    return await federation.receiver.receive(store, await request.body(), key_accepted)


@asynccontextmanager
async def federation_running(app: Litestar) -> AsyncIterator[None]:
    federation: Federation | None = app.state.federation
    if federation is None:
        yield
        return
    async with federation.running():
        yield


PUBLIC_HANDLERS = [manifest, did_document, receive]
LIFESPANS = [federation_running]
CONTROLLERS = [FederationController]
