-- Workflows (spec/federation.md §7): one intent per phase. `waiting` marks the phases the
-- workflow runner still has to start: a phase with dependencies is created `blocked` and made
-- `active` once they are all completed; a `dispatch_to` phase is then dispatched to its peer
-- (the dispatch clears `waiting` in its own transaction, so a restart never sends it twice).
CREATE TABLE federation_workflow_phases (
    intent_id TEXT PRIMARY KEY REFERENCES intents(id),
    workflow_id TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    workflow_description TEXT NOT NULL,
    phase TEXT NOT NULL,
    position INTEGER NOT NULL,
    assign TEXT NOT NULL,
    depends_on TEXT NOT NULL CHECK (json_valid(depends_on)),  -- intent ids
    dispatch_to TEXT,                                           -- peer URL; NULL: local
    delegation_scope TEXT CHECK (delegation_scope IS NULL OR json_valid(delegation_scope)),
    federation_visibility TEXT,
    waiting INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (workflow_id, phase)
) STRICT;
CREATE INDEX federation_workflow_phases_waiting
    ON federation_workflow_phases(intent_id) WHERE waiting = 1;
