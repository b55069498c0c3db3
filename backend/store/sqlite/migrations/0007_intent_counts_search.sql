-- Scale with the fleet (issue 16): what lists, counts and searches read must not grow with
-- the number of intents. Both are kept by triggers, so every write path (the intents store,
-- federation's inbound intents, federated status changes) keeps them in the same
-- transaction as the change, and no path can forget to.

-- Intents per status: `total` of an unfiltered or status-only list and GET /intents/counts
-- read a handful of rows instead of counting the table.
CREATE TABLE intent_counts (
    status TEXT PRIMARY KEY,
    n INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO intent_counts (status, n) SELECT status, COUNT(*) FROM intents GROUP BY status;

CREATE TRIGGER intent_counts_insert AFTER INSERT ON intents BEGIN
    INSERT INTO intent_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER intent_counts_delete AFTER DELETE ON intents BEGIN
    UPDATE intent_counts SET n = n - 1 WHERE status = OLD.status;
END;
CREATE TRIGGER intent_counts_status AFTER UPDATE OF status ON intents
WHEN OLD.status IS NOT NEW.status BEGIN
    UPDATE intent_counts SET n = n - 1 WHERE status = OLD.status;
    INSERT INTO intent_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

-- `?q=` search: a trigram index over title and description. Trigrams answer a
-- case-insensitive substring query (what `q` meant as a scan) from the index for queries of
-- three characters or more; shorter ones fall back to the scan (SqliteIntents.list_intents).
-- External content: the text is stored once, in `intents`.
CREATE VIRTUAL TABLE intents_fts USING fts5(
    title, description, content = 'intents', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO intents_fts (rowid, title, description) SELECT rowid, title, description FROM intents;

CREATE TRIGGER intents_fts_insert AFTER INSERT ON intents BEGIN
    INSERT INTO intents_fts (rowid, title, description)
        VALUES (NEW.rowid, NEW.title, NEW.description);
END;
CREATE TRIGGER intents_fts_delete AFTER DELETE ON intents BEGIN
    INSERT INTO intents_fts (intents_fts, rowid, title, description)
        VALUES ('delete', OLD.rowid, OLD.title, OLD.description);
END;
CREATE TRIGGER intents_fts_update AFTER UPDATE OF title, description ON intents BEGIN
    INSERT INTO intents_fts (intents_fts, rowid, title, description)
        VALUES ('delete', OLD.rowid, OLD.title, OLD.description);
    INSERT INTO intents_fts (rowid, title, description)
        VALUES (NEW.rowid, NEW.title, NEW.description);
END;

-- Keyset pages in `updated_at` order (`?sort=-updated_at`); created order is the rowid.
CREATE INDEX intents_updated ON intents (updated_at);
