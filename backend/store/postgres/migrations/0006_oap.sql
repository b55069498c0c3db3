-- OAP-compatible agent routing (spec/oap.md §8), as the SQLite store's 0008_oap.sql, plus the
-- claim that lets several instances share chains: a running chain belongs to `owner` until
-- `claimed_until` (database time), which its instance keeps moving; a chain whose claim lapsed
-- (its instance died) or was released (it shut down) is taken over by a live instance.
-- Numbered 0006: other branches add 0004/0005 and 0007 at the same time; nothing here
-- depends on them.
CREATE TABLE oap_agents (
    agent_id text PRIMARY KEY,
    url text NOT NULL,
    capabilities json NOT NULL,          -- list, lower-cased
    description text NOT NULL DEFAULT '',
    timeout_s double precision NOT NULL DEFAULT 60.0,
    enabled boolean NOT NULL DEFAULT true,
    discovered boolean NOT NULL DEFAULT false,
    last_status text,
    last_ping_ms double precision,
    last_ping_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE  -- registration order: OAP's tie lists
);

CREATE TABLE oap_chains (
    chain_id text PRIMARY KEY,           -- also the envelope id
    intent_id text NOT NULL REFERENCES intents(id) ON DELETE CASCADE,
    mode text NOT NULL CHECK (mode IN ('handoff', 'pipeline')),
    pipeline json,
    pipeline_start integer NOT NULL DEFAULT 0, -- hops_done when the pipeline began
    max_hops integer NOT NULL,
    stop_at_hop integer NOT NULL,
    hops_done integer NOT NULL DEFAULT 0,
    status text NOT NULL,
    envelope json NOT NULL,              -- the checkpoint after the last applied hop
    next_agent text,
    next_selected_by text,
    error text,
    error_kind text,
    owner text,                          -- the server run executing it while running
    claimed_until timestamptz,           -- owner's claim (database clock) while running
    heartbeat_at timestamptz,
    created_by text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    finished_at timestamptz,
    ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
-- Lists are newest first: keyset reads go by (-ord).
CREATE INDEX oap_chains_newest ON oap_chains ((-ord));
CREATE INDEX oap_chains_status ON oap_chains (status, (-ord));
CREATE INDEX oap_chains_intent ON oap_chains (intent_id, (-ord));
-- One intent runs one chain at a time.
CREATE UNIQUE INDEX oap_chains_one_active ON oap_chains (intent_id)
    WHERE status IN ('queued', 'running');
-- What the take-over scan reads: running chains by their claim.
CREATE INDEX oap_chains_claims ON oap_chains (claimed_until) WHERE status = 'running';

CREATE TABLE oap_hops (
    chain_id text NOT NULL REFERENCES oap_chains(chain_id) ON DELETE CASCADE,
    hop integer NOT NULL,
    agent_id text NOT NULL,
    selected_by text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'ok', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    http_status integer,
    idempotency_key text NOT NULL,
    request_sha256 text,
    response json,                       -- capped
    error text,
    error_kind text,
    duration_ms double precision,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    PRIMARY KEY (chain_id, hop)
);
