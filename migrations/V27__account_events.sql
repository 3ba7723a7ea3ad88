-- Account and service events on the company timeline (issue 21 item 4): every change of a
-- customer's status, credit limit or services, whoever made it (the API, HubSpot's side
-- applied, the billing system's own SQL), is recorded here by a trigger in the writer's own
-- transaction, then written once as a note on the customer's company (keyed in HubSpot by
-- `warp_event_id`). Each row is its own work item, as a call is.
CREATE TABLE account_events (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    event_id        text NOT NULL UNIQUE,
    customer_id     uuid NOT NULL REFERENCES customers (id),
    kind            text NOT NULL CHECK (kind IN ('suspended', 'reactivated', 'closed',
                                                  'credit_limit_changed', 'services_changed')),
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'success', 'skipped', 'error')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    portal_id       bigint,
    note_id         text,
    reason          text,
    logged_at       timestamptz
);
CREATE INDEX account_events_due ON account_events (next_attempt_at) WHERE status = 'pending';
CREATE INDEX account_events_by_customer ON account_events (customer_id, seq);

-- Like change capture (V23), it runs for writers WARP does not know: as its owner, with its own
-- search_path, inserting only rows describing the statement's own change.
CREATE FUNCTION record_account_events() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    id uuid;
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        id := gen_random_uuid();
        INSERT INTO account_events (id, event_id, customer_id, kind, details)
        VALUES (id, 'account-event:' || id, NEW.id,
                CASE NEW.status WHEN 'SUSPENDED' THEN 'suspended'
                                WHEN 'CLOSED' THEN 'closed'
                                ELSE 'reactivated' END,
                jsonb_build_object('from', OLD.status, 'to', NEW.status));
    END IF;
    IF NEW.credit_limit IS DISTINCT FROM OLD.credit_limit THEN
        id := gen_random_uuid();
        INSERT INTO account_events (id, event_id, customer_id, kind, details)
        VALUES (id, 'account-event:' || id, NEW.id, 'credit_limit_changed',
                jsonb_build_object('from', OLD.credit_limit::text, 'to', NEW.credit_limit::text));
    END IF;
    IF NEW.services IS DISTINCT FROM OLD.services THEN
        id := gen_random_uuid();
        INSERT INTO account_events (id, event_id, customer_id, kind, details)
        VALUES (id, 'account-event:' || id, NEW.id, 'services_changed',
                jsonb_build_object('from', OLD.services, 'to', NEW.services));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER customers_account_events
    AFTER UPDATE OF status, credit_limit, services ON customers
    FOR EACH ROW EXECUTE FUNCTION record_account_events();
