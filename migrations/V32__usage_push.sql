-- The daily usage push (issue 22 items 3 and 4): each linked customer's company figures
-- (month-to-date minutes and spend, MRR, payment status, last usage date) as last written to
-- HubSpot, so a run writes only what changed; and each run, with its counts and duration.
CREATE TABLE usage_pushed (
    customer_id uuid PRIMARY KEY REFERENCES customers (id),
    figures     jsonb NOT NULL,
    pushed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE usage_push_runs (
    id                bigserial PRIMARY KEY,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    month             date NOT NULL,
    customers_checked bigint NOT NULL DEFAULT 0,
    companies_written bigint NOT NULL DEFAULT 0,
    failed            bigint NOT NULL DEFAULT 0,
    requests          bigint NOT NULL DEFAULT 0,
    error             text
);
CREATE INDEX usage_push_runs_recent ON usage_push_runs (id DESC);
