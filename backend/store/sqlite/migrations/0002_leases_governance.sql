-- Leases (RFC-0003), arbitration requests and decision records.
CREATE TABLE leases (
    id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL REFERENCES intents(id),
    agent_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'released', 'expired', 'revoked')),
    acquired_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    expires_epoch REAL NOT NULL,  -- expires_at in Unix seconds: compared, never shown
    released_at TEXT,
    renewed_at TEXT,
    revoked_by TEXT,
    revoke_reason TEXT
) STRICT;
-- The rule itself: at most one active lease per (intent, scope), whatever the code does.
CREATE UNIQUE INDEX leases_one_active_per_scope ON leases(intent_id, scope)
    WHERE status = 'active';
CREATE INDEX leases_active_by_expiry ON leases(expires_epoch) WHERE status = 'active';
CREATE INDEX leases_by_intent ON leases(intent_id);
CREATE INDEX leases_by_status ON leases(status);

CREATE TABLE arbitrations (
    id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL REFERENCES intents(id),
    requester_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(context)),
    options TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(options)),
    status TEXT NOT NULL CHECK (status IN ('pending', 'resolved')),
    created_at TEXT NOT NULL,
    resolved_at TEXT,
    decision_id TEXT
) STRICT;
-- rowid order is request order: the queue is read oldest first.
CREATE INDEX arbitrations_by_status ON arbitrations(status);
CREATE INDEX arbitrations_by_intent ON arbitrations(intent_id);

CREATE TABLE decisions (
    id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL REFERENCES intents(id),
    decision_maker_id TEXT NOT NULL,
    decision_type TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reasoning TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(evidence)),
    arbitration_id TEXT REFERENCES arbitrations(id),
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX decisions_by_intent ON decisions(intent_id);
-- An arbitration is resolved by one decision only.
CREATE UNIQUE INDEX decisions_one_per_arbitration ON decisions(arbitration_id)
    WHERE arbitration_id IS NOT NULL;
