-- HubSpot installations (DESIGN §7 "Portals"): every HubSpot account WARP talks to, with where
-- its token comes from and whether it may be called. The home portal is WARP's own CRM; a
-- customer portal is a WARP customer's HubSpot, connected through OAuth.
--
-- A static installation keeps no token here: it names a secret (an environment variable or a
-- Secrets Manager ARN, as before installations existed). An OAuth installation keeps its tokens
-- encrypted (AES-256-GCM, nonce first), with the id of the key that sealed them so the key can
-- rotate; the plaintext never reaches the database.

CREATE TABLE hubspot_installations (
    portal_id bigint PRIMARY KEY CHECK (portal_id > 0),
    role text NOT NULL CHECK (role IN ('home', 'customer')),
    customer_id uuid UNIQUE REFERENCES customers (id),
    token_source text NOT NULL CHECK (token_source IN ('static', 'oauth')),
    status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'needs_reconnect', 'revoked')),
    scopes text[] NOT NULL DEFAULT '{}',
    hub_domain text,
    connected_at timestamptz NOT NULL DEFAULT now(),
    connected_by text,
    access_token_sealed bytea,
    refresh_token_sealed bytea,
    token_key_id text,
    access_token_expires_at timestamptz,
    last_refreshed_at timestamptz,
    refresh_count bigint NOT NULL DEFAULT 0,
    last_error text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- A customer portal belongs to exactly one customer; the home portal to none.
    CHECK ((role = 'customer') = (customer_id IS NOT NULL)),
    -- Only OAuth needs a refresh token (until disconnected: then it is wiped), and sealed
    -- tokens always name their key.
    CHECK (token_source = 'static' OR status = 'revoked' OR refresh_token_sealed IS NOT NULL),
    CHECK (token_source = 'oauth' OR (access_token_sealed IS NULL AND refresh_token_sealed IS NULL)),
    CHECK ((access_token_sealed IS NULL AND refresh_token_sealed IS NULL) = (token_key_id IS NULL))
);

-- One home portal per deployment.
CREATE UNIQUE INDEX hubspot_installations_one_home ON hubspot_installations ((true))
    WHERE role = 'home';

-- An OAuth connect in progress: the `state` WARP sent to HubSpot's consent page. Single use
-- (used_at), short-lived (expires_at), bound to who started it and for which portal role; the
-- PKCE verifier waits here, sealed like the tokens, for the callback.
CREATE TABLE hubspot_oauth_states (
    id uuid PRIMARY KEY,
    requested_by text NOT NULL,
    role text NOT NULL CHECK (role IN ('home', 'customer')),
    customer_id uuid REFERENCES customers (id),
    pkce_verifier_sealed bytea NOT NULL,
    token_key_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    CHECK ((role = 'customer') = (customer_id IS NOT NULL))
);

CREATE INDEX hubspot_oauth_states_expiry ON hubspot_oauth_states (expires_at);
