"""What we know of each configured peer, refreshed in the background: its manifest (through
the egress guard, bounded concurrency), round-trip time, key, DID, and its public agents
when we hold an API key for it."""

from __future__ import annotations

import asyncio
import hashlib
import time
from contextlib import suppress
from typing import Any

import httpx

from ..domain.clock import now_iso
from ..outbound.egress import EgressPolicy
from ..wire.headers import API_KEY
from .config import FederationConfig, Peer
from .identity import normalize_url
from .resolver import MANIFEST_PATH, FetchFailed, guarded_get_json
from .signing import public_key_from_b64

REFRESH_SECONDS = 60.0
UNREACHED_RETRY_SECONDS = 5.0
"""A peer never reached yet (down when we started) is tried again this soon."""
CONCURRENCY = 4


def fingerprint(public_key_b64: str | None) -> str | None:
    key = public_key_from_b64(public_key_b64)
    if key is None:
        return None
    return "sha256:" + hashlib.sha256(key.public_bytes_raw()).hexdigest()[:32]


class PeerMonitor:
    def __init__(
        self, config: FederationConfig, client: httpx.AsyncClient, egress: EgressPolicy
    ) -> None:
        self.config = config
        self.client = client
        self.egress = egress
        self.seen: dict[str, dict[str, Any]] = {}
        self._limit = asyncio.Semaphore(CONCURRENCY)

    async def run(self) -> None:
        while True:
            await self.refresh_all()
            await asyncio.sleep(self._next_refresh())

    def _next_refresh(self) -> float:
        unreached = any(entry.get("last_contact_at") is None for entry in self.seen.values())
        return min(REFRESH_SECONDS, UNREACHED_RETRY_SECONDS) if unreached else REFRESH_SECONDS

    async def refresh_all(self) -> None:
        await asyncio.gather(*(self.refresh(p) for p in self.config.peers if p.url))

    async def refresh(self, peer: Peer) -> None:
        async with self._limit:
            started = time.perf_counter()
            entry = self.seen.setdefault(peer.label, {"last_contact_at": None})
            if peer.url is None:  # known by its DID alone: nothing to fetch
                entry.update(reachable=False, error="no URL configured")
                return
            try:
                manifest = await guarded_get_json(
                    self.client, self.egress, peer.url + MANIFEST_PATH
                )
            except FetchFailed as exc:
                entry.update(reachable=False, error=str(exc))
                return
            entry.update(
                reachable=manifest is not None,
                rtt_ms=round((time.perf_counter() - started) * 1000, 1),
                last_contact_at=now_iso(),
                error=None if manifest is not None else "no federation manifest",
            )
            if manifest is not None:
                entry["did"] = manifest.get("server_did")
                entry["public_key"] = manifest.get("public_key")
            if peer.api_key and manifest is not None:
                with suppress(httpx.HTTPError, ValueError):
                    entry["public_agents"] = await self._agents(peer)

    async def _agents(self, peer: Peer) -> list[str]:
        # Our own key for that peer, over the egress-checked address like every fetch.
        if peer.url is None or peer.api_key is None:
            return []
        target = self.egress.check_url(peer.url + "/api/v1/federation/agents")
        address = await self.egress.resolve(target)
        response = await self.client.get(
            target.copy_with(host=str(address)),
            headers={"Host": target.netloc.decode("ascii"), API_KEY.name: peer.api_key},
        )
        agents = response.json().get("agents", []) if response.status_code == 200 else []
        return [a["agent_id"] for a in agents if isinstance(a, dict) and a.get("agent_id")]

    def view(self, peer: Peer, counts_out: dict[str, int], counts_in: dict[str, int]) -> dict:
        entry = self.seen.get(peer.label, {})
        fetched_key = entry.get("public_key")
        key = peer.public_key or fetched_key
        key_url = normalize_url(peer.url) if peer.url else ""
        return {
            "url": peer.url,
            "did": peer.did or entry.get("did"),
            "relationship": peer.relationship,
            "key_fingerprint": fingerprint(key),
            "key_source": "pinned" if peer.public_key else ("fetched" if fetched_key else None),
            "key_mismatch": bool(
                peer.public_key and fetched_key and fetched_key != peer.public_key
            ),
            "trusted": peer.may_send_to_us,
            "reachable": entry.get("reachable"),
            "rtt_ms": entry.get("rtt_ms"),
            "last_contact_at": entry.get("last_contact_at"),
            "last_error": entry.get("error"),
            "dispatches_out": counts_out.get(key_url, 0),
            "dispatches_in": counts_in.get(key_url, 0),
            "public_agents": entry.get("public_agents", []),
        }
