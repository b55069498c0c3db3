"""Webhook subscriptions and the transactional outbox on SQLite.

The outbox is filled by an event-appended write hook (`WebhookOutbox.enqueue`): each event's
delivery rows are inserted in the event's own transaction. The hook runs for every event on
the writer's hot path, so it matches against an in-memory index of the active webhook
subscriptions (one per store), reloaded only after subscriptions change; with none it costs
one attribute check.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

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
from ..subscriptions import AttemptOutcome, DueDelivery, SubscriptionStore
from .core import (
    EVENT_COLUMNS,
    SqliteCore,
    TimeKey,
    Tx,
    dumps,
    event_from_row,
    loads,
    new_uid,
    read_keyset,
)
from .intents import require_intent

SUBSCRIPTION_ORDER = KeyColumns("subscriptions", ("created_at", "id"), (TimeKey, TimeKey))

SUBSCRIPTION_COLUMNS = (
    "id, intent_id, portfolio_id, subscriber_id, event_types, webhook_url, expires_at, created_at"
)


def _epoch(text: str | None) -> float | None:
    return None if text is None else parse_iso(text).timestamp()


def _iso_epoch(value: float | None) -> str | None:
    return None if value is None else iso(datetime.fromtimestamp(value, UTC))


def subscription_from_row(row: tuple, now: float) -> Subscription:
    sid, intent_id, portfolio_id, subscriber_id, types, url, expires_at, created_at = row
    expiry = _epoch(expires_at)
    return Subscription(
        id=sid,
        scope="intent" if intent_id else "portfolio" if portfolio_id else "global",
        intent_id=intent_id,
        portfolio_id=portfolio_id,
        subscriber_id=subscriber_id,
        event_types=loads(types),
        webhook_url=url,
        active=expiry is None or expiry > now,
        expires_at=expires_at,
        created_at=created_at,
        expiresAt=expires_at,
        createdAt=created_at,
    )


def portfolio_exists(conn: sqlite3.Connection | Tx, portfolio_id: str) -> bool:
    """Portfolios are another feature's table; without it no portfolio exists."""
    try:
        return (
            conn.execute("SELECT 1 FROM portfolios WHERE id = ?", (portfolio_id,)).fetchone()
            is not None
        )
    except sqlite3.OperationalError:
        return False


def portfolios_of_intent(conn: sqlite3.Connection, intent_id: str) -> set[str]:
    try:
        rows = conn.execute(
            "SELECT portfolio_id FROM portfolio_members WHERE intent_id = ?", (intent_id,)
        ).fetchall()
    except sqlite3.OperationalError:  # portfolios not installed
        return set()
    return {r[0] for r in rows}


# ----- the outbox hook -----------------------------------------------------------------------


class _WebhookTarget:
    __slots__ = ("event_types", "expires", "id")

    def __init__(self, sid: str, event_types: list[str], expires: float | None) -> None:
        self.id = sid
        self.event_types = frozenset(event_types) if event_types else None
        self.expires = expires

    def wants(self, event: Event, now: float) -> bool:
        if self.expires is not None and self.expires <= now:
            return False
        return self.event_types is None or event.event_type in self.event_types


class _WebhookIndex:
    """Active webhook subscriptions of one database, by scope."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.global_targets: list[_WebhookTarget] = []
        self.by_intent: dict[str, list[_WebhookTarget]] = {}
        self.by_portfolio: dict[str, list[_WebhookTarget]] = {}
        rows = conn.execute(
            "SELECT id, intent_id, portfolio_id, event_types, expires_at FROM subscriptions"
            " WHERE webhook_url IS NOT NULL"
        ).fetchall()
        for sid, intent_id, portfolio_id, types, expires_at in rows:
            target = _WebhookTarget(sid, loads(types), _epoch(expires_at))
            if intent_id:
                self.by_intent.setdefault(intent_id, []).append(target)
            elif portfolio_id:
                self.by_portfolio.setdefault(portfolio_id, []).append(target)
            else:
                self.global_targets.append(target)
        self.empty = not rows

    def targets(self, event: Event) -> list[_WebhookTarget]:
        found = list(self.global_targets)
        if event.intent_id is not None:
            found += self.by_intent.get(event.intent_id, ())
        if self.by_portfolio:
            portfolios = (
                portfolios_of_intent(self.conn, event.intent_id) if event.intent_id else set()
            )
            if event.portfolio_id:
                portfolios.add(event.portfolio_id)
            for portfolio_id in portfolios:
                found += self.by_portfolio.get(portfolio_id, ())
        return found


class WebhookOutbox:
    """The store's index of webhook subscriptions, used and dropped only in the writer
    thread: built by the first event after a change, inside that event's transaction."""

    def __init__(self) -> None:
        self._index: _WebhookIndex | None = None

    def forget(self) -> None:
        """Subscriptions changed, or a transaction that may have built the index rolled back."""
        self._index = None

    def enqueue(self, tx: Tx, event: Event) -> None:
        """An event-appended hook: the event's delivery rows, in its own transaction."""
        index = self._index
        if index is None:
            index = self._index = _WebhookIndex(tx.conn)
        if index.empty:
            return
        now = time.time()
        seen: set[str] = set()  # an event reaches a subscription once, whatever the path
        for target in index.targets(event):
            if target.id in seen or not target.wants(event, now):
                continue
            seen.add(target.id)
            tx.execute(
                "INSERT INTO webhook_deliveries (id, subscription_id, event_seq, status,"
                " next_attempt_at, created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
                (new_uid(), target.id, event.global_sequence, now, tx.now),
            )


# ----- the store mixin -----------------------------------------------------------------------


class SqliteSubscriptions(SqliteCore, SubscriptionStore):
    webhook_outbox: WebhookOutbox  # SqliteStore.__init__

    async def close(self) -> None:
        await super().close()
        self.webhook_outbox.forget()

    async def create_subscription(
        self, data: SubscriptionCreate, subscriber_id: str | None, secret: str
    ) -> Subscription:
        expires_at = iso(parse_iso(data.expires_at)) if data.expires_at else None

        def op(tx: Tx) -> Subscription:
            if data.intent_id:
                require_intent(tx, data.intent_id)
            if data.portfolio_id and not portfolio_exists(tx, data.portfolio_id):
                raise NotFound(f"Portfolio {data.portfolio_id} not found")
            sid = new_uid()
            tx.execute(
                "INSERT INTO subscriptions (id, intent_id, portfolio_id, subscriber_id,"
                " event_types, webhook_url, secret, expires_at, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    sid,
                    data.intent_id,
                    data.portfolio_id,
                    subscriber_id,
                    dumps(sorted(set(data.event_types))),
                    data.webhook_url,
                    secret,
                    expires_at,
                    tx.now,
                ),
            )
            self.webhook_outbox.forget()  # rebuilt by the next event, inside its transaction
            return _fetch_subscription(tx.conn, sid)

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
        where, params = [], []
        if intent_id:
            where.append("intent_id = ?")
            params.append(intent_id)
        if portfolio_id:
            where.append("portfolio_id = ?")
            params.append(portfolio_id)

        def read(conn: sqlite3.Connection) -> Slice[Subscription]:
            rows, more, next_cursor = read_keyset(
                conn,
                SUBSCRIPTION_COLUMNS,
                "subscriptions",
                where,
                params,
                SUBSCRIPTION_ORDER,
                cursor=cursor,
                offset=offset,
                limit=limit,
                max_bytes=max_bytes,
            )
            now = time.time()
            return Slice([subscription_from_row(r, now) for r in rows], more, next_cursor)

        return await self._read(read)

    async def delete_subscription(self, subscription_id: str) -> None:
        def op(tx: Tx) -> None:
            gone = tx.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))
            if gone.rowcount == 0:
                raise NotFound(f"Subscription {subscription_id} not found")
            self.webhook_outbox.forget()

        await self._write(op)

    async def list_deliveries(
        self, subscription_id: str, *, after: int = 0, limit: int = 100
    ) -> DeliveryList:
        def read(conn: sqlite3.Connection) -> DeliveryList:
            _fetch_subscription(conn, subscription_id)
            rows = conn.execute(
                "SELECT d.id, d.event_seq, e.event_type, e.intent_id, d.status, d.attempts,"
                " d.next_attempt_at, d.last_error, d.created_at, d.finished_at"
                " FROM webhook_deliveries d JOIN events e ON e.id = d.event_seq"
                " WHERE d.subscription_id = ? AND d.event_seq > ? ORDER BY d.event_seq LIMIT ?",
                (subscription_id, after, limit + 1),
            ).fetchall()
            page = rows[:limit]
            attempts: dict[str, list[DeliveryAttempt]] = {r[0]: [] for r in page}
            if page:
                marks = ",".join("?" * len(page))
                for did, attempt, started, code, error, ms in conn.execute(
                    "SELECT delivery_id, attempt, started_at, status_code, error, duration_ms"
                    f" FROM webhook_attempts WHERE delivery_id IN ({marks})"
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
                    id=did,
                    subscription_id=subscription_id,
                    global_sequence=seq,
                    event_type=event_type,
                    intent_id=intent_id,
                    status=status,
                    attempts=count,
                    next_attempt_at=_iso_epoch(next_at),
                    last_error=last_error,
                    created_at=created_at,
                    finished_at=finished_at,
                    attempt_log=attempts[did],
                )
                for (
                    did,
                    seq,
                    event_type,
                    intent_id,
                    status,
                    count,
                    next_at,
                    last_error,
                    created_at,
                    finished_at,
                ) in page
            ]
            more = len(rows) > limit
            return DeliveryList(
                deliveries=deliveries, next_cursor=page[-1][1] if more and page else None
            )

        return await self._read(read)

    async def due_deliveries(self, now: float, limit: int) -> list[DueDelivery]:
        columns = ", ".join(f"e.{c.strip()}" for c in EVENT_COLUMNS.split(","))

        def read(conn: sqlite3.Connection) -> list[DueDelivery]:
            rows = conn.execute(
                "SELECT d.id, d.subscription_id, s.webhook_url, s.secret, d.attempts,"
                f" {columns} FROM webhook_deliveries d"
                " JOIN subscriptions s ON s.id = d.subscription_id"
                " JOIN events e ON e.id = d.event_seq"
                " WHERE d.status = 'pending' AND d.next_attempt_at <= ?"
                " ORDER BY d.next_attempt_at, d.event_seq LIMIT ?",
                (now, limit),
            ).fetchall()
            return [
                DueDelivery(
                    id=r[0],
                    subscription_id=r[1],
                    webhook_url=r[2],
                    secret=r[3],
                    attempts=r[4],
                    event=event_from_row(r[5:]),
                )
                for r in rows
            ]

        return await self._read(read)

    async def next_delivery_due(self) -> float | None:
        def read(conn: sqlite3.Connection) -> float | None:
            return conn.execute(
                "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'"
            ).fetchone()[0]

        return await self._read(read)

    async def record_attempt(self, delivery_id: str, outcome: AttemptOutcome) -> None:
        def op(tx: Tx) -> None:
            row = tx.one(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?,"
                " next_attempt_at = ?, last_error = ?, finished_at = ?"
                " WHERE id = ? AND status = 'pending' RETURNING attempts",
                (
                    "pending" if outcome.result == "retry" else outcome.result,
                    outcome.next_attempt_at if outcome.result == "retry" else None,
                    outcome.error,
                    None if outcome.result == "retry" else tx.now,
                    delivery_id,
                ),
            )
            if row is None:  # deleted with its subscription meanwhile
                return
            tx.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, status_code,"
                " error, duration_ms) VALUES (?,?,?,?,?,?)",
                (
                    delivery_id,
                    row[0],
                    outcome.started_at,
                    outcome.status_code,
                    outcome.error,
                    outcome.duration_ms,
                ),
            )

        await self._write(op)

    async def agent_intent_ids(self, agent_id: str) -> list[str]:
        def read(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT intent_id FROM intent_agents WHERE agent_id = ?", (agent_id,)
            ).fetchall()
            return [r[0] for r in rows]

        return await self._read(read)

    async def latest_global_sequence(self) -> int:
        return await self._read(
            lambda conn: conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
        )


def _fetch_subscription(conn: sqlite3.Connection, subscription_id: str) -> Subscription:
    row = conn.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?", (subscription_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"Subscription {subscription_id} not found")
    return subscription_from_row(row, time.time())
