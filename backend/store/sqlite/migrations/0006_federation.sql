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
