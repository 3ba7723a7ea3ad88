-- Automatic support tickets (issue 21, seed 002's auto-ticket): the platform's alerts
-- (POST /v1/support/tickets) open one HubSpot ticket per (trigger, customer, trunk) while that
-- ticket is open; a repeat adds a note to it. The ticket's stage is read back from HubSpot.
CREATE TABLE support_tickets (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    customer_id     uuid NOT NULL REFERENCES customers (id),
    trigger         text NOT NULL CHECK (trigger ~ '^[a-z][a-z0-9_]{0,63}$'),
    -- '' when the alert names no trunk: part of the one-open-ticket key, so never NULL.
    trunk_id        text NOT NULL DEFAULT '' CHECK (trunk_id ~ '^[!-~]{0,64}$'),
    call_id         text CHECK (call_id ~ '^[!-~]{1,128}$'),
    issue_type      text NOT NULL CHECK (issue_type IN ('voice', 'sms', 'billing', 'api', 'portal')),
    -- The highest severity of its alerts (a worse repeat escalates the ticket).
    severity        text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    subject         text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 300),
    details         jsonb NOT NULL DEFAULT '{}',
    opened_at       timestamptz NOT NULL DEFAULT now(),
    sla_breach_at   timestamptz NOT NULL,
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    closed_at       timestamptz,
    alerts          integer NOT NULL DEFAULT 1,
    last_alert_at   timestamptz NOT NULL DEFAULT now(),
    -- Where it lives in HubSpot once created, and its stage as last read.
    portal_id       bigint,
    hubspot_ticket_id text,
    pipeline_id     text,
    stage_id        text,
    stage_label     text,
    checked_at      timestamptz
);
CREATE UNIQUE INDEX support_tickets_one_open
    ON support_tickets (trigger, customer_id, trunk_id) WHERE state = 'open';
CREATE INDEX support_tickets_by_customer ON support_tickets (customer_id, seq);
CREATE INDEX support_tickets_to_check ON support_tickets (checked_at NULLS FIRST)
    WHERE state = 'open' AND hubspot_ticket_id IS NOT NULL;

-- Each alert is its own work item: the one that opens its ticket creates it in HubSpot, the
-- others become notes on it.
CREATE TABLE ticket_alerts (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    ticket_id       uuid NOT NULL REFERENCES support_tickets (id),
    opens           boolean NOT NULL,
    -- This alert's place among its ticket's (1 for the one that opened it).
    number          integer NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    call_id         text CHECK (call_id ~ '^[!-~]{1,128}$'),
    issue_type      text NOT NULL CHECK (issue_type IN ('voice', 'sms', 'billing', 'api', 'portal')),
    subject         text CHECK (char_length(subject) BETWEEN 1 AND 300),
    data            jsonb NOT NULL DEFAULT '{}',
    observed_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    -- Whether this alert raised its ticket's severity (the note then updates the ticket too).
    escalates       boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'success', 'skipped', 'error')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    portal_id       bigint,
    -- The ticket's HubSpot id for the alert that opened it, the note's for a repeat.
    hubspot_id      text,
    reason          text,
    logged_at       timestamptz
);
CREATE INDEX ticket_alerts_due ON ticket_alerts (next_attempt_at) WHERE status = 'pending';
CREATE INDEX ticket_alerts_of_ticket ON ticket_alerts (ticket_id, seq);
