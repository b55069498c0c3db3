-- Intents, their agents, and the append-only event log.
CREATE TABLE intents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_by TEXT,
    status TEXT NOT NULL,
    constraints TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(constraints)),
    state TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(state)),
    version INTEGER NOT NULL DEFAULT 1,
    confidence INTEGER NOT NULL DEFAULT 0,
    parent_id TEXT REFERENCES intents(id),
    depends_on TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(depends_on)),
    governance_policy TEXT CHECK (governance_policy IS NULL OR json_valid(governance_policy)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_activity_at TEXT
) STRICT;
CREATE INDEX intents_status ON intents(status);
CREATE INDEX intents_parent ON intents(parent_id);
CREATE INDEX intents_created_by ON intents(created_by);

CREATE TABLE intent_agents (
    id TEXT NOT NULL UNIQUE,
    intent_id TEXT NOT NULL REFERENCES intents(id),
    agent_id TEXT NOT NULL,
    role TEXT NOT NULL,
    assigned_at TEXT NOT NULL,
    PRIMARY KEY (intent_id, agent_id)
) STRICT;
CREATE INDEX intent_agents_agent ON intent_agents(agent_id);

-- id is the global sequence (the single writer assigns it in commit order);
-- seq is the per-intent sequence. Rows are never updated or deleted.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    intent_id TEXT REFERENCES intents(id),
    portfolio_id TEXT,
    seq INTEGER,
    event_type TEXT NOT NULL,
    actor TEXT,
    payload TEXT NOT NULL CHECK (json_valid(payload)),
    created_at TEXT NOT NULL,
    trace_id TEXT,
    parent_event_id TEXT,
    UNIQUE (intent_id, seq)
) STRICT;
CREATE INDEX events_portfolio ON events(portfolio_id) WHERE portfolio_id IS NOT NULL;

CREATE TRIGGER events_are_immutable BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_are_permanent BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
