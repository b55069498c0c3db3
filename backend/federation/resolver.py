"""Whose key signed it: peers' public keys from pins, manifests and DID documents.

Order for a source URL: the pinned key of a configured peer, else a cached answer (300 s),
else `{url}/.well-known/openintent-federation.json`, else `{url}/.well-known/did.json`. Every
fetch goes through the egress guard (resolved address checked, no redirects), with a 5 s
timeout and at most 64 KiB read.

A manifest may claim any `server_did`. It becomes the source's verified DID only when the
peer is pinned with that DID, when it is the did:web of the URL the manifest came from, or
when resolving the DID (did:web) yields the same key; otherwise the source is known by its
URL alone (else evil.example could claim did:web:bank.example and pass a DID allowlist).
"""

from __future__ import annotations

import json
import time
from urllib.parse import unquote

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..outbound.egress import EgressPolicy, EgressRefused
from .config import FederationConfig
from .identity import did_from_url, normalize_did, normalize_url, public_key_from_multibase
from .signing import public_key_from_b64

CACHE_SECONDS = 300.0
FETCH_TIMEOUT_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 65_536
MANIFEST_PATH = "/.well-known/openintent-federation.json"
DID_PATH = "/.well-known/did.json"


class FetchFailed(Exception):
    pass


class SourceKeys(msgspec.Struct, frozen=True, kw_only=True):
    keys: list[Ed25519PublicKey]
    source: str
    """"pinned" or "fetched"."""
    did: str | None
    """The verified DID, or None when the source is known by URL only."""
    fetched_at: float = 0.0


async def guarded_get_json(
    client: httpx.AsyncClient, policy: EgressPolicy, url: str
) -> dict | None:
    """GET a JSON object through the egress guard. None on 404; FetchFailed otherwise."""
    try:
        target = policy.check_url(url)
        address = await policy.resolve(target)
    except EgressRefused as exc:
        raise FetchFailed(f"refused by the egress guard: {exc}") from None
    request = client.build_request(
        "GET",
        target.copy_with(host=str(address)),
        headers={"Host": target.netloc.decode("ascii"), "Accept": "application/json"},
        extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        timeout=FETCH_TIMEOUT_SECONDS,
    )
    try:
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise FetchFailed(f"{url}: larger than {MAX_DOCUMENT_BYTES} bytes")
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{url}: {type(exc).__name__}") from None
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise FetchFailed(f"{url}: HTTP {response.status_code}")
    try:
        document = json.loads(body)
    except ValueError:
        raise FetchFailed(f"{url}: not JSON") from None
    if not isinstance(document, dict):
        raise FetchFailed(f"{url}: not a JSON object")
    return document


def keys_of_did_document(document: dict) -> list[Ed25519PublicKey]:
    """Every Ed25519 key of a DID document, from publicKeyBase64 (the SDK) or
    publicKeyMultibase (RFC-0023)."""
    keys = []
    methods = document.get("verificationMethod")
    for method in methods if isinstance(methods, list) else []:
        if not isinstance(method, dict):
            continue
        key = public_key_from_b64(method.get("publicKeyBase64"))
        if key is None and isinstance(method.get("publicKeyMultibase"), str):
            raw = public_key_from_multibase(method["publicKeyMultibase"])
            key = None if raw is None else Ed25519PublicKey.from_public_bytes(raw)
        if key is not None:
            keys.append(key)
    return keys


def did_web_url(did: str, *, http: bool = False) -> str | None:
    """Where a did:web document lives. The port is `%3A<port>` (W3C) or, as the SDK writes
    it, a numeric segment right after the host; further segments are a path."""
    if not did.startswith("did:web:"):
        return None
    segments = did[len("did:web:") :].split(":")
    host = unquote(segments[0])
    rest = segments[1:]
    if rest and rest[0].isdigit() and "%3a" not in segments[0].lower():
        host = f"{host}:{rest[0]}"
        rest = rest[1:]
    if not host:
        return None
    scheme = "http" if http else "https"
    path = "/" + "/".join(unquote(s) for s in rest) + "/did.json" if rest else DID_PATH
    return f"{scheme}://{host}{path}"


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes_raw()


class KeyResolver:
    def __init__(
        self, config: FederationConfig, client: httpx.AsyncClient, egress: EgressPolicy
    ) -> None:
        self.config = config
        self.client = client
        self.egress = egress
        self._by_url: dict[str, SourceKeys] = {}
        self._by_did: dict[str, tuple[float, list[Ed25519PublicKey]]] = {}

    async def for_source(self, source_url: str, *, refresh: bool = False) -> SourceKeys | None:
        """The keys a source URL signs with, or None when none can be found."""
        peer = self.config.find_peer(url=source_url)
        pinned = public_key_from_b64(peer.public_key) if peer is not None else None
        if peer is not None and pinned is not None:
            # A key pinned for this URL binds the URL's DID (or the pinned one) to it.
            return SourceKeys(
                keys=[pinned], source="pinned", did=peer.did or did_from_url(peer.url or source_url)
            )
        cache_key = normalize_url(source_url)
        cached = self._by_url.get(cache_key)
        if (
            cached is not None
            and not refresh
            and time.monotonic() - cached.fetched_at < CACHE_SECONDS
        ):
            return cached
        found = await self._fetch_source(
            source_url.rstrip("/"), peer_did=peer.did if peer else None
        )
        if found is not None:
            self._by_url[cache_key] = found
        return found

    async def _fetch_source(self, base: str, peer_did: str | None) -> SourceKeys | None:
        keys: list[Ed25519PublicKey] = []
        claimed_did = None
        try:
            manifest = await guarded_get_json(self.client, self.egress, base + MANIFEST_PATH)
        except FetchFailed:
            manifest = None
        if manifest is not None:
            key = public_key_from_b64(manifest.get("public_key"))
            if key is not None:
                keys.append(key)
            if isinstance(manifest.get("server_did"), str):
                claimed_did = manifest["server_did"]
        if not keys:
            try:
                document = await guarded_get_json(self.client, self.egress, base + DID_PATH)
            except FetchFailed:
                document = None
            if document is not None:
                keys = keys_of_did_document(document)
                if isinstance(document.get("id"), str):
                    claimed_did = claimed_did or document["id"]
        if not keys:
            return None
        did = await self._bind(claimed_did, keys, peer_did, base)
        return SourceKeys(keys=keys, source="fetched", did=did, fetched_at=time.monotonic())

    async def _bind(
        self, claimed: str | None, keys: list[Ed25519PublicKey], peer_did: str | None, base: str
    ) -> str | None:
        if claimed is None:
            return None
        if peer_did is not None:
            return peer_did if normalize_did(peer_did) == normalize_did(claimed) else None
        if normalize_did(claimed) == normalize_did(did_from_url(base)):
            # The did:web of the very origin the keys came from: resolving it would ask
            # that same origin again.
            return claimed
        did_keys = await self.for_did(claimed)
        if did_keys and {_raw(k) for k in keys} & {_raw(k) for k in did_keys}:
            return claimed
        return None

    async def for_did(self, did: str) -> list[Ed25519PublicKey]:
        """The keys of a DID: a pinned peer's, else its did:web document (cached)."""
        peer = self.config.find_peer(did=did)
        pinned = public_key_from_b64(peer.public_key) if peer is not None else None
        if pinned is not None:
            return [pinned]
        if normalize_did(did) == normalize_did(self.config.server_did):
            return []  # our own keys are checked by the caller, never fetched from ourselves
        cached = self._by_did.get(normalize_did(did))
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        url = did_web_url(did, http=self.config.did_web_http)
        if url is None:
            return []
        try:
            document = await guarded_get_json(self.client, self.egress, url)
        except FetchFailed:
            return []
        if document is None or not isinstance(document.get("id"), str):
            return []
        if normalize_did(document["id"]) != normalize_did(did):
            return []
        keys = keys_of_did_document(document)
        self._by_did[normalize_did(did)] = (time.monotonic(), keys)
        return keys
