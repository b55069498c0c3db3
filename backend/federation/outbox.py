"""The federation lane of the outbound worker: signs and sends queued dispatches and
callbacks, and records each attempt.

Dispatch envelopes get a fresh `created_at` per try (the receiver checks freshness; it
treats a re-signed retry of the same dispatch as a replay). Callbacks are signed as queued;
a completion's attestation is signed first, and the callback's signature covers it. The
peer's API key is sent when one is configured for the URL's peer (our peers authenticate us
by the signature; a reference server needs the key).

Retries: network errors, 408, 425, 429 and 5xx, up to `federation_max_attempts` tries,
1, 2, 4, 8 s apart with jitter. Any other answer is final.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection

import httpx

from ..domain.clock import now_iso
from ..outbound.delivery import RetryPolicy
from ..outbound.egress import EgressPolicy, EgressRefused, guarded_post
from ..outbound.http1 import PostClient
from ..store import Store
from ..store.federation import OutboxJob, SendResult
from ..store.subscriptions import AttemptOutcome, AttemptResult
from ..wire.events import Event
from ..wire.headers import API_KEY
from .config import FederationConfig
from .identity import Identity, normalize_url

RETRYABLE = frozenset({408, 425, 429})
MAX_RESPONSE_BYTES = 65_536


def _origin(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return ""
    return normalize_url(f"{parsed.scheme}://{parsed.netloc.decode('ascii')}")


LANE_CONCURRENCY = 16
"""Sends in flight at once (dispatches and callbacks), in slots of its own beside the
webhooks'. More did not help: a peer taking 64 at once spent more CPU per round trip
(bench/README.md, federation)."""


class FederationLane:
    name = "federation"
    concurrency = LANE_CONCURRENCY

    def __init__(
        self,
        store: Store,
        config: FederationConfig,
        identity: Identity,
        client: PostClient,
        egress: EgressPolicy,
        retry: RetryPolicy,
    ) -> None:
        self.store = store
        self.config = config
        self.identity = identity
        self.client = client
        self.egress = egress
        self.retry = retry

    def wants(self, events: list[Event]) -> bool:
        return any(
            e.event_type.startswith("federation.")
            or e.event_type in ("state_patched", "status_changed", "comment")
            for e in events
        )

    async def due(self, now: float, limit: int, skip: Collection[str]) -> list[OutboxJob]:
        return await self.store.due_federation_jobs(now, limit, skip)

    async def next_due(self) -> float | None:
        return await self.store.next_federation_due()

    def api_key_for(self, url: str) -> str | None:
        origin = _origin(url)
        for peer in self.config.peers:
            if peer.api_key and peer.url and _origin(peer.url) == origin:
                return peer.api_key
        return None

    def signed_body(self, job: OutboxJob) -> dict:
        body = dict(job.body)
        if job.kind == "dispatch":
            body["created_at"] = now_iso()
        elif isinstance(body.get("attestation"), dict) and "signature" not in body["attestation"]:
            attestation = dict(body["attestation"])
            attestation["signature"] = self.identity.sign(attestation)
            body["attestation"] = attestation
        body.pop("signature", None)
        body["signature"] = self.identity.sign(body)
        return body

    async def attempt(self, job: OutboxJob) -> tuple[AttemptOutcome, SendResult | None]:
        payload = json.dumps(self.signed_body(job)).encode()
        headers = {"Content-Type": "application/json"}
        key = self.api_key_for(job.url)
        if key:
            headers[API_KEY.name] = key
        started_at = now_iso()
        clock = time.perf_counter()
        status_code: int | None = None
        retryable = True
        result: SendResult | None = None
        error: str | None = None
        try:
            response = await guarded_post(
                self.client,
                self.egress,
                job.url,
                payload,
                headers,
                max_response_bytes=MAX_RESPONSE_BYTES,
            )
            status_code = response.status_code
            if 200 <= status_code < 300:
                result, error = self._interpret(job, response.body)
            else:
                snippet = response.body[:200].decode("utf-8", "replace")
                error = f"HTTP {status_code}: {snippet}" if snippet else f"HTTP {status_code}"
                retryable = status_code in RETRYABLE or status_code >= 500
                if not retryable and job.kind == "dispatch":
                    result = SendResult(status="rejected")
        except EgressRefused as exc:
            error = f"refused by the egress guard: {exc}"
            retryable = not exc.permanent
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        attempts_made = job.attempts + 1
        done = error is None or result is not None
        outcome_result: AttemptResult
        if done:
            outcome_result, next_at = "delivered", None
        elif not retryable or attempts_made >= self.retry.max_attempts:
            outcome_result, next_at = "failed", None
        else:
            outcome_result, next_at = "retry", time.time() + self.retry.delay(attempts_made)
        outcome = AttemptOutcome(
            started_at=started_at,
            duration_ms=round((time.perf_counter() - clock) * 1000, 3),
            status_code=status_code,
            error=error,
            result=outcome_result,
            next_attempt_at=next_at,
        )
        return outcome, result

    @staticmethod
    def _interpret(job: OutboxJob, body: bytes) -> tuple[SendResult | None, str | None]:
        """A dispatch's 2xx answer: delivered with the remote intent id, or rejected
        (`accepted: false`) with the receiver's reason as the error."""
        if job.kind != "dispatch":
            return None, None
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if answer.get("accepted") is False:
            return SendResult(status="rejected"), str(answer.get("message") or "rejected")
        remote = answer.get("local_intent_id")
        remote = remote if isinstance(remote, str) else None
        return SendResult(status="delivered", remote_intent_id=remote), None

    async def record(self, job: OutboxJob, outcome) -> None:
        attempt_outcome, result = outcome
        await self.store.record_federation_attempt(job, attempt_outcome, result)
