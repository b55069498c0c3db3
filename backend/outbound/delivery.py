"""The webhook delivery worker: drains the durable outbox, signs, sends, retries.

At least once: a delivery is marked delivered only after a 2xx, and one in flight when the
server stops stays pending, so it is sent again after a restart (receivers dedupe on
`webhook-id`). Failures retry with exponential backoff and jitter until `max_attempts`, then
the delivery is marked failed; every attempt is recorded and visible through the API.

Other durable outboxes (federation dispatches and callbacks) are drained by the same worker
as extra `OutboxLane`s: one loop and one wake-up on commit, but each lane has its own slots,
so a backlog in one never holds the other's sends back.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Collection
from typing import Any, Protocol

import httpx
import msgspec

from ..domain.clock import now_iso
from ..store import Store
from ..store.subscriptions import AttemptOutcome, AttemptResult, DueDelivery
from ..waiting import wait_event
from ..wire.events import Event
from ..wire.subscriptions import WebhookBody
from .egress import EgressPolicy, EgressRefused, guarded_post
from .http1 import PostClient
from .signing import signed_headers

POLL_SECONDS = 1.0
"""Longest sleep between outbox checks; commits and finished attempts wake the worker."""

_encode = msgspec.json.Encoder().encode


class RetryPolicy(msgspec.Struct, frozen=True):
    max_attempts: int = 8
    base_seconds: float = 1.0
    max_seconds: float = 600.0

    def delay(self, attempts_made: int) -> float:
        """base * 2^(n-1), capped, then jittered into [50%, 100%] so receivers that come
        back are not hit by every pending delivery at the same instant."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (attempts_made - 1))
        return ceiling * random.uniform(0.5, 1.0)


class OutboxLane(Protocol):
    """Another durable outbox the worker drains beside the webhooks. A job is any object
    with a string `id`; the lane makes the attempt and records its outcome durably (a job
    in flight when the server stops stays due and is tried again after a restart)."""

    name: str
    concurrency: int
    """How many of its jobs may be in flight at once (its own slots, not the webhooks')."""

    def wants(self, events: list[Event]) -> bool:
        """Whether these committed events may have queued work for this lane."""

    async def due(self, now: float, limit: int, skip: Collection[str]) -> list[Any]:
        """Up to `limit` jobs due by `now`, oldest first, except the ids in `skip`."""

    async def next_due(self) -> float | None: ...

    async def attempt(self, job: Any) -> AttemptOutcome: ...

    async def record(self, job: Any, outcome: AttemptOutcome) -> None: ...


class WebhookWorker:
    def __init__(
        self,
        store: Store,
        client: PostClient,
        egress: EgressPolicy,
        retry: RetryPolicy,
        *,
        concurrency: int = 16,
        max_response_bytes: int = 65_536,
    ) -> None:
        self.store = store
        self.client = client
        self.egress = egress
        self.retry = retry
        self.concurrency = concurrency
        self.max_response_bytes = max_response_bytes
        self.has_targets = False
        self._wake = asyncio.Event()
        self._in_flight: dict[str, asyncio.Task] = {}
        self._lane_jobs: dict[str, set[str]] = {}
        """Per lane, the ids of its jobs in flight (each lane counts against its own slots)."""
        # Attempts recorded while an outbox read is running: that read may predate their
        # commit and still list them as due, so its result must not start them again.
        self._settled_during_read: set[str] = set()
        self.lanes: list[OutboxLane] = []

    def add_lane(self, lane: OutboxLane) -> None:
        self.lanes.append(lane)
        self._lane_jobs[lane.name] = set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def refresh(self) -> None:
        """Call after subscriptions change: commits wake the worker only when some
        subscription could have produced a delivery."""
        subscriptions = await self.store.list_subscriptions()
        self.has_targets = any(s.webhook_url for s in subscriptions.items)
        self._wake.set()

    def on_commit(self, events: list[Event]) -> None:
        if self.has_targets or any(lane.wants(events) for lane in self.lanes):
            self._wake.set()

    async def run(self) -> None:
        await self.refresh()
        try:
            while True:
                self._wake.clear()
                await self._start_due()
                await self._sleep()
        finally:
            for task in list(self._in_flight.values()):
                task.cancel()  # unrecorded attempts stay pending: resent after restart
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    def _webhooks_in_flight(self) -> int:
        return len(self._in_flight) - sum(len(jobs) for jobs in self._lane_jobs.values())

    def _lane_free(self, lane: OutboxLane) -> int:
        return lane.concurrency - len(self._lane_jobs[lane.name])

    async def _start_due(self) -> None:
        self._settled_during_read.clear()
        busy = self._webhooks_in_flight()
        free = self.concurrency - busy
        due = []
        if free > 0 and self.has_targets:  # no subscription with a URL: none can be due
            due = await self.store.due_deliveries(time.time(), free + busy)
        for delivery in due:
            if free <= 0:
                break
            if delivery.id in self._in_flight or delivery.id in self._settled_during_read:
                continue
            free -= 1
            task = asyncio.create_task(self._deliver(delivery), name=f"webhook-{delivery.id}")
            self._in_flight[delivery.id] = task
        for lane in self.lanes:
            free = self._lane_free(lane)
            if free <= 0:
                continue
            jobs = self._lane_jobs[lane.name]
            for job in await lane.due(time.time(), free, list(jobs)):
                key = f"{lane.name}:{job.id}"
                if free <= 0:
                    break
                if job.id in jobs or key in self._settled_during_read:
                    continue  # the read began before this job's start or its record
                free -= 1
                jobs.add(job.id)
                task = asyncio.create_task(self._run_lane_job(lane, job, key), name=key)
                self._in_flight[key] = task

    async def _run_lane_job(self, lane: OutboxLane, job: Any, key: str) -> None:
        try:
            outcome = await lane.attempt(job)
            await lane.record(job, outcome)
        finally:
            self._in_flight.pop(key, None)
            self._lane_jobs[lane.name].discard(job.id)
            self._settled_during_read.add(key)
            self._wake.set()

    async def _sleep(self) -> None:
        webhooks_open = self._webhooks_in_flight() < self.concurrency
        open_lanes = [lane for lane in self.lanes if self._lane_free(lane) > 0]
        if not webhooks_open and not open_lanes:
            # Every slot is busy: only a finished attempt can let more start, and it wakes
            # us; when anything is due does not matter yet (saves the reads of a wake-up).
            await wait_event(self._wake, POLL_SECONDS)
            return
        timeout = POLL_SECONDS
        next_due = None
        if webhooks_open and not self.has_targets:
            # On a database several servers share, a subscription made through another
            # fills the outbox this one sends too (and takes over when that one dies).
            self.has_targets = bool(await self.store.shared_webhook_targets())
        if webhooks_open and self.has_targets:
            next_due = await self.store.next_delivery_due()
        for lane in open_lanes:  # a full lane starts nothing before one of its jobs ends
            lane_due = await lane.next_due()
            if lane_due is not None:
                next_due = lane_due if next_due is None else min(next_due, lane_due)
        if next_due is not None:
            timeout = min(timeout, max(0.0, next_due - time.time()))
            if timeout == 0.0 and not self._in_flight:
                return  # due now and nothing blocks it: go again at once
        await wait_event(self._wake, timeout or POLL_SECONDS)

    async def _deliver(self, delivery: DueDelivery) -> None:
        try:
            outcome = await self.attempt(delivery)
            await self.store.record_attempt(delivery.id, outcome)
        finally:
            self._in_flight.pop(delivery.id, None)
            self._settled_during_read.add(delivery.id)
            self._wake.set()

    async def attempt(self, delivery: DueDelivery) -> AttemptOutcome:
        body = _encode(WebhookBody(subscription_id=delivery.subscription_id, event=delivery.event))
        headers = signed_headers(delivery.secret, delivery.id, int(time.time()), body)
        started_at = now_iso()
        clock = time.perf_counter()
        status_code: int | None = None
        retryable = True
        try:
            response = await guarded_post(
                self.client,
                self.egress,
                delivery.webhook_url,
                body,
                headers,
                max_response_bytes=self.max_response_bytes,
            )
            status_code = response.status_code
            error = None
            if not 200 <= status_code < 300:
                snippet = response.body[:200].decode("utf-8", "replace")
                error = f"HTTP {status_code}: {snippet}" if snippet else f"HTTP {status_code}"
        except EgressRefused as exc:
            error = f"refused by the egress guard: {exc}"
            retryable = not exc.permanent
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        duration_ms = (time.perf_counter() - clock) * 1000
        attempts_made = delivery.attempts + 1
        result: AttemptResult
        next_at: float | None
        if error is None:
            result, next_at = "delivered", None
        elif not retryable or attempts_made >= self.retry.max_attempts:
            result, next_at = "failed", None
        else:
            result, next_at = "retry", time.time() + self.retry.delay(attempts_made)
        return AttemptOutcome(
            started_at=started_at,
            duration_ms=round(duration_ms, 3),
            status_code=status_code,
            error=error,
            result=result,
            next_attempt_at=next_at,
        )
