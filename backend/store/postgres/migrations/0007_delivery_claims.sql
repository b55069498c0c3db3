-- Webhook deliveries are claimed row by row (claims.py): every instance on the database
-- sends, each delivery by one instance at a time. `claimed_by` names the instance that
-- holds (or, once the delivery is finished, last held) the claim; `claimed_until` is the
-- claim's deadline on the database's clock, pushed on while that instance lives. A claim
-- past its deadline belongs to nobody: its instance died, and any other takes the row.
ALTER TABLE webhook_deliveries
    ADD COLUMN claimed_by text,
    ADD COLUMN claimed_until timestamptz;
-- An instance renews and releases its own claims by this index.
CREATE INDEX webhook_deliveries_claimed ON webhook_deliveries(claimed_by)
    WHERE status = 'pending' AND claimed_by IS NOT NULL;
