"""The running federation: configuration and identity, built once per app."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress

import httpx

from ..outbound.egress import EgressPolicy, outbound_client, post_client
from ..outbound.http1 import PostClient
from ..settings import Settings
from ..store import Store
from .config import FederationConfig, load_federation_config
from .identity import SEED_BYTES, Identity, KeyPair, load_identity
from .outbox import LANE_CONCURRENCY
from .peers import PeerMonitor
from .receive import Receiver
from .resolver import FETCH_TIMEOUT_SECONDS, KeyResolver

PROTOCOL_VERSION = "0.1"
USER_AGENT = "openintent-tui-federation"
FETCH_CONNECTIONS = 8
SUPPORTED_RFCS = ["RFC-0022", "RFC-0023"]
ENDPOINTS = {
    "status": "/api/v1/federation/status",
    "agents": "/api/v1/federation/agents",
    "dispatch": "/api/v1/federation/dispatch",
    "receive": "/api/v1/federation/receive",
    "callback": "/api/v1/federation/callback",
}


class Federation:
    def __init__(
        self,
        config: FederationConfig,
        identity: Identity | None,
        egress_cidrs: Sequence[str] = (),
        connections: int = LANE_CONCURRENCY,
    ) -> None:
        self.config = config
        self.connections = connections
        """The federation lane's slots: its sends never use more connections per peer."""
        self._identity = identity
        self.egress = EgressPolicy(egress_cidrs)
        self.client: httpx.AsyncClient | None = None
        """GETs: manifests, DID documents, peer checks."""
        self.posts: PostClient | None = None
        """The federation lane's POSTs: dispatches and callbacks."""
        self.resolver: KeyResolver | None = None
        self.receiver: Receiver | None = None
        self.peers: PeerMonitor | None = None

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            raise RuntimeError("the federation identity is read from the database at start")
        return self._identity

    async def load_stored_identity(self, store: Store) -> None:
        """The identity the database holds (`config.key_file` None): created by the first
        instance to start, then shared by all of them."""
        if self._identity is None:
            seeds = await store.stored_identity_seeds(os.urandom(SEED_BYTES))
            self._identity = Identity([KeyPair(s) for s in seeds], self.config.server_did)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The outbound client and what uses it, for the app's lifetime."""
        self.client = outbound_client(FETCH_TIMEOUT_SECONDS, FETCH_CONNECTIONS)
        self.posts = post_client(FETCH_TIMEOUT_SECONDS, self.connections, USER_AGENT)
        self.resolver = KeyResolver(self.config, self.client, self.egress)
        self.receiver = Receiver(self.config, self.resolver, self.egress, self.identity.public_keys)
        self.peers = PeerMonitor(self.config, self.client, self.egress)
        refresher = asyncio.create_task(self.peers.run(), name="federation-peers")
        try:
            yield
        finally:
            refresher.cancel()
            with suppress(asyncio.CancelledError):
                await refresher
            await self.client.aclose()
            await self.posts.aclose()

    @classmethod
    def from_settings(cls, settings: Settings) -> Federation | None:
        """None when federation is off: no key file is created for a server that never
        federates."""
        if not settings.federation_enabled:
            return None
        config = load_federation_config(settings)
        identity = None  # held by the database: `load_stored_identity` at start
        if config.key_file is not None:
            identity = load_identity(config.key_file, config.server_did)
        return cls(config, identity, settings.egress_cidrs)

    @property
    def did(self) -> str:
        return self.identity.did

    def manifest(self) -> dict:
        config = self.config
        return {
            "server_did": self.did,
            "server_url": config.server_url,
            "protocol_version": PROTOCOL_VERSION,
            "trust_policy": config.trust_policy,
            "visibility_default": config.visibility_default,
            "supported_rfcs": SUPPORTED_RFCS,
            "peers": [peer.label for peer in config.peers],
            "endpoints": ENDPOINTS,
            "public_key": self.identity.public_key_b64,
        }
