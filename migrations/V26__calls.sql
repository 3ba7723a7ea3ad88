-- Finished calls taken in by POST /v1/calls (issue 21): stored once by the platform's call id,
-- then logged in HubSpot asynchronously. Each row is its own work item (`status` 'pending'
-- until logged, skipped or refused for good): a call is written to HubSpot once and never
-- diffed, so it needs no field state, only its progress.
CREATE TABLE calls (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Arrival order: the sync log's newest-first pages are keyed on it.
    seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    call_id        text NOT NULL UNIQUE CHECK (call_id ~ '^[!-~]{1,128}$'),
    customer_id    uuid NOT NULL REFERENCES customers (id),
    direction      text NOT NULL CHECK (direction IN ('INBOUND', 'OUTBOUND')),
    from_number    text NOT NULL CHECK (from_number ~ '^\+[1-9][0-9]{7,14}$'),
    to_number      text NOT NULL CHECK (to_number ~ '^\+[1-9][0-9]{7,14}$'),
    started_at     timestamptz NOT NULL,
    duration_ms    bigint NOT NULL CHECK (duration_ms BETWEEN 0 AND 86400000),
    outcome        text NOT NULL
                   CHECK (outcome IN ('COMPLETED', 'BUSY', 'NO_ANSWER', 'FAILED', 'CANCELED')),
    recording_url  text CHECK (recording_url LIKE 'https://%'),
    summary        text CHECK (octet_length(summary) <= 65536),
    received_at    timestamptz NOT NULL DEFAULT now(),
    -- Its logging in HubSpot.
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'success', 'skipped', 'error')),
    attempts       integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    portal_id      bigint,
    contact_id     text,
    engagement_id  text,
    note_id        text,
    reason         text,
    logged_at      timestamptz
);
CREATE INDEX calls_due ON calls (next_attempt_at) WHERE status = 'pending';
CREATE INDEX calls_by_customer ON calls (customer_id, seq);
CREATE INDEX calls_by_status ON calls (status, seq);
