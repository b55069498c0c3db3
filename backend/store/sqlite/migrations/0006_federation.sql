-- Federation (RFC-0022/0023): dispatches received from other servers.
-- One row per (source, dispatch_id), written in the transaction that creates the local intent
-- (or decides not to), holding the final answer: a replay gets the same answer, never a
-- second intent. `content_sha256` covers the envelope minus `signature` and `created_at`, so a
-- re-signed retry of the same dispatch is a replay and changed content is a conflict.
CREATE TABLE federation_inbound (
    id TEXT PRIMARY KEY,
    source_key TEXT NOT NULL,          -- normalised source_server
    dispatch_id TEXT NOT NULL,
    idempotency_key TEXT,
    source_server TEXT NOT NULL,
    source_did TEXT,
    remote_intent_id TEXT NOT NULL,
    agent_id TEXT,
    content_sha256 TEXT NOT NULL,
    verified INTEGER NOT NULL,         -- 1: the envelope's signature verified
    accepted INTEGER NOT NULL,
    local_intent_id TEXT REFERENCES intents(id),
    answer TEXT NOT NULL CHECK (json_valid(answer)),
    envelope TEXT NOT NULL CHECK (json_valid(envelope)),
    delegation_scope TEXT CHECK (delegation_scope IS NULL OR json_valid(delegation_scope)),
    callback_url TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (source_key, dispatch_id)
) STRICT;
CREATE UNIQUE INDEX federation_inbound_idempotency
    ON federation_inbound(source_key, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX federation_inbound_local_intent
    ON federation_inbound(local_intent_id) WHERE local_intent_id IS NOT NULL;

-- Dispatches we send. `envelope` is the unsigned envelope made at dispatch time (the intent's
-- content then, the delegation token); every try adds a fresh created_at and signs it.
CREATE TABLE federation_dispatches (
    id TEXT PRIMARY KEY,               -- the dispatch_id
    intent_id TEXT NOT NULL REFERENCES intents(id),
    target_server TEXT NOT NULL,
    target_did TEXT,
    agent_id TEXT,
    status TEXT NOT NULL CHECK (status IN
        ('pending', 'delivered', 'accepted', 'rejected', 'failed', 'completed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    remote_intent_id TEXT,
    complete_on_callback INTEGER NOT NULL DEFAULT 0,
    envelope TEXT NOT NULL CHECK (json_valid(envelope)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX federation_dispatches_intent ON federation_dispatches(intent_id);

-- The durable outbox of federation messages (dispatches and callbacks), drained by the
-- webhook worker as another lane; written in the transaction of what caused it.
CREATE TABLE federation_outbox (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('dispatch', 'callback')),
    dispatch_id TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL CHECK (json_valid(body)),
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,              -- unix time; NULL once finished
    last_error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
) STRICT;
CREATE INDEX federation_outbox_due ON federation_outbox(next_attempt_at)
    WHERE status = 'pending';

CREATE TABLE federation_attempts (
    outbox_id TEXT NOT NULL REFERENCES federation_outbox(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms REAL NOT NULL,
    PRIMARY KEY (outbox_id, attempt)
) STRICT;

-- Callbacks applied to our dispatches, for deduplication by (dispatch_id, idempotency_key).
CREATE TABLE federation_callbacks (
    dispatch_id TEXT NOT NULL REFERENCES federation_dispatches(id),
    idempotency_key TEXT NOT NULL,
    event_type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (dispatch_id, idempotency_key)
) STRICT;
