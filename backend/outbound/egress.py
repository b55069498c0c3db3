"""Egress guard (SSRF): outbound requests reach only public addresses, or allowlisted ranges.

A URL's host is resolved, every address it resolves to is checked, and the connection goes
to that checked address (the Host header and TLS SNI keep the name). Re-resolving at connect
time could return another address (DNS rebinding), so the name is never resolved twice.
Redirects are never followed: a receiver could otherwise point us anywhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpx

from .http1 import PostClient

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

RESOLVE_TIMEOUT_SECONDS = 5.0


class EgressRefused(Exception):
    """The URL or the address it resolves to may not be contacted. `permanent` is False
    only for resolution failures, which may pass (a delivery then retries)."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


# IPv6 ranges whose addresses carry an IPv4 destination in their last 32 bits: a packet to
# them ends up at that IPv4 address (through a NAT64 gateway, or by the deprecated
# IPv4-compatible form), so the IPv4 address is what must be judged.
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291 2.5.5.1, deprecated
# RFC 8215's local-use NAT64 prefix: the operator picks where the IPv4 bits sit (RFC 6052
# allows /32 to /96), so no single position can be judged; refused unless allowlisted.
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 destination an IPv6 address stands for, if it stands for one."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return address.ipv4_mapped
    if address.sixtofour is not None:  # 2002:AABB:CCDD::/48, 6to4 (RFC 3056)
        return address.sixtofour
    if address in _NAT64_WELL_KNOWN or (
        address in _IPV4_COMPATIBLE and int(address) > 1  # not :: or ::1 themselves
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class EgressPolicy:
    def __init__(self, allow_cidrs: Iterable[str] = ()) -> None:
        self.allowed: list[IPNetwork] = [ipaddress.ip_network(c, strict=False) for c in allow_cidrs]

    def address_allowed(self, address: IPAddress) -> bool:
        """Public unicast only (this refuses loopback, private, link-local and the cloud
        metadata address, CGNAT 100.64/10, multicast, unspecified and reserved ranges),
        unless an allowlisted range contains it. An IPv6 address that embeds an IPv4
        destination (mapped, IPv4-compatible, NAT64, 6to4) is judged by that IPv4 address."""
        if self._allowlisted(address):
            return True
        if address in _NAT64_LOCAL_USE:
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return self._allowlisted(embedded) or _public(embedded)
        return _public(address)

    def _allowlisted(self, address: IPAddress) -> bool:
        return any(address in network for network in self.allowed)

    def check_url(self, url: str) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise EgressRefused(f"not a valid URL: {exc}") from None
        if parsed.scheme not in ("http", "https"):
            raise EgressRefused("only http and https URLs are allowed")
        if not parsed.host:
            raise EgressRefused("the URL has no host")
        if parsed.userinfo:
            raise EgressRefused("credentials in the URL are not allowed")
        return parsed

    async def resolve(self, url: httpx.URL) -> IPAddress:
        """The address to connect to. Every address the name has must be allowed: a name
        that also points somewhere private is refused whichever address we would pick."""
        literal = _ip_literal(url.host)
        if literal is not None:  # nothing to resolve: no hop to the resolver's thread
            if not self.address_allowed(literal):
                raise EgressRefused(
                    f"{url.host!r} is not a public address (allow it with egress_allow_cidrs)"
                )
            return literal
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                infos = await asyncio.get_running_loop().getaddrinfo(
                    url.host, port, type=socket.SOCK_STREAM
                )
        except (OSError, TimeoutError) as exc:
            raise EgressRefused(f"cannot resolve {url.host!r}: {exc}", permanent=False) from None
        addresses = []
        for *_, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if not self.address_allowed(address):
                raise EgressRefused(
                    f"{url.host!r} resolves to {address}, which is not a public address"
                    " (allow it with egress_allow_cidrs)"
                )
            addresses.append(address)
        if not addresses:
            raise EgressRefused(f"cannot resolve {url.host!r}", permanent=False)
        return addresses[0]

    async def check(self, url: str) -> None:
        """For creation time: raises EgressRefused with a reason."""
        await self.resolve(self.check_url(url))


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _public(address: IPAddress) -> bool:
    return address.is_global and not address.is_multicast


class GuardedResponse:
    __slots__ = ("body", "status_code")

    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.body = body


async def guarded_post(
    client: PostClient,
    policy: EgressPolicy,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    max_response_bytes: int,
) -> GuardedResponse:
    """POST to the checked address. Reads at most `max_response_bytes` of the answer."""
    target = policy.check_url(url)
    address = await policy.resolve(target)
    status, answer = await client.post(
        target.copy_with(host=str(address)),
        host_header=target.netloc.decode("ascii"),
        sni=target.host if target.scheme == "https" else None,
        body=body,
        headers=headers,
        max_response_bytes=max_response_bytes,
    )
    return GuardedResponse(status, answer)


async def guarded_request(
    client: httpx.AsyncClient,
    policy: EgressPolicy,
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    *,
    max_response_bytes: int,
    request_timeout: httpx.Timeout | None = None,
    decode: bool = False,
) -> GuardedResponse:
    """`method` through an httpx client to the checked address (the OAP router's calls; the
    outbound worker's POSTs take `guarded_post`). Reads at most `max_response_bytes` of the answer:
    as sent (`decode=False`), or after content decoding (gzip...) for a caller that parses
    it; `request_timeout` overrides the client's for this request."""
    target = policy.check_url(url)
    address = await policy.resolve(target)
    request = client.build_request(
        method,
        target.copy_with(host=str(address)),
        content=body,
        headers={**headers, "Host": target.netloc.decode("ascii")},
        extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        timeout=httpx.USE_CLIENT_DEFAULT if request_timeout is None else request_timeout,
    )
    response = await client.send(request, stream=True, follow_redirects=False)
    try:
        received = bytearray()
        chunks = response.aiter_bytes() if decode else response.aiter_raw()
        async for chunk in chunks:
            received += chunk[: max_response_bytes - len(received)]
            if len(received) >= max_response_bytes:
                break  # enough to report; the rest is not read
        return GuardedResponse(response.status_code, bytes(received))
    finally:
        await response.aclose()


def post_client(timeout_seconds: float, connections: int, user_agent: str) -> PostClient:
    """The outbound worker's client for its POSTs (webhooks, federation): keep-alive, at most
    `connections` idle connections kept per origin, no proxies, no redirects."""
    return PostClient(timeout_seconds, max_idle_per_origin=connections, user_agent=user_agent)


def outbound_client(timeout_seconds: float, connections: int = 16) -> httpx.AsyncClient:
    """The client for GETs (federation manifests, DID documents, peer checks): no proxies
    from the environment (they would bypass the address check), no redirects, short
    timeouts. As many connections as it may use at once, all kept alive: httpcore closes an
    idle connection whenever the pool holds more than `max_keepalive_connections` (it counts
    all of them, not the idle ones)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        headers={"User-Agent": "openintent-tui-federation"},
    )
