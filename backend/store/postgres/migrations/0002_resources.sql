-- Arbitrations and decisions (RFC-0003 governance), attachments (RFC-0005), costs and budget
-- marks (RFC-0009), retry policies and failures (RFC-0010), portfolios (RFC-0007).
-- `ord` is insertion order, what SQLite's rowid gives its store: lists are read by it.

CREATE TABLE arbitrations (
    id text PRIMARY KEY,
    intent_id text NOT NULL REFERENCES intents(id),
    requester_id text NOT NULL,
    reason text NOT NULL,
    context json NOT NULL DEFAULT '{}',
    options json NOT NULL DEFAULT '[]',
    status text NOT NULL CHECK (status IN ('pending', 'resolved')),
    created_at timestamptz NOT NULL,
    resolved_at timestamptz,
    decision_id text,
    ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX arbitrations_by_status ON arbitrations(status);
CREATE INDEX arbitrations_by_intent ON arbitrations(intent_id);

CREATE TABLE decisions (
    id text PRIMARY KEY,
    intent_id text NOT NULL REFERENCES intents(id),
    decision_maker_id text NOT NULL,
    decision_type text NOT NULL,
    outcome text NOT NULL,
    reasoning text NOT NULL,
    evidence json NOT NULL DEFAULT '[]',
    arbitration_id text REFERENCES arbitrations(id),
    created_at timestamptz NOT NULL,
    ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX decisions_by_intent ON decisions(intent_id);
CREATE UNIQUE INDEX decisions_one_per_arbitration ON decisions(arbitration_id)
    WHERE arbitration_id IS NOT NULL;

CREATE TABLE attachments (
    id text PRIMARY KEY,
    intent_id text NOT NULL REFERENCES intents(id),
    filename text NOT NULL,
    mime_type text NOT NULL,
    size bigint NOT NULL CHECK (size >= 0),
    reference_url text,            -- NULL when the bytes are stored here
    sha256 text,
    metadata json NOT NULL DEFAULT '{}',
    uploaded_by text,
    created_at timestamptz NOT NULL,
    ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX attachments_intent ON attachments(intent_id);

-- Kept apart so listing attachments never reads the bytes.
CREATE TABLE attachment_contents (
    attachment_id text PRIMARY KEY REFERENCES attachments(id) ON DELETE CASCADE,
    content bytea NOT NULL
);

CREATE TABLE costs (
    id text PRIMARY KEY,
    intent_id text NOT NULL REFERENCES intents(id),
    agent_id text,
    cost_type text NOT NULL,
    amount json NOT NULL,          -- a JSON number keeps integers integers and floats floats
    unit text NOT NULL,
    provider text,
    metadata json NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL,
    ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX costs_intent ON costs(intent_id);

CREATE TABLE budget_marks (
    intent_id text NOT NULL REFERENCES intents(id),
    kind text NOT NULL,
    reached_at timestamptz NOT NULL,
    PRIMARY KEY (intent_id, kind)
);

CREATE TABLE retry_policies (
    id text NOT NULL UNIQUE,
    intent_id text PRIMARY KEY REFERENCES intents(id),
    strategy text NOT NULL CHECK (strategy IN ('none', 'fixed', 'exponential', 'linear')),
    max_retries integer NOT NULL,
    base_delay_ms bigint NOT NULL,
    max_delay_ms bigint NOT NULL,
    fallback_agent_id text,
    failure_threshold integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE failures (
    id text PRIMARY KEY,
    intent_id text NOT NULL REFERENCES intents(id),
    agent_id text,
    attempt_number integer NOT NULL,
    error_code text,
    error_message text,
    recoverable boolean NOT NULL,
    retry_scheduled_at text,       -- as the client or the policy said it (shown, not compared)
    next_retry_delay_ms bigint,
    retries_exhausted boolean NOT NULL,
    fallback_agent_id text,
    metadata json NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX failures_intent ON failures(intent_id);

CREATE TABLE portfolios (
    id text PRIMARY KEY,
    name text NOT NULL,
    description text,
    created_by text,
    status text NOT NULL CHECK (status IN ('active', 'completed', 'abandoned')),
    governance_policy json NOT NULL DEFAULT '{}',
    metadata json NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX portfolios_created_by ON portfolios(created_by);

CREATE TABLE portfolio_members (
    id text NOT NULL UNIQUE,
    portfolio_id text NOT NULL REFERENCES portfolios(id),
    intent_id text NOT NULL REFERENCES intents(id),
    role text NOT NULL CHECK (role IN ('primary', 'member', 'dependency')),
    priority integer NOT NULL DEFAULT 0,
    added_at timestamptz NOT NULL,
    ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    PRIMARY KEY (portfolio_id, intent_id)
);
CREATE INDEX portfolio_members_intent ON portfolio_members(intent_id);
