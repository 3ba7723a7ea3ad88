-- Trunks and numbers in the home portal (issue 22 item 2): each row is pushed when its
-- version is not the one last pushed; its HubSpot record id is kept (custom objects), and a
-- number's trunk as last pushed (to move its association when the trunk changes). How the
-- portal shows them (custom objects or company properties) is detected and kept per portal.
ALTER TABLE trunks
    ADD COLUMN pushed_version    bigint,
    ADD COLUMN hubspot_object_id text;
ALTER TABLE phone_numbers
    ADD COLUMN pushed_version    bigint,
    ADD COLUMN hubspot_object_id text,
    ADD COLUMN pushed_trunk_id   uuid;
CREATE INDEX trunks_to_push ON trunks (id) WHERE pushed_version IS DISTINCT FROM version;
CREATE INDEX phone_numbers_to_push ON phone_numbers (id)
    WHERE pushed_version IS DISTINCT FROM version;

CREATE TABLE hubspot_service_objects (
    portal_id      bigint PRIMARY KEY,
    mode           text NOT NULL CHECK (mode IN ('custom_objects', 'company_properties')),
    trunk_type_id  text,
    number_type_id text,
    -- Why this mode (the limit read, or HubSpot's refusal).
    detail         text NOT NULL,
    detected_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((mode = 'custom_objects') = (trunk_type_id IS NOT NULL AND number_type_id IS NOT NULL))
);

-- What the service push did that operations may ask about: a push that failed, and a record
-- changed in HubSpot that WARP put back (overridden), with the properties' names (never
-- their values).
CREATE TABLE service_push_log (
    id          bigserial PRIMARY KEY,
    portal_id   bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('trunk', 'number', 'company')),
    local_id    uuid NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('overridden', 'failed')),
    properties  text[] NOT NULL DEFAULT '{}',
    hubspot_id  text,
    error       text,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX service_push_log_local ON service_push_log (local_id, id);
