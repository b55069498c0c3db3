"""What the live stream says about the fleet over the last minutes, for the overview
(`:overview`): events per time bucket by kind, the latest failures and budget alerts. Fed by
the app from the stream it already reads, so the overview polls nothing to draw its
sparklines. No Textual imports."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

from backend.domain.clock import parse_iso_or_none
from backend.wire.events import Event

BUCKET_SECONDS = 10
BUCKETS = 60
"""Ten minutes of ten-second buckets."""
KEEP_IDS = 20_000

FAILURE_TYPES = frozenset(
    {"failure_recorded", "tool_call_failed", "llm_request_failed", "governance.violation"}
)
SERIES_OF: dict[str, str] = {
    **dict.fromkeys(FAILURE_TYPES, "failures"),
    "lease_acquired": "leases",
    "arbitration_requested": "arbitrations",
    "decision_recorded": "decisions",
    "status_changed": "status",
    "intent_created": "created",
}


def budget_figures(event: Event) -> dict[str, Any] | None:
    """A budget alert or overrun (logged as a `comment` or a `governance.violation`, the only
    SDK event types that can carry it), else None."""
    payload = event.payload
    if event.event_type == "comment" and payload.get("kind") == "budget_alert":
        return {**payload, "exceeded": False}
    if event.event_type == "governance.violation" and payload.get("rule") == "budget":
        return {**payload, "exceeded": True}
    return None


class Pulse:
    """`record(events, at)` with `at` in epoch seconds; `series("failures", now)` is the count
    per bucket, oldest first, ending at the bucket holding `now`."""

    def __init__(self) -> None:
        self.buckets: dict[int, Counter[str]] = {}
        self._seen: dict[str, None] = {}
        self.failures: deque[Event] = deque(maxlen=20)
        self.budgets: dict[str, tuple[Event, dict[str, Any]]] = {}
        """Per intent, its latest budget alert or overrun."""

    def record(self, events: Iterable[Event], at: float | None = None) -> None:
        """Count each event once (a backfill may repeat what the stream brought), in the
        bucket of `at` (arrival), or of its `created_at` when `at` is None (a backfill)."""
        for event in events:
            if event.id in self._seen:
                continue
            self._seen[event.id] = None
            when = at
            if when is None:
                created = parse_iso_or_none(event.created_at)
                if created is None:
                    continue
                when = created.timestamp()
            counts = self.buckets.setdefault(int(when // BUCKET_SECONDS), Counter())
            counts["events"] += 1
            if (series := SERIES_OF.get(event.event_type)) is not None:
                counts[series] += 1
            if event.event_type in FAILURE_TYPES:
                self.failures.append(event)
            if event.intent_id and (figures := budget_figures(event)) is not None:
                self.budgets[event.intent_id] = (event, figures)
        if len(self._seen) > KEEP_IDS:
            for key in list(self._seen)[: len(self._seen) - KEEP_IDS // 2]:
                del self._seen[key]
        self._trim()

    def _trim(self) -> None:
        if len(self.buckets) > 4 * BUCKETS:
            newest = max(self.buckets)
            for key in [k for k in self.buckets if k <= newest - BUCKETS]:
                del self.buckets[key]

    def series(self, name: str, now: float, buckets: int = BUCKETS) -> list[int]:
        last = int(now // BUCKET_SECONDS)
        return [
            self.buckets.get(index, Counter()).get(name, 0)
            for index in range(last - buckets + 1, last + 1)
        ]

    def total(self, name: str, now: float, buckets: int = BUCKETS) -> int:
        return sum(self.series(name, now, buckets))
