-- Incremental reconciliation (issue 23 item 8): a daily run that compares only the records
-- changed since the last successful run (HubSpot's, by their last-modified time; WARP's, by
-- updated_at), with a full run kept weekly. `mode` says which a run was and `changed_since` the
-- time an incremental run looked back to; both shown in the API.
ALTER TABLE hubspot_reconciliation_runs
    ADD COLUMN mode text NOT NULL DEFAULT 'full' CHECK (mode IN ('full', 'incremental')),
    ADD COLUMN changed_since timestamptz,
    ADD CONSTRAINT hubspot_reconciliation_runs_since_of_incremental
        CHECK ((mode = 'incremental') = (changed_since IS NOT NULL));
