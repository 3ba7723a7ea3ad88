-- Customers (billing accounts) and every sync table of DESIGN.md section 2.
-- Every sync table carries the HubSpot portal id so several portals can share one schema later.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE customers (
    id              uuid PRIMARY KEY,
    ban             text NOT NULL UNIQUE CHECK (ban ~ '^[A-Z]{2}-[0-9]{9}$'),
    company_name    text NOT NULL CHECK (char_length(company_name) BETWEEN 1 AND 255),
    customer_type   text NOT NULL CHECK (customer_type IN ('PREPAID', 'POSTPAID', 'RESELLER')),
    status          text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'SUSPENDED', 'CLOSED')),
    credit_limit    numeric(14,2) NOT NULL DEFAULT 0 CHECK (credit_limit >= 0),
    current_balance numeric(14,2) NOT NULL DEFAULT 0,
    domain          text,
    contact         jsonb NOT NULL DEFAULT '{}'::jsonb,
    address         jsonb NOT NULL DEFAULT '{}'::jsonb,
    services        jsonb NOT NULL DEFAULT '{}'::jsonb,
    external_ids    jsonb NOT NULL DEFAULT '{}'::jsonb,
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
-- Partial, case-insensitive search on name, email and domain (q=...).
CREATE INDEX customers_company_name_trgm ON customers USING gin (lower(company_name) gin_trgm_ops);
CREATE INDEX customers_email_trgm ON customers USING gin (lower(contact->>'email') gin_trgm_ops);
CREATE INDEX customers_domain_trgm ON customers USING gin (lower(domain) gin_trgm_ops);
CREATE INDEX customers_status_id ON customers (status, id);
CREATE UNIQUE INDEX customers_hubspot_company_id ON customers ((external_ids->>'hubspot_company_id'))
    WHERE external_ids ? 'hubspot_company_id';

-- The transactional outbox: one row per change to push (or pull), written with the customer row.
CREATE TABLE hubspot_sync_queue (
    id               bigserial PRIMARY KEY,
    portal_id        bigint NOT NULL,
    customer_id      uuid NOT NULL REFERENCES customers (id),
    operation        text NOT NULL CHECK (operation IN ('CREATE', 'UPDATE', 'DELETE', 'RESYNC', 'PUSH_BACK')),
    direction        text NOT NULL DEFAULT 'OUTBOUND' CHECK (direction IN ('OUTBOUND', 'INBOUND')),
    priority         smallint NOT NULL DEFAULT 0,
    status           text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'IN_FLIGHT', 'DONE', 'FAILED')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    published_at     timestamptz,
    customer_version bigint,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hubspot_sync_queue_due ON hubspot_sync_queue (status, next_attempt_at) WHERE status IN ('PENDING', 'IN_FLIGHT', 'FAILED');
CREATE INDEX hubspot_sync_queue_customer ON hubspot_sync_queue (customer_id, id);

-- Audit trail of every sync attempt: ids and field names, never PII values.
CREATE TABLE hubspot_sync_log (
    id                 bigserial PRIMARY KEY,
    portal_id          bigint NOT NULL,
    queue_id           bigint REFERENCES hubspot_sync_queue (id),
    customer_id        uuid REFERENCES customers (id),
    direction          text NOT NULL CHECK (direction IN ('OUTBOUND', 'INBOUND')),
    operation          text NOT NULL,
    status             text NOT NULL CHECK (status IN ('SUCCESS', 'FAILED', 'SKIPPED', 'OVERRIDDEN', 'CONFLICT')),
    fields_synced      text[] NOT NULL DEFAULT '{}',
    hubspot_company_id text,
    error              text,
    started_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz
);
CREATE INDEX hubspot_sync_log_customer ON hubspot_sync_log (customer_id, id);
CREATE INDEX hubspot_sync_log_status ON hubspot_sync_log (status, id);

-- Per customer and field: the last value each side holds and when each side changed it.
CREATE TABLE hubspot_field_state (
    portal_id          bigint NOT NULL,
    customer_id        uuid NOT NULL REFERENCES customers (id),
    field              text NOT NULL,
    warp_value         text,
    hubspot_value      text,
    warp_changed_at    timestamptz,
    hubspot_changed_at timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, customer_id, field)
);

-- Field mapping, editable without a deploy. portal_id 0 holds the default for every portal.
CREATE TABLE hubspot_sync_config (
    portal_id        bigint NOT NULL DEFAULT 0,
    warp_field       text NOT NULL,
    hubspot_property text NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('WARP_TO_HUBSPOT', 'HUBSPOT_TO_WARP', 'BOTH')),
    conflict_rule    text NOT NULL CHECK (conflict_rule IN ('WARP_WINS', 'HUBSPOT_WINS', 'LATEST_WINS')),
    enabled          boolean NOT NULL DEFAULT true,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, warp_field)
);
INSERT INTO hubspot_sync_config (portal_id, warp_field, hubspot_property, direction, conflict_rule) VALUES
    (0, 'ban',                'warp_ban',                'WARP_TO_HUBSPOT', 'WARP_WINS'),
    (0, 'company_name',       'name',                    'BOTH',            'LATEST_WINS'),
    (0, 'domain',             'domain',                  'BOTH',            'LATEST_WINS'),
    (0, 'status',             'warp_status',             'WARP_TO_HUBSPOT', 'WARP_WINS'),
    (0, 'customer_type',      'warp_customer_type',      'WARP_TO_HUBSPOT', 'WARP_WINS'),
    (0, 'credit_limit',       'warp_credit_limit',       'BOTH',            'HUBSPOT_WINS'),
    (0, 'current_balance',    'warp_current_balance',    'WARP_TO_HUBSPOT', 'WARP_WINS'),
    (0, 'services.voice',     'warp_services_voice',     'WARP_TO_HUBSPOT', 'WARP_WINS'),
    (0, 'services.messaging', 'warp_services_messaging', 'WARP_TO_HUBSPOT', 'WARP_WINS'),
    (0, 'services.data',      'warp_services_data',      'WARP_TO_HUBSPOT', 'WARP_WINS'),
    (0, 'contact.email',      'warp_billing_email',      'WARP_TO_HUBSPOT', 'WARP_WINS'),
    (0, 'contact.phone',      'phone',                   'WARP_TO_HUBSPOT', 'WARP_WINS');

-- Every inbound webhook event, raw, once. eventId alone is not unique (hubspot/FACTS.md).
CREATE TABLE hubspot_webhook_events (
    id                bigserial PRIMARY KEY,
    portal_id         bigint NOT NULL,
    event_id          bigint NOT NULL,
    subscription_type text NOT NULL,
    object_id         bigint NOT NULL,
    occurred_at_ms    bigint NOT NULL,
    property_name     text NOT NULL DEFAULT '',
    change_source     text,
    attempt_number    integer,
    raw               jsonb NOT NULL,
    status            text NOT NULL DEFAULT 'RECEIVED' CHECK (status IN ('RECEIVED', 'PROCESSED', 'SKIPPED', 'FAILED')),
    received_at       timestamptz NOT NULL DEFAULT now(),
    processed_at      timestamptz,
    error             text,
    UNIQUE (portal_id, event_id, subscription_type, object_id, occurred_at_ms, property_name)
);
CREATE INDEX hubspot_webhook_events_pending ON hubspot_webhook_events (status, id) WHERE status = 'RECEIVED';

CREATE TABLE hubspot_reconciliation_runs (
    id                uuid PRIMARY KEY,
    portal_id         bigint NOT NULL,
    status            text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    dry_run           boolean NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    customers_checked bigint NOT NULL DEFAULT 0,
    companies_checked bigint NOT NULL DEFAULT 0,
    drift_found       bigint NOT NULL DEFAULT 0,
    drift_fixed       bigint NOT NULL DEFAULT 0,
    errors            bigint NOT NULL DEFAULT 0,
    duration_ms       bigint,
    report            jsonb NOT NULL DEFAULT '{}'::jsonb
);

-- Conflicts the field rules cannot settle, kept for a person to resolve.
CREATE TABLE sync_conflicts (
    id                 uuid PRIMARY KEY,
    portal_id          bigint NOT NULL,
    customer_id        uuid NOT NULL REFERENCES customers (id),
    field              text NOT NULL,
    warp_value         text,
    hubspot_value      text,
    warp_changed_at    timestamptz,
    hubspot_changed_at timestamptz,
    status             text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'RESOLVED')),
    resolution         jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    resolved_at        timestamptz
);
CREATE INDEX sync_conflicts_open ON sync_conflicts (status, created_at);

-- POST retries from the portal: same principal and key give the stored answer.
CREATE TABLE idempotency_keys (
    principal       text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash    text NOT NULL,
    status_code     smallint,
    response_headers jsonb,
    response_body   bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    PRIMARY KEY (principal, idempotency_key)
);

-- The HubSpot request budget, one token bucket per portal and bucket, shared by every process.
CREATE TABLE hubspot_rate_limit_budget (
    portal_id      bigint NOT NULL,
    bucket         text NOT NULL,
    capacity       integer NOT NULL,
    interval_ms    integer NOT NULL,
    tokens         double precision NOT NULL,
    refilled_at    timestamptz NOT NULL DEFAULT now(),
    blocked_until  timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, bucket)
);
CREATE TABLE hubspot_rate_limit_events (
    id          bigserial PRIMARY KEY,
    portal_id   bigint NOT NULL,
    bucket      text NOT NULL,
    policy_name text,
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hubspot_rate_limit_events_time ON hubspot_rate_limit_events (occurred_at);
