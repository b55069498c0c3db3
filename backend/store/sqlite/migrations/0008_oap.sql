-- OAP-compatible agent routing (spec/oap.md §8). Numbered 0008, not 0007: another branch
-- adds 0007 at the same time.
CREATE TABLE oap_agents (
    agent_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    capabilities TEXT NOT NULL,        -- JSON list, lower-cased
    description TEXT NOT NULL DEFAULT '',
    timeout_s REAL NOT NULL DEFAULT 60.0,
    enabled INTEGER NOT NULL DEFAULT 1,
    discovered INTEGER NOT NULL DEFAULT 0,
    last_status TEXT,
    last_ping_ms REAL,
    last_ping_at TEXT,
    created_seq INTEGER NOT NULL,       -- registration order: OAP's tie lists follow it
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE oap_chains (
    chain_id TEXT PRIMARY KEY,          -- also the envelope id
    intent_id TEXT NOT NULL REFERENCES intents(id) ON DELETE CASCADE,
    mode TEXT NOT NULL,                 -- handoff | pipeline
    pipeline TEXT,                      -- JSON list
    pipeline_start INTEGER NOT NULL DEFAULT 0, -- hops_done when the pipeline began
    max_hops INTEGER NOT NULL,
    stop_at_hop INTEGER NOT NULL,
    hops_done INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    envelope TEXT NOT NULL,             -- JSON checkpoint after the last applied hop
    next_agent TEXT,
    next_selected_by TEXT,
    error TEXT,
    error_kind TEXT,
    owner TEXT,                         -- the server run executing it while running
    heartbeat_at TEXT,
    created_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX oap_chains_intent ON oap_chains (intent_id, created_at);
CREATE INDEX oap_chains_status ON oap_chains (status, created_at);
-- One intent runs one chain at a time.
CREATE UNIQUE INDEX oap_chains_one_active ON oap_chains (intent_id)
    WHERE status IN ('queued', 'running');

CREATE TABLE oap_hops (
    chain_id TEXT NOT NULL REFERENCES oap_chains(chain_id) ON DELETE CASCADE,
    hop INTEGER NOT NULL,
    agent_id TEXT NOT NULL,
    selected_by TEXT NOT NULL,
    status TEXT NOT NULL,               -- pending | ok | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    http_status INTEGER,
    idempotency_key TEXT NOT NULL,
    request_sha256 TEXT,
    response TEXT,                      -- JSON, capped
    error TEXT,
    error_kind TEXT,
    duration_ms REAL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (chain_id, hop)
);
