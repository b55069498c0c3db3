-- The PostgreSQL store's foundation: intents, their agents, the event log and its head,
-- leases, webhook subscriptions and their outbox.
--
-- Types: times are timestamptz (microseconds, like Python's datetime, so `iso()` of a read
-- value is byte-identical to what was written). Client documents are `json`, not `jsonb`:
-- json keeps the client's text (key order) verbatim, as the SQLite store does, and nothing
-- queries inside them yet.

CREATE TABLE intents (
    id text PRIMARY KEY,
    title text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_by text,
    status text NOT NULL,
    constraints json NOT NULL DEFAULT '{}',
    state json NOT NULL DEFAULT '{}',
    version integer NOT NULL DEFAULT 1,
    confidence integer NOT NULL DEFAULT 0,
    parent_id text REFERENCES intents(id),
    depends_on json NOT NULL DEFAULT '[]',
    governance_policy json,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    last_activity_at timestamptz,
    last_event_seq integer NOT NULL DEFAULT 0,  -- the per-intent event sequence's head
    created_order bigint GENERATED ALWAYS AS IDENTITY  -- listing order (newest first)
);
CREATE INDEX intents_status ON intents(status);
CREATE INDEX intents_parent ON intents(parent_id);
CREATE INDEX intents_created_by ON intents(created_by);
CREATE INDEX intents_created_order ON intents(created_order);

CREATE TABLE intent_agents (
    id text NOT NULL UNIQUE,
    intent_id text NOT NULL REFERENCES intents(id),
    agent_id text NOT NULL,
    role text NOT NULL,
    assigned_at timestamptz NOT NULL,
    PRIMARY KEY (intent_id, agent_id)
);
CREATE INDEX intent_agents_agent ON intent_agents(agent_id);

-- The global sequence's head: one row. Every write transaction locks it first and holds
-- it to COMMIT (core.py), so global ids are handed out in commit order with no gaps.
CREATE TABLE event_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_id bigint NOT NULL,
    -- raised by a change to data that instances cache in memory (webhook subscriptions)
    cache_version bigint NOT NULL DEFAULT 0
);
INSERT INTO event_head (last_id) VALUES (0);

-- id is the global sequence; seq the per-intent one. Rows are never updated or deleted.
CREATE TABLE events (
    id bigint PRIMARY KEY,
    uid text NOT NULL UNIQUE,
    intent_id text REFERENCES intents(id),
    portfolio_id text,
    seq integer,
    event_type text NOT NULL,
    actor text,
    payload json NOT NULL,
    created_at timestamptz NOT NULL,
    trace_id text,
    parent_event_id text,
    UNIQUE (intent_id, seq)
);
CREATE INDEX events_portfolio ON events(portfolio_id) WHERE portfolio_id IS NOT NULL;

CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END $$;
CREATE TRIGGER events_are_immutable BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();

-- Leases (RFC-0003): at most one active lease per (intent, scope), whatever the code does.
CREATE TABLE leases (
    id text PRIMARY KEY,
    intent_id text NOT NULL REFERENCES intents(id),
    agent_id text NOT NULL,
    scope text NOT NULL,
    status text NOT NULL CHECK (status IN ('active', 'released', 'expired', 'revoked')),
    acquired_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    released_at timestamptz,
    renewed_at timestamptz,
    revoked_by text,
    revoke_reason text,
    created_order bigint GENERATED ALWAYS AS IDENTITY
);
CREATE UNIQUE INDEX leases_one_active_per_scope ON leases(intent_id, scope)
    WHERE status = 'active';
CREATE INDEX leases_active_by_expiry ON leases(expires_at) WHERE status = 'active';
CREATE INDEX leases_by_intent ON leases(intent_id);

-- Webhook subscriptions (RFC-0006) and their durable outbox, written in the event's
-- transaction.
CREATE TABLE subscriptions (
    id text PRIMARY KEY,
    intent_id text,
    portfolio_id text,
    subscriber_id text,
    event_types json NOT NULL DEFAULT '[]',
    webhook_url text,
    secret text NOT NULL,
    expires_at timestamptz,
    created_at timestamptz NOT NULL,
    CHECK (intent_id IS NULL OR portfolio_id IS NULL)
);

CREATE TABLE webhook_deliveries (
    id text PRIMARY KEY,
    subscription_id text NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    event_seq bigint NOT NULL REFERENCES events(id),
    status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at double precision, -- unix time; NULL once finished
    last_error text,
    created_at timestamptz NOT NULL,
    finished_at timestamptz,
    UNIQUE (subscription_id, event_seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at)
    WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    delivery_id text NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    started_at text NOT NULL,
    status_code integer,
    error text,
    duration_ms double precision NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
