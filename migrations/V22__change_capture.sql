-- Change capture for writes that bypass WARP's code (#23 item 3): billing setting a balance in
-- SQL, a support script fixing a name. WARP's own writes queue their outbox row in the write's
-- transaction (guarantee 1); a writer that knows nothing of the outbox leaves only the row.
--
-- A statement-level trigger per synced table records which rows such a statement touched, in
-- one INSERT ... SELECT over the statement's transition tables (no per-row trigger calls). The
-- capture step (warp_store::change_capture) turns these into outbox rows, deleting them in the
-- same transaction, so each change is queued exactly once.
--
-- WARP's own sessions say who they are at connection start: `warp.writer = 'warp'`, a startup
-- parameter warp_store::Database sends (behind a proxy that does not pass startup parameters
-- on, the role default `ALTER ROLE <WARP's role> SET warp.writer = 'warp'` does the same; no
-- SET statement either way, so RDS Proxy has no reason to pin the session). The trigger
-- returns at once for them, so the API's writes are never queued twice and the webhook's
-- applies of HubSpot's changes are not pushed back as WARP changes.
CREATE TABLE captured_changes (
    id          bigserial PRIMARY KEY,
    object_type text NOT NULL CHECK (object_type IN ('companies', 'contacts')),
    local_id    uuid NOT NULL,
    operation   text NOT NULL CHECK (operation IN ('CREATE', 'UPDATE', 'DELETE')),
    captured_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION capture_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('warp.writer', true) = 'warp' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO captured_changes (object_type, local_id, operation)
        SELECT TG_ARGV[0], n.id, 'CREATE' FROM new_rows n;
    ELSE
        -- Rows the statement left as they were are no change; a customer whose deletion time
        -- was set is a soft delete (the API's DELETE does the same).
        INSERT INTO captured_changes (object_type, local_id, operation)
        SELECT TG_ARGV[0], n.id,
               CASE WHEN to_jsonb(n) ->> 'deleted_at' IS NOT NULL
                         AND to_jsonb(o) ->> 'deleted_at' IS NULL THEN 'DELETE' ELSE 'UPDATE' END
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.* IS DISTINCT FROM o.*;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER customers_capture_inserts AFTER INSERT ON customers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_changes('companies');
CREATE TRIGGER customers_capture_updates AFTER UPDATE ON customers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_changes('companies');
CREATE TRIGGER users_capture_inserts AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_changes('contacts');
CREATE TRIGGER users_capture_updates AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_changes('contacts');
