"""Which dialect of `ServerAPI` a server speaks, found once at connect time."""

from __future__ import annotations

from typing import Any

import httpx

from .api import ServerAPI, declared
from .core import OpenIntentClient
from .errors import ClientError, ConnectionLost
from .reference import ReferenceClient

NATIVE_IMPLEMENTATION = "openintent-tui"
"""What our server names itself in `/.well-known/openintent.json` (`implementation`)."""


def dialect_of(discovery: Any) -> type[OpenIntentClient]:
    """Our server names itself in its discovery document; any other answer (the reference
    server's document, or none at all) gets the reference dialect, which tolerates other
    shapes and declares what it cannot do."""
    if isinstance(discovery, dict) and discovery.get("implementation") == NATIVE_IMPLEMENTATION:
        return OpenIntentClient
    return ReferenceClient


async def detect(client: ServerAPI) -> ServerAPI:
    """`client`, or a client of the server's own dialect on the same connection settings
    (then `client` is closed). `ConnectionLost` when the server does not answer at all."""
    try:
        discovery: Any = await client.discover()
    except ConnectionLost:
        raise
    except ClientError:
        discovery = None
    kind = dialect_of(discovery)
    if type(client) is not kind:
        await client.aclose()
        client = kind(
            client.base_url,
            client.api_key,
            agent_id=client.agent_id,
            timeout=client.timeout,
            transport=client.transport,
        )
    if kind is OpenIntentClient:  # the reference dialect declares its own, fixed
        client.capabilities = declared(client.capabilities, discovery)
    return client


async def connect(
    base_url: str,
    api_key: str | None,
    *,
    agent_id: str = "operator",
    timeout: float = 10.0,  # noqa: ASYNC109  (each request's timeout, as in the client)
    transport: httpx.AsyncBaseTransport | None = None,
) -> ServerAPI:
    """A client in the server's dialect, found from its discovery document.

    async with await connect("http://127.0.0.1:8000", key, agent_id="alice") as oi:
        if oi.capabilities.list_intents:
            ...
    """
    client = OpenIntentClient(
        base_url, api_key, agent_id=agent_id, timeout=timeout, transport=transport
    )
    try:
        return await detect(client)
    except BaseException:
        await client.aclose()
        raise
