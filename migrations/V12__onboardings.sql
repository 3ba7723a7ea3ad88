-- Onboarding won deals (issue 20): one row per deal that entered a won stage, a resumable
-- state machine (shared/domain/src/onboarding.rs). The step reached is stored after each step,
-- so a crash resumes there; each step is safe to repeat.
CREATE TABLE onboardings (
    id                 uuid PRIMARY KEY,
    portal_id          bigint NOT NULL,
    hubspot_deal_id    text NOT NULL,
    hubspot_company_id text,
    -- The BAN the company's customer has (or will have, once reserved).
    ban                text,
    customer_id        uuid REFERENCES customers (id),
    -- This onboarding made the customer (only then is the "account created" note written).
    created_customer   boolean NOT NULL DEFAULT false,
    step               text NOT NULL DEFAULT 'FIND_COMPANY' CHECK (step IN
                           ('FIND_COMPANY', 'STAMP_COMPANY', 'CREATE_CUSTOMER', 'WRITE_DEAL_BAN', 'RECORD_NOTE', 'DONE')),
    status             text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'PARKED', 'DONE')),
    -- Attempts at the current step (reset when a step is done, or on a retry).
    attempts           integer NOT NULL DEFAULT 0,
    last_error         text,
    parked_reason      text,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    -- Held by the runner executing it; another runner takes it only once this has passed.
    lease_until        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz,
    UNIQUE (portal_id, hubspot_deal_id)
);
CREATE INDEX onboardings_due ON onboardings (portal_id, next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX onboardings_status ON onboardings (portal_id, status, id);

-- The BAN reserved for a company's future customer, one per company: two deals of the company
-- won together stamp and create with the same BAN, so they end with one customer.
CREATE TABLE onboarding_company_bans (
    portal_id          bigint NOT NULL,
    hubspot_company_id text NOT NULL,
    ban                text NOT NULL UNIQUE CHECK (ban ~ '^[A-Z]{2}-[0-9]{9}$'),
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, hubspot_company_id)
);
