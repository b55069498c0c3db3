"""Talking to OAP agents (spec/oap.md §3): POST `{url}/invoke` with OAP's retry classes (4xx
final; 5xx and transport errors retried after 1, 2 and 4 s), and `GET {url}/` for discovery
and ping. Every request goes through the egress guard; answers are read up to a cap."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import msgspec

from ..outbound.egress import EgressPolicy, EgressRefused, guarded_request
from ..wire.oap import AgentStatus

RETRY_DELAYS = (1.0, 2.0, 4.0)
"""OAP's sleeps before attempts 2, 3 and 4 (scaled by `retry_scale` in tests)."""
PING_TIMEOUT_SECONDS = 5.0
DISCOVERY_MAX_BYTES = 65_536

_decode = msgspec.json.decode


class HopError(Exception):
    """A hop that failed for good. `kind`: http_4xx | retries_exhausted | bad_response |
    refused | too_large | unknown_agent | state_refused."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        http_status: int | None = None,
        attempts: int = 0,
        response: Any = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.http_status = http_status
        self.attempts = attempts
        self.response = response


class Invocation(msgspec.Struct, frozen=True):
    response: Any
    http_status: int
    attempts: int


RetryHook = Callable[[int, str], Awaitable[None]]
"""`hook(attempt_that_failed, why)` before sleeping and trying again."""


def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class AgentTransport:
    def __init__(
        self,
        client: httpx.AsyncClient,
        egress: EgressPolicy,
        *,
        max_response_bytes: int,
        retry_scale: float = 1.0,
    ) -> None:
        self.client = client
        self.egress = egress
        self.max_response_bytes = max_response_bytes
        self.delays = tuple(d * retry_scale for d in RETRY_DELAYS)

    async def invoke(
        self,
        base_url: str,
        body: bytes,
        headers: dict[str, str],
        timeout_s: float,
        on_retry: RetryHook,
    ) -> Invocation:
        url = f"{base_url.rstrip('/')}/invoke"
        attempts = len(self.delays) + 1
        last = ""
        last_status: int | None = None
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                await on_retry(attempt - 1, last)
                await asyncio.sleep(self.delays[attempt - 2])
            try:
                answer = await guarded_request(
                    self.client,
                    self.egress,
                    "POST",
                    url,
                    body,
                    {**headers, "Content-Type": "application/json"},
                    max_response_bytes=self.max_response_bytes + 1,
                    request_timeout=_timeout(timeout_s),
                    decode=True,
                )
            except EgressRefused as exc:
                if exc.permanent:
                    raise HopError("refused", f"{url} refused: {exc}", attempts=attempt) from None
                last, last_status = str(exc), None
                continue
            except httpx.HTTPError as exc:
                last, last_status = _describe(exc), None
                continue
            status = answer.status_code
            if 400 <= status < 500:
                raise HopError(
                    "http_4xx",
                    f"Transport error for {base_url}: HTTP {status} (not retried)",
                    http_status=status,
                    attempts=attempt,
                    response=_maybe_json(answer.body),
                )
            if status >= 500:
                last, last_status = f"HTTP {status}", status
                continue
            if len(answer.body) > self.max_response_bytes:
                raise HopError(
                    "too_large",
                    f"{url} answered more than {self.max_response_bytes} bytes",
                    http_status=status,
                    attempts=attempt,
                )
            try:
                parsed = _decode(answer.body)
            except msgspec.DecodeError as exc:
                raise HopError(
                    "bad_response",
                    f"{url} answered HTTP {status} with invalid JSON: {exc}",
                    http_status=status,
                    attempts=attempt,
                ) from None
            return Invocation(response=parsed, http_status=status, attempts=attempt)
        raise HopError(
            "retries_exhausted",
            f"Transport error for {base_url} after {attempts} attempt(s): {last}",
            http_status=last_status,
            attempts=attempts,
        )

    async def describe(self, base_url: str, timeout_s: float = PING_TIMEOUT_SECONDS) -> Probe:
        """`GET {url}/` as `oap register` and `oap ping` make it."""
        started = time.perf_counter()
        try:
            answer = await guarded_request(
                self.client,
                self.egress,
                "GET",
                f"{base_url.rstrip('/')}/",
                None,
                {"Accept": "application/json"},
                max_response_bytes=DISCOVERY_MAX_BYTES,
                request_timeout=_timeout(timeout_s),
                decode=True,
            )
        except EgressRefused:
            raise
        except httpx.HTTPError as exc:
            return Probe("dead", None, None, _describe(exc))
        ms = round((time.perf_counter() - started) * 1000, 3)
        if answer.status_code >= 400:
            return Probe("no_health", ms, None, f"HTTP {answer.status_code}")
        document = _maybe_json(answer.body) if answer.status_code == 200 else None
        return Probe("alive", ms, document if isinstance(document, dict) else None, None)


class Probe(msgspec.Struct, frozen=True, array_like=True):
    status: AgentStatus
    ms: float | None
    document: dict[str, Any] | None
    """The agent's `GET /` JSON object: {agent_id, capabilities, description, status}."""
    error: str | None


def _maybe_json(body: bytes) -> Any:
    try:
        return _decode(body) if body else None
    except msgspec.DecodeError:
        return None


def discovered_capabilities(document: dict[str, Any] | None) -> list[str] | None:
    """OAP takes a truthy `capabilities` as `[c.strip() for c in caps]`; only a list of
    strings is taken here (OAP would split a string into its characters)."""
    caps = (document or {}).get("capabilities")
    if isinstance(caps, list) and caps and all(isinstance(c, str) for c in caps):
        return [c.strip() for c in caps]
    return None
