"""Webhook subscriptions and the transactional outbox on PostgreSQL.

As on SQLite, an event-appended write hook inserts each event's delivery rows in the event's
own transaction, matching against an in-memory index of the webhook subscriptions. The index
is per instance, so it is keyed by `event_head.cache_version`: a subscription created or
deleted through any instance raises it, and the next event rebuilds the index.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
import msgspec

from ...domain.clock import iso, parse_iso
from ...domain.errors import NotFound
from ...wire.events import Event
from ...wire.subscriptions import (
    Delivery,
    DeliveryAttempt,
    DeliveryList,
    Subscription,
    SubscriptionCreate,
)
from ..keyset import KeyColumns, Slice
from ..sqlite.core import dumps, loads, new_uid
from ..sqlite.subscriptions import _WebhookTarget
from ..subscriptions import AttemptOutcome, DueDelivery, SubscriptionStore
from .claims import ClaimKeeper, RowClaims
from .core import (
    EVENT_COLUMNS,
    PostgresCore,
    Tx,
    event_from_row,
    iso_or_none,
    read_keyset,
)
from .intents import Queryable, require_intent

SUBSCRIPTION_ORDER = KeyColumns(
    "subscriptions",
    ("created_at", "id"),
    (datetime, Annotated[str, msgspec.Meta(max_length=64)]),
)

SUBSCRIPTION_COLUMNS = (
    "id, intent_id, portfolio_id, subscriber_id, event_types, webhook_url, expires_at, created_at"
)


def _iso_epoch(value: float | None) -> str | None:
    return None if value is None else iso(datetime.fromtimestamp(value, UTC))


def subscription_from_row(row: Any, now: float) -> Subscription:
    sid, intent_id, portfolio_id, subscriber_id, types, url, expires, created = row
    expires_at, created_at = iso_or_none(expires), iso(created)
    return Subscription(
        id=sid,
        scope="intent" if intent_id else "portfolio" if portfolio_id else "global",
        intent_id=intent_id,
        portfolio_id=portfolio_id,
        subscriber_id=subscriber_id,
        event_types=loads(types),
        webhook_url=url,
        active=expires is None or expires.timestamp() > now,
        expires_at=expires_at,
        created_at=created_at,
        expiresAt=expires_at,
        createdAt=created_at,
    )


async def portfolio_exists(conn: Queryable, portfolio_id: str) -> bool:
    found = await conn.fetchval("SELECT to_regclass('portfolios') IS NOT NULL")
    return bool(found) and (
        await conn.fetchval("SELECT 1 FROM portfolios WHERE id = $1", portfolio_id) is not None
    )


class _WebhookIndex:
    """Webhook subscriptions of the database at one `cache_version`, by scope."""

    def __init__(self, version: int, rows: list[Any], has_portfolios: bool) -> None:
        self.version = version
        self.global_targets: list[_WebhookTarget] = []
        self.by_intent: dict[str, list[_WebhookTarget]] = {}
        self.by_portfolio: dict[str, list[_WebhookTarget]] = {}
        self.has_portfolios = has_portfolios
        for sid, intent_id, portfolio_id, types, expires in rows:
            target = _WebhookTarget(sid, loads(types), expires and expires.timestamp())
            if intent_id:
                self.by_intent.setdefault(intent_id, []).append(target)
            elif portfolio_id:
                self.by_portfolio.setdefault(portfolio_id, []).append(target)
            else:
                self.global_targets.append(target)
        self.empty = not rows

    async def targets(self, tx: Tx, event: Event) -> list[_WebhookTarget]:
        found = list(self.global_targets)
        if event.intent_id is not None:
            found += self.by_intent.get(event.intent_id, ())
        if self.by_portfolio:
            portfolios: set[str] = set()
            if event.intent_id and self.has_portfolios:
                rows = await tx.fetch(
                    "SELECT portfolio_id FROM portfolio_members WHERE intent_id = $1",
                    event.intent_id,
                )
                portfolios = {r[0] for r in rows}
            if event.portfolio_id:
                portfolios.add(event.portfolio_id)
            for portfolio_id in portfolios:
                found += self.by_portfolio.get(portfolio_id, ())
        return found


class WebhookOutbox:
    def __init__(self) -> None:
        self._index: _WebhookIndex | None = None

    def forget(self) -> None:
        """A transaction that may have built the index rolled back."""
        self._index = None

    async def enqueue(self, tx: Tx, event: Event) -> None:
        """An event-appended hook: the event's delivery rows, in its own transaction."""
        index = self._index
        if index is None or index.version != tx.cache_version:
            rows = await tx.fetch(
                "SELECT id, intent_id, portfolio_id, event_types, expires_at FROM subscriptions"
                " WHERE webhook_url IS NOT NULL"
            )
            has_portfolios = bool(
                await tx.fetchval("SELECT to_regclass('portfolio_members') IS NOT NULL")
            )
            index = self._index = _WebhookIndex(tx.cache_version, rows, has_portfolios)
        if index.empty:
            return
        now = time.time()
        seen: set[str] = set()  # an event reaches a subscription once, whatever the path
        for target in await index.targets(tx, event):
            if target.id in seen or not target.wants(event, now):
                continue
            seen.add(target.id)
            await tx.execute(
                "INSERT INTO webhook_deliveries (id, subscription_id, event_seq, status,"
                " next_attempt_at, created_at) VALUES ($1, $2, $3, 'pending', $4, $5)",
                new_uid(),
                target.id,
                event.global_sequence,
                now,
                tx.moment,
            )


async def _fetch_subscription(conn: Queryable, subscription_id: str) -> Subscription:
    row = await conn.fetchrow(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1", subscription_id
    )
    if row is None:
        raise NotFound(f"Subscription {subscription_id} not found")
    return subscription_from_row(row, time.time())


class PostgresSubscriptions(PostgresCore, SubscriptionStore):
    webhook_outbox: WebhookOutbox  # PostgresStore.__init__
    delivery_claims: RowClaims  # PostgresStore.__init__
    claim_keeper: ClaimKeeper  # PostgresStore.__init__

    async def open(self) -> None:
        await super().open()
        self.claim_keeper.start(self.pool)

    async def close(self) -> None:
        # Claims first, while the pool is open: what this instance held (its worker has
        # stopped by now) is another's to send at once.
        await self.claim_keeper.stop(self._pool)
        await super().close()
        self.webhook_outbox.forget()

    async def create_subscription(
        self, data: SubscriptionCreate, subscriber_id: str | None, secret: str
    ) -> Subscription:
        expires_at = parse_iso(data.expires_at) if data.expires_at else None

        async def op(tx: Tx) -> Subscription:
            if data.intent_id:
                await require_intent(tx, data.intent_id)
            if data.portfolio_id and not await portfolio_exists(tx, data.portfolio_id):
                raise NotFound(f"Portfolio {data.portfolio_id} not found")
            sid = new_uid()
            await tx.execute(
                "INSERT INTO subscriptions (id, intent_id, portfolio_id, subscriber_id,"
                " event_types, webhook_url, secret, expires_at, created_at)"
                " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                sid,
                data.intent_id,
                data.portfolio_id,
                subscriber_id,
                dumps(sorted(set(data.event_types))),
                data.webhook_url,
                secret,
                expires_at,
                tx.moment,
            )
            await tx.caches_changed()
            return await _fetch_subscription(tx, sid)

        return await self._write(op)

    async def get_subscription(self, subscription_id: str) -> Subscription:
        return await self._read(lambda conn: _fetch_subscription(conn, subscription_id))

    async def list_subscriptions(
        self,
        *,
        intent_id: str | None = None,
        portfolio_id: str | None = None,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
        cursor: str | None = None,
    ) -> Slice[Subscription]:
        rows, more, next_cursor = await read_keyset(
            self.pool,
            SUBSCRIPTION_COLUMNS,
            "subscriptions",
            ["($1::text IS NULL OR intent_id = $1)", "($2::text IS NULL OR portfolio_id = $2)"],
            (intent_id or None, portfolio_id or None),
            SUBSCRIPTION_ORDER,
            cursor=cursor,
            offset=offset,
            limit=limit,
            max_bytes=max_bytes,
        )
        now = time.time()
        return Slice([subscription_from_row(r, now) for r in rows], more, next_cursor)

    async def delete_subscription(self, subscription_id: str) -> None:
        async def op(tx: Tx) -> None:
            gone = await tx.fetchval(
                "DELETE FROM subscriptions WHERE id = $1 RETURNING 1", subscription_id
            )
            if gone is None:
                raise NotFound(f"Subscription {subscription_id} not found")
            await tx.caches_changed()

        await self._write(op)

    async def list_deliveries(
        self, subscription_id: str, *, after: int = 0, limit: int = 100
    ) -> DeliveryList:
        async def read(conn: asyncpg.Connection) -> DeliveryList:
            await _fetch_subscription(conn, subscription_id)
            rows = await conn.fetch(
                "SELECT d.id, d.event_seq, e.event_type, e.intent_id, d.status, d.attempts,"
                " d.next_attempt_at, d.last_error, d.created_at, d.finished_at"
                " FROM webhook_deliveries d JOIN events e ON e.id = d.event_seq"
                " WHERE d.subscription_id = $1 AND d.event_seq > $2"
                " ORDER BY d.event_seq LIMIT $3",
                subscription_id,
                after,
                limit + 1,
            )
            page = rows[:limit]
            attempts: dict[str, list[DeliveryAttempt]] = {r[0]: [] for r in page}
            if page:
                for did, attempt, started, code, error, ms in await conn.fetch(
                    "SELECT delivery_id, attempt, started_at, status_code, error, duration_ms"
                    " FROM webhook_attempts WHERE delivery_id = ANY($1::text[])"
                    " ORDER BY delivery_id, attempt",
                    list(attempts),
                ):
                    attempts[did].append(
                        DeliveryAttempt(
                            attempt=attempt,
                            started_at=started,
                            status_code=code,
                            error=error,
                            duration_ms=ms,
                        )
                    )
            deliveries = [
                Delivery(
                    id=r[0],
                    subscription_id=subscription_id,
                    global_sequence=r[1],
                    event_type=r[2],
                    intent_id=r[3],
                    status=r[4],
                    attempts=r[5],
                    next_attempt_at=_iso_epoch(r[6]),
                    last_error=r[7],
                    created_at=iso(r[8]),
                    finished_at=iso_or_none(r[9]),
                    attempt_log=attempts[r[0]],
                )
                for r in page
            ]
            more = len(rows) > limit
            return DeliveryList(
                deliveries=deliveries, next_cursor=page[-1][1] if more and page else None
            )

        return await self._read(read)

    async def due_deliveries(self, now: float, limit: int) -> list[DueDelivery]:
        """Claims them (claims.py): this instance's own claims come back too, as pending
        rows do on SQLite (the worker skips those in flight); other instances' do not."""
        columns = ", ".join(f"e.{c.strip()}" for c in EVENT_COLUMNS.split(","))
        claim = self.delivery_claims.claim_statement(
            where="next_attempt_at <= $3",
            order_by="next_attempt_at, event_seq",
            limit="$4",
            returning="id, subscription_id, event_seq, attempts, next_attempt_at",
        )
        rows = await self.pool.fetch(
            f"WITH d AS ({claim})"
            " SELECT d.id, d.subscription_id, s.webhook_url, s.secret, d.attempts,"
            f" {columns} FROM d"
            " JOIN subscriptions s ON s.id = d.subscription_id"
            " JOIN events e ON e.id = d.event_seq"
            " ORDER BY d.next_attempt_at, d.event_seq",
            *self.delivery_claims.claim_args(),
            now,
            limit,
        )
        return [
            DueDelivery(
                id=r[0],
                subscription_id=r[1],
                webhook_url=r[2],
                secret=r[3],
                attempts=r[4],
                event=event_from_row(tuple(r)[5:]),
            )
            for r in rows
        ]

    async def next_delivery_due(self) -> float | None:
        """The earliest this instance may send: rows other live instances hold do not
        count (when one dies, its claims lapse and the worker's next poll finds them)."""
        return await self.pool.fetchval(
            "SELECT MIN(next_attempt_at) FROM webhook_deliveries"
            f" WHERE {self.delivery_claims.claimable()}",
            self.delivery_claims.owner,
        )

    async def shared_webhook_targets(self) -> bool | None:
        return await self.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM subscriptions WHERE webhook_url IS NOT NULL)"
        )

    async def record_attempt(self, delivery_id: str, outcome: AttemptOutcome) -> None:
        retry = outcome.result == "retry"

        async def op(tx: Tx) -> None:
            # A retry is anyone's to send when due; a finished delivery keeps the name of
            # the instance that finished it (claimed_by), for the operator.
            attempts = await tx.fetchval(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, status = $1,"
                " next_attempt_at = $2, last_error = $3, finished_at = $4,"
                " claimed_by = CASE WHEN $6 THEN NULL ELSE claimed_by END,"
                " claimed_until = NULL"
                " WHERE id = $5 AND status = 'pending' RETURNING attempts",
                "pending" if retry else outcome.result,
                outcome.next_attempt_at if retry else None,
                outcome.error,
                None if retry else tx.moment,
                delivery_id,
                retry,
            )
            if attempts is None:  # deleted with its subscription meanwhile
                return
            await tx.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, status_code,"
                " error, duration_ms) VALUES ($1,$2,$3,$4,$5,$6)",
                delivery_id,
                attempts,
                outcome.started_at,
                outcome.status_code,
                outcome.error,
                outcome.duration_ms,
            )

        await self._write(op)

    async def agent_intent_ids(self, agent_id: str) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT intent_id FROM intent_agents WHERE agent_id = $1", agent_id
        )
        return [r[0] for r in rows]

    async def latest_global_sequence(self) -> int:
        # The committed head: every id up to it is visible (core.py).
        return await self.pool.fetchval("SELECT last_id FROM event_head")
