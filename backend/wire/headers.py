"""The protocol's HTTP headers, each spelt once: `name` as documented and sent, `raw` as an
ASGI scope carries it (lower case, bytes) for the code that reads scopes directly."""

from __future__ import annotations

from typing import NamedTuple


class Header(NamedTuple):
    name: str
    raw: bytes


def _header(name: str) -> Header:
    return Header(name, name.lower().encode("latin-1"))


API_KEY = _header("X-API-Key")
"""The API key: authenticates, never becomes an actor."""
AGENT_ID = _header("X-Agent-ID")
"""Who acts: recorded as the actor and the lease holder."""
IF_MATCH = _header("If-Match")
ETAG = _header("ETag")
LAST_EVENT_ID = _header("Last-Event-ID")
CONTENT_TYPE = _header("Content-Type")
CONTENT_LENGTH = _header("Content-Length")
IDEMPOTENCY_KEY = _header("Idempotency-Key")
"""Sent with each OAP hop (`{chain_id}:{hop}`): a re-sent hop carries the key it had."""
INTENT_ID = _header("X-OpenIntent-Intent-Id")
"""Sent with each OAP hop: the intent the chain works on (OAP agents ignore it)."""
