-- Workflows (spec/federation.md §7), as SQLite's migration 0009: one intent per phase.
-- `waiting` marks the phases the workflow runner still has to start; a `dispatch_to` phase
-- stops waiting in its dispatch's transaction. `claimed_by` is the instance dispatching it
-- now (its claim key, as federation_outbox's): another live instance leaves it alone, so a
-- phase is never dispatched twice; a dead instance's claim is taken over.
CREATE TABLE federation_workflow_phases (
    intent_id text PRIMARY KEY REFERENCES intents(id),
    workflow_id text NOT NULL,
    workflow_name text NOT NULL,
    workflow_description text NOT NULL,
    phase text NOT NULL,
    position integer NOT NULL,
    assign text NOT NULL,
    depends_on json NOT NULL,          -- intent ids
    dispatch_to text,                  -- peer URL; NULL: local
    delegation_scope json,
    federation_visibility text,
    waiting boolean NOT NULL,
    claimed_by bigint,
    created_at timestamptz NOT NULL,
    UNIQUE (workflow_id, phase)
);
CREATE INDEX federation_workflow_phases_waiting
    ON federation_workflow_phases(intent_id) WHERE waiting;
CREATE INDEX federation_workflow_phases_workflow
    ON federation_workflow_phases(workflow_id, position);
