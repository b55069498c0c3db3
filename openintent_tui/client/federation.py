"""Federation (RFC-0022/0023): this server's identity, its peers, the dispatches each way, and
sending an intent to a peer. (`capabilities.federation`: screens ask it first.)"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from backend.wire.federation import (
    DelegationScope,
    DispatchAnswer,
    DispatchList,
    DispatchView,
    FederatedAgentList,
    FederatedAgentOut,
    FederationStatus,
    PeerList,
    PeerView,
)

from .base import API, BaseClient
from .errors import ClientError, NotFoundError, Unavailable

MANIFEST_PATH = "/.well-known/openintent-federation.json"
DID_PATH = "/.well-known/did.json"
FEDERATION = f"{API}/federation"


class PeerDocuments(msgspec.Struct, kw_only=True):
    """What a peer publishes about itself, read from the peer directly (both are public)."""

    manifest: dict[str, Any] | None = None
    did_document: dict[str, Any] | None = None
    problem: str | None = None
    """Why one of them could not be read (unreachable, not federated)."""


class FederationAPI(BaseClient):
    async def federation_manifest(self) -> dict[str, Any]:
        """This server's own manifest: its DID, public key, trust policy and peers.
        `Unavailable` when federation is not enabled (the manifest is a 404)."""
        try:
            manifest = await self.raw("GET", MANIFEST_PATH)
        except NotFoundError as exc:
            raise Unavailable(404, "federation is not enabled on this server") from exc
        if not isinstance(manifest, dict):
            raise ClientError(200, f"Unexpected response to GET {MANIFEST_PATH}", manifest)
        return manifest

    async def federation_status(self) -> FederationStatus:
        return await self.fetch("GET", f"{FEDERATION}/status", FederationStatus)

    async def federation_peers(self) -> list[PeerView]:
        """Each configured peer as the server last saw it (it refreshes them in the
        background: reachability is as fresh as that refresh)."""
        return (await self.fetch("GET", f"{FEDERATION}/peers", PeerList)).peers

    async def federated_agents(self) -> list[FederatedAgentOut]:
        """The agents this server offers to its peers."""
        return (await self.fetch("GET", f"{FEDERATION}/agents", FederatedAgentList)).agents

    async def list_dispatches(
        self,
        direction: str = "out",
        status: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> DispatchList:
        """Dispatches sent (`out`) or received (`in`), newest first."""
        params = {"direction": direction, "status": status, "limit": limit, "offset": offset}
        return await self.fetch("GET", f"{FEDERATION}/dispatches", DispatchList, params=params)

    async def get_dispatch(self, dispatch_id: str) -> DispatchView:
        return await self.fetch("GET", f"{FEDERATION}/dispatches/{dispatch_id}", DispatchView)

    async def dispatch_intent(
        self,
        intent_id: str,
        target_server: str,
        *,
        agent_id: str | None = None,
        permissions: list[str] | None = None,
        cost_ceiling_usd: float | None = None,
    ) -> DispatchAnswer:
        """Send an intent to a peer; its status then moves on the dispatch record (202)."""
        body: dict[str, Any] = {"intent_id": intent_id, "target_server": target_server}
        if agent_id:
            body["agent_id"] = agent_id
        if permissions is not None:
            body["delegation_scope"] = msgspec.to_builtins(DelegationScope(permissions=permissions))
        if cost_ceiling_usd is not None:
            body["federation_policy"] = {"cost_ceiling_usd": cost_ceiling_usd}
        return await self.fetch("POST", f"{FEDERATION}/dispatch", DispatchAnswer, body=body)

    async def peer_documents(self, peer_url: str) -> PeerDocuments:
        """A peer's manifest and DID document, fetched from the peer itself without this
        server's API key (never sent to another host). Never raises: what could not be read
        is in `problem`."""
        documents = PeerDocuments()
        async with httpx.AsyncClient(
            base_url=peer_url.rstrip("/"),
            timeout=self.timeout,
            transport=self.transport,
            headers={"Accept": "application/json"},
        ) as http:
            for path, field in ((MANIFEST_PATH, "manifest"), (DID_PATH, "did_document")):
                try:
                    response = await http.get(path)
                except httpx.HTTPError as exc:
                    documents.problem = f"cannot reach {peer_url} ({type(exc).__name__})"
                    break
                if response.status_code != 200:
                    documents.problem = f"{path}: HTTP {response.status_code}"
                    continue
                try:
                    value = response.json()
                except ValueError:
                    documents.problem = f"{path}: not JSON"
                    continue
                if isinstance(value, dict):
                    setattr(documents, field, value)
        return documents
