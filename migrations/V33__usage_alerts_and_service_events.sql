-- Threshold alerts and service events on the company timeline (issue 22, seed 002's "usage
-- events" and "service events"): a customer whose spend this month reaches the configured
-- share of its credit limit gets one `spend_threshold` event a month (usage_alerts keeps which
-- month); a trunk created or released and a number added or released are events too, recorded
-- by triggers whoever writes the row. All are written to HubSpot by the account event logger.
ALTER TABLE account_events DROP CONSTRAINT account_events_kind_check;
ALTER TABLE account_events ADD CONSTRAINT account_events_kind_check
    CHECK (kind IN ('suspended', 'reactivated', 'closed', 'credit_limit_changed',
                    'services_changed', 'spend_threshold', 'trunk_created', 'trunk_released',
                    'number_added', 'number_released'));

CREATE TABLE usage_alerts (
    customer_id  uuid NOT NULL REFERENCES customers (id),
    month        date NOT NULL,
    percent      integer NOT NULL,
    spend        numeric(14, 2) NOT NULL,
    credit_limit numeric(14, 2) NOT NULL,
    raised_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, month)
);

CREATE FUNCTION record_service_events() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    id uuid := gen_random_uuid();
    kind text;
    details jsonb;
BEGIN
    IF TG_TABLE_NAME = 'trunks' THEN
        details := jsonb_build_object('trunk_id', NEW.id, 'name', NEW.name);
        kind := CASE WHEN TG_OP = 'INSERT' THEN 'trunk_created'
                     WHEN NEW.status = 'released' AND OLD.status <> 'released' THEN 'trunk_released'
                END;
    ELSE
        details := jsonb_build_object('number_id', NEW.id, 'number', NEW.number);
        kind := CASE WHEN TG_OP = 'INSERT' THEN 'number_added'
                     WHEN NEW.status = 'released' AND OLD.status <> 'released' THEN 'number_released'
                END;
    END IF;
    IF kind IS NOT NULL THEN
        INSERT INTO account_events (id, event_id, customer_id, kind, details)
        VALUES (id, 'account-event:' || id, NEW.customer_id, kind, details);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER trunks_service_events AFTER INSERT OR UPDATE OF status ON trunks
    FOR EACH ROW EXECUTE FUNCTION record_service_events();
CREATE TRIGGER phone_numbers_service_events AFTER INSERT OR UPDATE OF status ON phone_numbers
    FOR EACH ROW EXECUTE FUNCTION record_service_events();
