-- One sync engine for every object (DESIGN §7): the outbox, the sync log, the field state and
-- the conflicts are keyed by (portal_id, object_type, local_id) instead of a customer id, so a
-- WARP user (a HubSpot contact) has rows of its own beside a customer's (a HubSpot company).
-- Every existing row is a company row and keeps every value; only names change.
--
-- local_id names a row of the object type's WARP table (companies: customers, contacts: users).
-- One foreign key cannot point at two tables: the writers (the store) keep it true, and
-- customers and users are never deleted, only closed or disabled.

ALTER TABLE hubspot_sync_queue ADD COLUMN object_type text NOT NULL DEFAULT 'companies'
    CHECK (object_type IN ('companies', 'contacts'));
ALTER TABLE hubspot_sync_queue ALTER COLUMN object_type DROP DEFAULT;
ALTER TABLE hubspot_sync_queue DROP CONSTRAINT hubspot_sync_queue_customer_id_fkey;
ALTER TABLE hubspot_sync_queue RENAME COLUMN customer_id TO local_id;
ALTER TABLE hubspot_sync_queue RENAME COLUMN customer_version TO local_version;
ALTER INDEX hubspot_sync_queue_customer RENAME TO hubspot_sync_queue_local;
ALTER INDEX hubspot_sync_queue_outbound_state RENAME TO hubspot_sync_queue_local_outbound_state;

ALTER TABLE hubspot_sync_log ADD COLUMN object_type text NOT NULL DEFAULT 'companies'
    CHECK (object_type IN ('companies', 'contacts'));
ALTER TABLE hubspot_sync_log ALTER COLUMN object_type DROP DEFAULT;
ALTER TABLE hubspot_sync_log DROP CONSTRAINT hubspot_sync_log_customer_id_fkey;
ALTER TABLE hubspot_sync_log RENAME COLUMN customer_id TO local_id;
ALTER TABLE hubspot_sync_log RENAME COLUMN hubspot_company_id TO hubspot_id;
ALTER INDEX hubspot_sync_log_customer RENAME TO hubspot_sync_log_local;

ALTER TABLE hubspot_field_state ADD COLUMN object_type text NOT NULL DEFAULT 'companies'
    CHECK (object_type IN ('companies', 'contacts'));
ALTER TABLE hubspot_field_state ALTER COLUMN object_type DROP DEFAULT;
ALTER TABLE hubspot_field_state DROP CONSTRAINT hubspot_field_state_customer_id_fkey;
ALTER TABLE hubspot_field_state RENAME COLUMN customer_id TO local_id;
ALTER TABLE hubspot_field_state DROP CONSTRAINT hubspot_field_state_pkey;
ALTER TABLE hubspot_field_state ADD PRIMARY KEY (portal_id, object_type, local_id, field);

ALTER TABLE sync_conflicts ADD COLUMN object_type text NOT NULL DEFAULT 'companies'
    CHECK (object_type IN ('companies', 'contacts'));
ALTER TABLE sync_conflicts ALTER COLUMN object_type DROP DEFAULT;
ALTER TABLE sync_conflicts DROP CONSTRAINT sync_conflicts_customer_id_fkey;
ALTER TABLE sync_conflicts RENAME COLUMN customer_id TO local_id;
CREATE INDEX sync_conflicts_local ON sync_conflicts (object_type, local_id);

-- A webhook event's object type follows from its subscription type (company.propertyChange,
-- contact.merge, ...): derived, so no writer can get it wrong, and every event type HubSpot
-- may send is kept, synced or not.
ALTER TABLE hubspot_webhook_events ADD COLUMN object_type text GENERATED ALWAYS AS (
    CASE split_part(subscription_type, '.', 1)
        WHEN 'company' THEN 'companies'
        WHEN 'contact' THEN 'contacts'
        WHEN 'deal' THEN 'deals'
        WHEN 'ticket' THEN 'tickets'
        ELSE split_part(subscription_type, '.', 1)
    END) STORED;

-- The HubSpot record a WARP record is linked to, per portal and object type. A customer's
-- company link stays in customers.external_ids (it is part of the customer API's body and
-- its own write rules); every other object type links here.
CREATE TABLE hubspot_links (
    portal_id   bigint NOT NULL,
    object_type text NOT NULL CHECK (object_type IN ('companies', 'contacts')),
    local_id    uuid NOT NULL,
    hubspot_id  text NOT NULL CHECK (hubspot_id ~ '^[0-9]{1,20}$'),
    -- The record this one was last associated with as its primary parent (a contact's
    -- company): a push associates again only when the WARP parent differs.
    parent_hubspot_id text CHECK (parent_hubspot_id ~ '^[0-9]{1,20}$'),
    linked_at   timestamptz NOT NULL DEFAULT now(),
    -- Set when HubSpot deleted the record: the link no longer counts, but which WARP record it
    -- was stays known (a privacy deletion or a restore arriving after the deletion finds it).
    unlinked_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, object_type, local_id),
    UNIQUE (portal_id, object_type, hubspot_id)
);

-- Merge lineage: a HubSpot id merged into another keeps pointing at the record that survived,
-- so an event, a search hit or an operator naming the old id still finds the WARP record.
CREATE TABLE hubspot_link_merges (
    portal_id         bigint NOT NULL,
    object_type       text NOT NULL CHECK (object_type IN ('companies', 'contacts')),
    merged_hubspot_id text NOT NULL,
    into_hubspot_id   text NOT NULL,
    merged_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, object_type, merged_hubspot_id)
);

-- A person who asked HubSpot to delete their data (a contact's privacyDeletion): WARP keeps
-- its user but never sends the person's data to that portal again.
CREATE TABLE hubspot_privacy_deletions (
    portal_id   bigint NOT NULL,
    object_type text NOT NULL CHECK (object_type IN ('companies', 'contacts')),
    local_id    uuid NOT NULL,
    hubspot_id  text NOT NULL,
    deleted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, object_type, local_id)
);

-- The customer's sync state (V4) reads only company rows, by their new names.
CREATE OR REPLACE FUNCTION customer_sync_state(customer uuid,
    OUT failed_error text, OUT any_failed boolean, OUT any_waiting boolean, OUT any_done boolean,
    OUT company_id text, OUT completed_at timestamptz)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    SELECT bool_or(q.status = 'FAILED'), bool_or(q.status <> 'FAILED'),
           (array_agg(q.last_error ORDER BY q.id DESC) FILTER (WHERE q.status = 'FAILED'))[1]
      INTO any_failed, any_waiting, failed_error
      FROM hubspot_sync_queue q
     WHERE q.local_id = customer AND q.object_type = 'companies' AND q.direction = 'OUTBOUND'
       AND q.status IN ('PENDING', 'IN_FLIGHT', 'FAILED');
    any_failed := coalesce(any_failed, false);
    any_waiting := coalesce(any_waiting, false);
    any_done := EXISTS (SELECT 1 FROM hubspot_sync_queue q
                         WHERE q.local_id = customer AND q.object_type = 'companies'
                           AND q.direction = 'OUTBOUND' AND q.status = 'DONE');
    SELECT l.hubspot_id, l.completed_at INTO company_id, completed_at
      FROM hubspot_sync_log l
     WHERE l.local_id = customer AND l.object_type = 'companies' AND l.direction = 'OUTBOUND'
       AND l.status IN ('SUCCESS', 'SKIPPED')
     ORDER BY l.id DESC LIMIT 1;
END $$;

CREATE OR REPLACE FUNCTION sync_queue_rows_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(DISTINCT local_id) FROM new_rows
          WHERE direction = 'OUTBOUND' AND object_type = 'companies'));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sync_queue_rows_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(DISTINCT touched.local_id)
           FROM new_rows n JOIN old_rows o ON o.id = n.id
          CROSS JOIN LATERAL (VALUES (n.local_id, n.object_type), (o.local_id, o.object_type))
                AS touched (local_id, object_type)
          WHERE touched.object_type = 'companies'
            AND (n.direction = 'OUTBOUND' OR o.direction = 'OUTBOUND')
            AND (n.local_id IS DISTINCT FROM o.local_id
                 OR n.object_type IS DISTINCT FROM o.object_type
                 OR n.direction IS DISTINCT FROM o.direction
                 OR (n.status <> o.status AND (n.status IN ('FAILED', 'DONE') OR o.status IN ('FAILED', 'DONE')))
                 OR (n.status = 'FAILED' AND n.last_error IS DISTINCT FROM o.last_error))));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sync_queue_rows_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(DISTINCT local_id) FROM old_rows
          WHERE direction = 'OUTBOUND' AND object_type = 'companies'));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sync_log_rows_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(DISTINCT local_id) FROM new_rows
          WHERE direction = 'OUTBOUND' AND object_type = 'companies' AND status IN ('SUCCESS', 'SKIPPED')));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sync_log_rows_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(DISTINCT local_id) FROM old_rows
          WHERE direction = 'OUTBOUND' AND object_type = 'companies'));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sync_log_rows_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(DISTINCT local_id) FROM (
            SELECT local_id FROM old_rows WHERE direction = 'OUTBOUND' AND object_type = 'companies'
            UNION SELECT local_id FROM new_rows WHERE direction = 'OUTBOUND' AND object_type = 'companies') AS touched));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sync_summaries_rebuilt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM customer_sync_summaries;
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(local_id) FROM (
            SELECT local_id FROM hubspot_sync_queue WHERE direction = 'OUTBOUND' AND object_type = 'companies'
            UNION SELECT local_id FROM hubspot_sync_log
                   WHERE direction = 'OUTBOUND' AND object_type = 'companies' AND local_id IS NOT NULL) AS touched));
    RETURN NULL;
END $$;
