-- The field mapping becomes data per portal and object type (DESIGN §7): one engine syncs
-- companies and contacts, each with its own rows. Existing rows (the seeded defaults and any
-- per-portal change) are company rows and keep every value.
ALTER TABLE hubspot_sync_config ADD COLUMN object_type text NOT NULL DEFAULT 'companies'
    CHECK (object_type IN ('companies', 'contacts'));
ALTER TABLE hubspot_sync_config ALTER COLUMN object_type DROP DEFAULT;
-- "Never overwrite with an empty value": an empty value on one side never replaces a value
-- on the other (warp_domain::sync::FieldMapping::never_overwrite_with_empty).
ALTER TABLE hubspot_sync_config ADD COLUMN never_overwrite_with_empty boolean NOT NULL DEFAULT false;
-- Who made the last change through the admin API (the token's subject); NULL for seed rows.
ALTER TABLE hubspot_sync_config ADD COLUMN updated_by text;
ALTER TABLE hubspot_sync_config DROP CONSTRAINT hubspot_sync_config_pkey;
ALTER TABLE hubspot_sync_config ADD PRIMARY KEY (portal_id, object_type, warp_field);

-- Contacts ↔ WARP users, the defaults for every portal (README, "Field mapping"). The login
-- email is WARP's: a change made in HubSpot is pushed back, never applied. Names, phone and job
-- title are edited by both sides, and a value cleared on one side does not wipe the other's.
-- The rest are facts only WARP knows (its id, role, 2FA, API use); keys and secrets never go.
INSERT INTO hubspot_sync_config
    (portal_id, object_type, warp_field, hubspot_property, direction, conflict_rule, never_overwrite_with_empty) VALUES
    (0, 'contacts', 'user_id',            'warp_user_id',       'WARP_TO_HUBSPOT', 'WARP_WINS',   false),
    (0, 'contacts', 'email',              'email',              'WARP_TO_HUBSPOT', 'WARP_WINS',   true),
    (0, 'contacts', 'first_name',         'firstname',          'BOTH',            'LATEST_WINS', true),
    (0, 'contacts', 'last_name',          'lastname',           'BOTH',            'LATEST_WINS', true),
    (0, 'contacts', 'phone',              'phone',              'BOTH',            'LATEST_WINS', true),
    (0, 'contacts', 'job_title',          'jobtitle',           'BOTH',            'LATEST_WINS', true),
    (0, 'contacts', 'role',               'warp_role',          'WARP_TO_HUBSPOT', 'WARP_WINS',   false),
    (0, 'contacts', 'two_factor_enabled', 'warp_2fa_enabled',   'WARP_TO_HUBSPOT', 'WARP_WINS',   false),
    (0, 'contacts', 'api_key_count',      'warp_api_key_count', 'WARP_TO_HUBSPOT', 'WARP_WINS',   false),
    (0, 'contacts', 'last_api_call_at',   'warp_last_api_call', 'WARP_TO_HUBSPOT', 'WARP_WINS',   false),
    (0, 'contacts', 'last_login_at',      'warp_last_login',    'WARP_TO_HUBSPOT', 'WARP_WINS',   false);
