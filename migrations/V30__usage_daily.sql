-- A customer's usage per day (issue 22 item 3, seed 002's usage sync), sent by the platform
-- through POST /v1/usage: one row per customer and day, replaced by a correction (revision
-- counts the corrections). The month-to-date figures on the company are summed from here.
CREATE TABLE usage_daily (
    customer_id     uuid NOT NULL REFERENCES customers (id),
    day             date NOT NULL CHECK (day >= DATE '2000-01-01'),
    calls_completed bigint NOT NULL CHECK (calls_completed BETWEEN 0 AND 1000000000000),
    minutes         bigint NOT NULL CHECK (minutes BETWEEN 0 AND 1000000000000),
    sms_sent        bigint NOT NULL CHECK (sms_sent BETWEEN 0 AND 1000000000000),
    spend           numeric(14, 2) NOT NULL CHECK (spend >= 0),
    asr             double precision CHECK (asr BETWEEN 0 AND 1),
    acd             double precision CHECK (acd BETWEEN 0 AND 1440),
    revision        integer NOT NULL DEFAULT 0,
    received_at     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, day)
);
-- The daily push finds the customers whose usage changed since it last ran.
CREATE INDEX usage_daily_by_update ON usage_daily (updated_at);
