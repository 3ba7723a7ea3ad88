-- Imports from HubSpot (issue 20): every company, contact or deal read page by page and matched
-- to WARP. An import is resumable: each page's effects, its counts and the cursor of the next
-- page commit in one transaction, so a crash redoes at most the page it was in, and counts never
-- double. A runner holds an import under a lease (lease_token, heartbeat_at); a lease not
-- renewed for a while is taken over by the next runner, which resumes from after_cursor.
CREATE TABLE hubspot_imports (
    id             uuid PRIMARY KEY,
    portal_id      bigint NOT NULL,
    object_type    text NOT NULL CHECK (object_type IN ('companies', 'contacts', 'deals')),
    dry_run        boolean NOT NULL,
    status         text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'running', 'succeeded', 'completed_with_errors', 'failed')),
    requested_by   text,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    heartbeat_at   timestamptz,
    finished_at    timestamptz,
    lease_token    uuid,
    -- HubSpot's paging cursor of the next page to read; NULL: the first page.
    after_cursor   text,
    pages          bigint NOT NULL DEFAULT 0,
    -- HubSpot's count of records when the import started (for progress), when it answered.
    total_estimate bigint,
    read           bigint NOT NULL DEFAULT 0,
    matched        bigint NOT NULL DEFAULT 0,
    linked         bigint NOT NULL DEFAULT 0,
    created        bigint NOT NULL DEFAULT 0,
    ambiguous      bigint NOT NULL DEFAULT 0,
    candidates     bigint NOT NULL DEFAULT 0,
    unmatched      bigint NOT NULL DEFAULT 0,
    failed         bigint NOT NULL DEFAULT 0,
    -- Why the last attempt stopped (a transient HubSpot failure is retried by the next runner).
    last_error     text,
    attempts       integer NOT NULL DEFAULT 0
);
-- One unfinished import per portal and object type: a second request is answered with the first.
CREATE UNIQUE INDEX hubspot_imports_one_unfinished ON hubspot_imports (portal_id, object_type)
    WHERE status IN ('queued', 'running');
CREATE INDEX hubspot_imports_newest ON hubspot_imports (requested_at DESC, id DESC);

-- The records an import leaves for a person: proposed matches (with their candidates), keys that
-- name nothing in WARP, links refused. Keyed by record, so a page redone after a crash adds none.
CREATE TABLE hubspot_import_items (
    import_id  uuid NOT NULL REFERENCES hubspot_imports (id) ON DELETE CASCADE,
    hubspot_id text NOT NULL,
    outcome    text NOT NULL CHECK (outcome IN ('ambiguous', 'unknown_key', 'failed')),
    reason     text NOT NULL,
    candidates uuid[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (import_id, hubspot_id)
);

-- Matching a company by its domain: customers' domains as HubSpot shows them (without www.).
CREATE INDEX customers_by_bare_domain ON customers ((regexp_replace(domain, '^www\.', '')))
    WHERE domain IS NOT NULL AND deleted_at IS NULL;
