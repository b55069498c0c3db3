-- RFC-0005 attachments, RFC-0009 costs and budget marks, RFC-0010 retry policies and
-- failures, RFC-0007 portfolios and their members.

CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL REFERENCES intents(id),
    filename TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    reference_url TEXT,            -- NULL when the bytes are stored here
    sha256 TEXT,
    metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    uploaded_by TEXT,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX attachments_intent ON attachments(intent_id);

-- Kept apart so listing attachments never reads the bytes.
CREATE TABLE attachment_contents (
    attachment_id TEXT PRIMARY KEY REFERENCES attachments(id) ON DELETE CASCADE,
    content BLOB NOT NULL
) STRICT;

CREATE TABLE costs (
    id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL REFERENCES intents(id),
    agent_id TEXT,
    cost_type TEXT NOT NULL,
    amount ANY NOT NULL,           -- ANY keeps integers integers and floats floats
    unit TEXT NOT NULL,
    provider TEXT,
    metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    recorded_at TEXT NOT NULL
) STRICT;
CREATE INDEX costs_intent ON costs(intent_id);

-- Budget marks already logged (kind = alert | exceeded): each is logged once per intent.
CREATE TABLE budget_marks (
    intent_id TEXT NOT NULL REFERENCES intents(id),
    kind TEXT NOT NULL,
    reached_at TEXT NOT NULL,
    PRIMARY KEY (intent_id, kind)
) STRICT;

CREATE TABLE retry_policies (
    id TEXT NOT NULL UNIQUE,
    intent_id TEXT PRIMARY KEY REFERENCES intents(id),
    strategy TEXT NOT NULL CHECK (strategy IN ('none', 'fixed', 'exponential', 'linear')),
    max_retries INTEGER NOT NULL,
    base_delay_ms INTEGER NOT NULL,
    max_delay_ms INTEGER NOT NULL,
    fallback_agent_id TEXT,
    failure_threshold INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE failures (
    id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL REFERENCES intents(id),
    agent_id TEXT,
    attempt_number INTEGER NOT NULL,
    error_code TEXT,
    error_message TEXT,
    recoverable INTEGER NOT NULL,
    retry_scheduled_at TEXT,
    next_retry_delay_ms INTEGER,
    retries_exhausted INTEGER NOT NULL,
    fallback_agent_id TEXT,
    metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX failures_intent ON failures(intent_id);

CREATE TABLE portfolios (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    created_by TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'completed', 'abandoned')),
    governance_policy TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(governance_policy)),
    metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX portfolios_created_by ON portfolios(created_by);

CREATE TABLE portfolio_members (
    id TEXT NOT NULL UNIQUE,
    portfolio_id TEXT NOT NULL REFERENCES portfolios(id),
    intent_id TEXT NOT NULL REFERENCES intents(id),
    role TEXT NOT NULL CHECK (role IN ('primary', 'member', 'dependency')),
    priority INTEGER NOT NULL DEFAULT 0,
    added_at TEXT NOT NULL,
    PRIMARY KEY (portfolio_id, intent_id)
) STRICT;
CREATE INDEX portfolio_members_intent ON portfolio_members(intent_id);
