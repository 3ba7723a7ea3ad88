-- A customer's SIP trunks and phone numbers (issue 22, seed 002's custom objects), written
-- through /v1/customers/{id}/trunks and /numbers. Released rows are kept (status 'released',
-- released_at set) for history and for HubSpot; a released number may be added again.
CREATE TABLE trunks (
    id               uuid PRIMARY KEY,
    customer_id      uuid NOT NULL REFERENCES customers (id),
    name             text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    status           text NOT NULL CHECK (status IN ('active', 'suspended', 'released')),
    -- Canonical addresses and CIDR networks, in the client's order.
    ip_addresses     text[] NOT NULL DEFAULT '{}' CHECK (cardinality(ip_addresses) <= 50),
    concurrent_calls integer CHECK (concurrent_calls BETWEEN 1 AND 100000),
    monthly_minutes  bigint CHECK (monthly_minutes BETWEEN 0 AND 1000000000000),
    partition_id     text CHECK (partition_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    released_at      timestamptz,
    CHECK ((status = 'released') = (released_at IS NOT NULL))
);
CREATE INDEX trunks_by_customer ON trunks (customer_id, id);

CREATE TABLE phone_numbers (
    id            uuid PRIMARY KEY,
    customer_id   uuid NOT NULL REFERENCES customers (id),
    number        text NOT NULL CHECK (number ~ '^\+[1-9][0-9]{7,14}$'),
    number_type   text NOT NULL CHECK (number_type IN ('local', 'tollfree', 'mobile')),
    capabilities  text[] NOT NULL CHECK (cardinality(capabilities) BETWEEN 1 AND 4
                      AND capabilities <@ ARRAY['voice', 'sms', 'mms', 'fax']),
    monthly_cost  numeric(14, 2) NOT NULL CHECK (monthly_cost >= 0),
    trunk_id      uuid REFERENCES trunks (id),
    e911_address  text CHECK (char_length(e911_address) BETWEEN 1 AND 200),
    cnam          text CHECK (cnam ~ '^[A-Za-z0-9 .,&''-]{1,15}$'),
    status        text NOT NULL CHECK (status IN ('active', 'released')),
    version       bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    released_at   timestamptz,
    CHECK ((status = 'released') = (released_at IS NOT NULL))
);
-- A number is in one customer's service at a time.
CREATE UNIQUE INDEX phone_numbers_in_service ON phone_numbers (number) WHERE status = 'active';
CREATE INDEX phone_numbers_by_customer ON phone_numbers (customer_id, id);
CREATE INDEX phone_numbers_by_trunk ON phone_numbers (trunk_id) WHERE status = 'active';

ALTER TABLE audit_log DROP CONSTRAINT audit_log_entity_type_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_entity_type_check
    CHECK (entity_type IN ('customer', 'user', 'trunk', 'number'));
