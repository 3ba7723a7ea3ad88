-- A reconciliation that got to the end but could not repair everything (a record whose HubSpot
-- value cannot be stored, a HubSpot read that failed) was recorded 'succeeded', its errors only
-- a count beside it. It now ends 'completed_with_errors', so a status check alone tells a clean
-- run from one a person has to look at ('failed' still means it stopped before the end).
ALTER TABLE hubspot_reconciliation_runs DROP CONSTRAINT hubspot_reconciliation_runs_status_check;
ALTER TABLE hubspot_reconciliation_runs ADD CONSTRAINT hubspot_reconciliation_runs_status_check
    CHECK (status IN ('running', 'succeeded', 'completed_with_errors', 'failed'));

-- Runs recorded before this change keep their history true to the new rule.
UPDATE hubspot_reconciliation_runs SET status = 'completed_with_errors'
 WHERE status = 'succeeded' AND errors > 0;
