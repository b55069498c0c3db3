"""Shared helpers for the federation tests: envelopes signed with the SDK's own functions."""

from __future__ import annotations

import asyncio
import sqlite3
import textwrap
import time
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from openintent.federation.security import ServerIdentity, sign_envelope

from tests.support import loopback_socket

from .vectors import KEYS, seed

T = TypeVar("T")


def sdk_identity(name: str, url: str) -> ServerIdentity:
    """An SDK identity with one of the vector keys (A, B, C)."""
    public = Ed25519PrivateKey.from_private_bytes(seed(name)).public_key().public_bytes_raw()
    return ServerIdentity(server_url=url, private_key_bytes=seed(name), public_key_bytes=public)


def now_iso(offset_seconds: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_seconds)).isoformat()


def envelope(source: str, target: str, **fields: Any) -> dict[str, Any]:
    dispatch_id = fields.pop("dispatch_id", str(uuid.uuid4()))
    body: dict[str, Any] = {
        "dispatch_id": dispatch_id,
        "source_server": source,
        "target_server": target,
        "intent_id": "origin-" + dispatch_id[:8],
        "intent_title": "Analyse Q1 — ✓",
        "intent_description": "Run the numbers",
        "intent_state": {"step": 1, "ratio": 0.1, "nested": {"ok": True}},
        "intent_constraints": {"deadline": "2026-03-01"},
        "agent_id": "analyst",
        "delegation_scope": {
            "permissions": ["state.patch", "events.log"],
            "denied_operations": [],
            "max_delegation_depth": 1,
        },
        "created_at": now_iso(),
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def signed(identity: ServerIdentity, body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "signature": sign_envelope(identity, body)}


def write_config(path: Path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


def pinned_peer_yaml(url: str, key: str = "A", **extra: str) -> str:
    lines = [f'    - url: "{url}"', f'      public_key: "{KEYS[key][1]}"']
    lines += [f"      {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines)


def post_receive(url: str, body: Any, api_key: str | None = None) -> httpx.Response:
    headers = {"X-API-Key": api_key} if api_key else {}
    return httpx.post(f"{url}/api/v1/federation/receive", json=body, headers=headers, timeout=10)


def wait_for(condition, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(interval)


def free_port() -> int:
    """A loopback port nothing listens on now (for a server started, stopped and restarted)."""
    sock = loopback_socket()
    port = sock.getsockname()[1]
    sock.close()
    return port


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to the end on a loop of its own (in a thread: the caller may be
    inside a running loop, as an async test's fixtures are)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def query_value(db: Path | str, sql: str, *args: Any) -> Any:
    """The first column of the first row of `sql` (`?` placeholders) on a server's
    database, read directly: a SQLite file or a PostgreSQL URL."""
    if isinstance(db, Path):
        with sqlite3.connect(db) as conn:
            row = conn.execute(sql, args).fetchone()
        return None if row is None else row[0]
    numbered = sql
    for n in range(1, len(args) + 1):
        numbered = numbered.replace("?", f"${n}", 1)

    async def fetch() -> Any:
        conn = await asyncpg.connect(db)
        try:
            return await conn.fetchval(numbered, *args)
        finally:
            await conn.close()

    return run_sync(fetch())
