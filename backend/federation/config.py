"""Federation configuration: the flat settings merged with the YAML `federation:` block.

Invalid values (an unknown trust policy, a pinned key that is not 32 bytes, an unset
`api_key_env`) stop the server at startup, as the SDK's `ValueError` does: a federation
that silently trusts the wrong peers is worse than one that does not start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import msgspec

from ..settings import Settings
from .identity import default_key_path, did_from_url, normalize_did, normalize_url
from .signing import public_key_from_b64

TrustPolicy = Literal["open", "allowlist", "trustless"]
Visibility = Literal["public", "unlisted", "private"]
Relationship = Literal["peer", "upstream", "downstream"]
POLICY_STRICTNESS = {"open": 0, "allowlist": 1, "trustless": 2}


class FederationConfigError(ValueError):
    pass


class _PeerEntry(msgspec.Struct, kw_only=True):
    """A peer as written in YAML; unknown keys are tolerated (seed files carry more)."""

    url: str | None = None
    did: str | None = None
    public_key: str | None = None
    relationship: Relationship = "peer"
    trust_policy: TrustPolicy | None = None
    api_key: str | None = None
    api_key_env: str | None = None


class _AgentEntry(msgspec.Struct, kw_only=True):
    agent_id: str
    capabilities: list[str] = msgspec.field(default_factory=list)
    visibility: Visibility | None = None


class _FederationBlock(msgspec.Struct, kw_only=True):
    server_url: str | None = None
    server_did: str | None = None
    aliases: list[str] = msgspec.field(default_factory=list)
    trust_policy: TrustPolicy | None = None
    visibility_default: Visibility = "public"
    peers: list[str | _PeerEntry] = msgspec.field(default_factory=list)
    agents: list[_AgentEntry] = msgspec.field(default_factory=list)


class Peer(msgspec.Struct, frozen=True, kw_only=True):
    url: str | None = None
    did: str | None = None
    public_key: str | None = None
    """Pinned key (base64 of the 32 raw bytes); None: fetched from the peer."""
    relationship: Relationship = "peer"
    trust_policy: TrustPolicy | None = None
    api_key: str | None = None
    """Sent as X-API-Key with what we send to this peer; never published."""

    @property
    def label(self) -> str:
        return self.url or self.did or ""

    @property
    def may_send_to_us(self) -> bool:
        return self.relationship != "downstream"

    @property
    def may_receive_from_us(self) -> bool:
        return self.relationship != "upstream"


class FederatedAgent(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    capabilities: list[str]
    visibility: Visibility


class FederationConfig(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool
    server_url: str
    server_did: str
    aliases: list[str]
    trust_policy: TrustPolicy
    visibility_default: Visibility
    peers: list[Peer]
    agents: list[FederatedAgent]
    key_file: Path | None
    """None: the database holds the identity (PostgreSQL without `federation_key_file`, so
    every instance on it is the same server)."""
    max_skew_seconds: int
    max_attempts: int
    did_web_http: bool

    def own_urls(self) -> set[str]:
        """Every URL a sender may name as `target_server` for us."""
        return {normalize_url(u) for u in [self.server_url, *self.aliases]}

    def find_peer(self, url: str | None = None, did: str | None = None) -> Peer | None:
        """A peer matches by normalised URL or by DID (either DID form)."""
        wanted_url = normalize_url(url) if url else None
        wanted_did = normalize_did(did) if did else None
        for peer in self.peers:
            if wanted_url and peer.url and normalize_url(peer.url) == wanted_url:
                return peer
            if wanted_did and peer.did and normalize_did(peer.did) == wanted_did:
                return peer
        return None


def load_federation_config(
    settings: Settings, environ: dict[str, str] | None = None
) -> FederationConfig:
    environ = dict(os.environ) if environ is None else environ
    block = _read_block(settings.federation_config) if settings.federation_config else None
    block = block or _FederationBlock()
    server_url = (block.server_url or settings.base_url).rstrip("/")
    peers: list[Peer] = []
    seen: set[str] = set()
    for entry in [*block.peers, *settings.federation_peers]:
        peer = _peer(entry, environ)
        key = normalize_url(peer.url) if peer.url else normalize_did(peer.did or "")
        if key in seen:
            continue
        seen.add(key)
        peers.append(peer)
    agents = [
        FederatedAgent(
            agent_id=a.agent_id,
            capabilities=list(a.capabilities),
            visibility=a.visibility or block.visibility_default,
        )
        for a in block.agents
    ]
    key_file: Path | None = None
    if settings.federation_key_file:
        key_file = Path(settings.federation_key_file)
    elif settings.postgres_url is None:
        key_file = default_key_path(settings.db_path)
    return FederationConfig(
        enabled=settings.federation_enabled,
        server_url=server_url,
        server_did=block.server_did or did_from_url(server_url),
        aliases=[a.rstrip("/") for a in block.aliases],
        trust_policy=block.trust_policy or settings.federation_trust_policy,
        visibility_default=block.visibility_default,
        peers=peers,
        agents=agents,
        key_file=key_file,
        max_skew_seconds=settings.federation_max_skew_seconds,
        max_attempts=settings.federation_max_attempts,
        did_web_http=settings.federation_did_web_http,
    )


def _read_block(path: str) -> _FederationBlock | None:
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            document: Any = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise FederationConfigError(f"federation_config {path}: {exc}") from None
    if not isinstance(document, dict) or document.get("federation") is None:
        return None
    try:
        return msgspec.convert(document["federation"], _FederationBlock)
    except msgspec.ValidationError as exc:
        raise FederationConfigError(f"federation_config {path}: {exc}") from None


def _peer(entry: str | _PeerEntry, environ: dict[str, str]) -> Peer:
    if isinstance(entry, str):
        entry = _PeerEntry(did=entry) if entry.startswith("did:") else _PeerEntry(url=entry)
    if not entry.url and not entry.did:
        raise FederationConfigError("a federation peer needs a url or a did")
    if entry.public_key is not None and public_key_from_b64(entry.public_key) is None:
        raise FederationConfigError(
            f"peer {entry.url or entry.did}: public_key is not base64 of 32 bytes"
        )
    api_key = entry.api_key
    if entry.api_key_env:
        if entry.api_key_env not in environ:
            raise FederationConfigError(
                f"peer {entry.url or entry.did}: api_key_env {entry.api_key_env} is not set"
            )
        api_key = environ[entry.api_key_env]
    return Peer(
        url=entry.url.rstrip("/") if entry.url else None,
        did=entry.did,
        public_key=entry.public_key,
        relationship=entry.relationship,
        trust_policy=entry.trust_policy,
        api_key=api_key,
    )
