-- Reconciliation runs requested through the API: the API only inserts a queued run
-- (claimed_at NULL); the reconciler claims it with FOR UPDATE SKIP LOCKED and executes it.
-- `status` keeps V1's three values (the API contract): a queued run is 'running' and unclaimed.
-- A run requested through the API names no portal (the API serves its deployment's one portal);
-- the reconciler that claims it records its own.
ALTER TABLE hubspot_reconciliation_runs ALTER COLUMN portal_id DROP NOT NULL;
ALTER TABLE hubspot_reconciliation_runs
    ADD COLUMN requested_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN requested_by text,
    ADD COLUMN claimed_at   timestamptz,
    ADD COLUMN heartbeat_at timestamptz;
UPDATE hubspot_reconciliation_runs SET requested_at = started_at, claimed_at = started_at;
CREATE INDEX hubspot_reconciliation_runs_queued ON hubspot_reconciliation_runs (requested_at)
    WHERE claimed_at IS NULL AND status = 'running';
-- At most one executing run per portal: two full runs at once would only repeat each other's
-- repairs. A second claim meets this index and leaves its run queued.
CREATE UNIQUE INDEX hubspot_reconciliation_runs_one_executing ON hubspot_reconciliation_runs (portal_id)
    WHERE claimed_at IS NOT NULL AND status = 'running';

-- `warp backfill` (push every customer): where the last pass stopped, so a new pass resumes.
CREATE TABLE hubspot_backfill_progress (
    portal_id        bigint PRIMARY KEY,
    last_customer_id uuid,
    customers_queued bigint NOT NULL DEFAULT 0,
    started_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
