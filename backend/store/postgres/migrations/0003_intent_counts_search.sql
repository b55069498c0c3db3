-- Scale with the fleet (issue 16), as SQLite's migration 0007: intents per status kept by a
-- trigger in the same transaction as every change, an index for the updated-at orders, and
-- a trigram index for `?q=` when the pg_trgm extension can be had.

CREATE TABLE intent_counts (
    status text PRIMARY KEY,
    n bigint NOT NULL
);
INSERT INTO intent_counts (status, n) SELECT status, COUNT(*) FROM intents GROUP BY status;

CREATE FUNCTION intent_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE intent_counts SET n = n - 1 WHERE status = OLD.status;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO intent_counts (status, n) VALUES (NEW.status, 1)
            ON CONFLICT (status) DO UPDATE SET n = intent_counts.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER intent_counts_insert_delete AFTER INSERT OR DELETE ON intents
    FOR EACH ROW EXECUTE FUNCTION intent_counts_keep();
CREATE TRIGGER intent_counts_status AFTER UPDATE OF status ON intents
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION intent_counts_keep();

CREATE INDEX intents_updated ON intents(updated_at, created_order);

-- `?q=` is ILIKE over title and description. pg_trgm (trusted since PostgreSQL 13, so the
-- database's owner may create it) lets GIN indexes answer it; without it the search scans.
-- The extension is per database: it may already live in another schema, so its operator
-- class is named with that schema.
DO $$
DECLARE
    trgm_schema text;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    SELECT n.nspname INTO trgm_schema FROM pg_extension e
        JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    IF trgm_schema IS NOT NULL THEN
        EXECUTE format('CREATE INDEX intents_title_trgm ON intents USING gin (title %I.gin_trgm_ops)', trgm_schema);
        EXECUTE format('CREATE INDEX intents_description_trgm ON intents USING gin (description %I.gin_trgm_ops)', trgm_schema);
    END IF;
END $$;
