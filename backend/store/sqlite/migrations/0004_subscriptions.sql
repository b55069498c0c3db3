-- Webhook subscriptions (RFC-0006) and their durable outbox.
-- A delivery row is written in the same transaction as its event, so a committed event
-- always has its deliveries, and a restart resumes whatever is still pending.
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    intent_id TEXT,
    portfolio_id TEXT,
    subscriber_id TEXT,
    event_types TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(event_types)),
    webhook_url TEXT,
    secret TEXT NOT NULL,
    expires_at TEXT,
    created_at TEXT NOT NULL,
    CHECK (intent_id IS NULL OR portfolio_id IS NULL)
) STRICT;

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    event_seq INTEGER NOT NULL REFERENCES events(id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL, -- unix time; NULL once finished
    last_error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    UNIQUE (subscription_id, event_seq)
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at)
    WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms REAL NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
) STRICT;
