-- WARP users: a customer's logins (DESIGN §7), each to become a HubSpot contact. The email is
-- stored lower-cased and is unique per customer; the same person may be a user of two
-- customers. Login and API activity (last_login_at, api_key_count, last_api_call_at) are facts
-- WARP's login and gateway record; API keys and secrets themselves are never stored here.
CREATE TABLE users (
    id                 uuid PRIMARY KEY,
    customer_id        uuid NOT NULL REFERENCES customers (id),
    email              text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    first_name         text,
    last_name          text,
    phone              text,
    job_title          text,
    role               text NOT NULL CHECK (role IN ('admin', 'developer', 'billing', 'readonly')),
    status             text NOT NULL CHECK (status IN ('active', 'invited', 'disabled')),
    two_factor_enabled boolean NOT NULL DEFAULT false,
    last_login_at      timestamptz,
    api_key_count      integer NOT NULL DEFAULT 0 CHECK (api_key_count >= 0),
    last_api_call_at   timestamptz,
    version            bigint NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_per_customer UNIQUE (customer_id, email)
);
CREATE INDEX users_by_customer ON users (customer_id, id);
CREATE INDEX users_by_email ON users (email, id);
