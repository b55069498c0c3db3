-- `leases_by_status` is dropped: every acquire inserted into it and every release moved its
-- entry (the hottest writes), and no query needs it. The active ones, the only status
-- listed on a hot path, are reached through the two partial indexes on `status = 'active'`
-- (`leases_one_active_per_scope` per intent, `leases_active_by_expiry` across intents and
-- for the sweeper); per intent, `leases_by_intent` serves every other status. A listing of
-- released/expired/revoked leases across all intents reads the table in rowid order (the
-- order it returns) and stops at its limit.
DROP INDEX leases_by_status;
