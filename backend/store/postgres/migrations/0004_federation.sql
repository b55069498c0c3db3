-- Federation (RFC-0022/0023) on PostgreSQL, as SQLite's migration 0006, plus what several
-- instances on one database need: a per-row claim on outbox jobs and the shared identity.

-- Dispatches received from other servers: one row per (source, dispatch_id), written in the
-- transaction that creates the local intent (or decides not to), holding the final answer.
-- The unique keys decide idempotency whichever instance received it. `ord` is the commit
-- order (writes of all instances are serialised on event_head): an instance's index of
-- federated intents reads only the rows after the last one it has.
CREATE TABLE federation_inbound (
    id text PRIMARY KEY,
    source_key text NOT NULL,          -- normalised source_server
    dispatch_id text NOT NULL,
    idempotency_key text,
    source_server text NOT NULL,
    source_did text,
    remote_intent_id text NOT NULL,
    agent_id text,
    content_sha256 text NOT NULL,
    verified boolean NOT NULL,         -- the envelope's signature verified
    accepted boolean NOT NULL,
    local_intent_id text REFERENCES intents(id),
    answer json NOT NULL,
    envelope json NOT NULL,
    delegation_scope json,
    callback_url text,
    created_at timestamptz NOT NULL,
    ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    UNIQUE (source_key, dispatch_id)
);
CREATE UNIQUE INDEX federation_inbound_idempotency
    ON federation_inbound(source_key, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX federation_inbound_local_intent
    ON federation_inbound(local_intent_id) WHERE local_intent_id IS NOT NULL;

-- Dispatches we send; `envelope` is unsigned (every try adds created_at and signs it).
CREATE TABLE federation_dispatches (
    id text PRIMARY KEY,               -- the dispatch_id
    intent_id text NOT NULL REFERENCES intents(id),
    target_server text NOT NULL,
    target_did text,
    agent_id text,
    status text NOT NULL CHECK (status IN
        ('pending', 'delivered', 'accepted', 'rejected', 'failed', 'completed')),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    remote_intent_id text,
    complete_on_callback boolean NOT NULL DEFAULT false,
    envelope json NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX federation_dispatches_intent ON federation_dispatches(intent_id);
CREATE INDEX federation_dispatches_created ON federation_dispatches(created_at, id);

-- The durable outbox of federation messages (dispatches and callbacks), written in the
-- transaction of what caused it. `claimed_by` is the claim key of the instance sending it
-- now: a claim stands while that instance lives (it holds a session advisory lock on its
-- key, presence.py), so a job is never sent by two live instances at once and a dead
-- instance's jobs are taken over by the next survivor to look.
CREATE TABLE federation_outbox (
    id text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('dispatch', 'callback')),
    dispatch_id text NOT NULL,
    url text NOT NULL,
    body json NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at double precision,  -- unix time; NULL once finished
    last_error text,
    claimed_by bigint,
    created_at timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE INDEX federation_outbox_due ON federation_outbox(next_attempt_at, id)
    WHERE status = 'pending';

CREATE TABLE federation_attempts (
    outbox_id text NOT NULL REFERENCES federation_outbox(id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    started_at text NOT NULL,
    status_code integer,
    error text,
    duration_ms double precision NOT NULL,
    claimed_by bigint,                 -- the instance that made it
    PRIMARY KEY (outbox_id, attempt)
);

-- Callbacks applied to our dispatches, for deduplication by (dispatch_id, idempotency_key).
CREATE TABLE federation_callbacks (
    dispatch_id text NOT NULL REFERENCES federation_dispatches(id),
    idempotency_key text NOT NULL,
    event_type text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (dispatch_id, idempotency_key)
);

-- Raised by every received dispatch: each instance's index of federated intents (delegated
-- scopes, callback targets) reads the rows received since its version (core.py's Tx).
ALTER TABLE event_head ADD COLUMN federated_version bigint NOT NULL DEFAULT 0;

-- The server's Ed25519 identity when no key file is given (`--identity`): every instance on
-- the database signs with the same key, so they are one server with one DID. The newest
-- row signs; every row verifies (rotation adds one; deleting a row retires it for good).
CREATE TABLE federation_identity (
    ord bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seed bytea NOT NULL CHECK (length(seed) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
