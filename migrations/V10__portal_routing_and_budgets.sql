-- Several portals (DESIGN §7 "Portals"). Webhooks of every portal arrive at one URL; an event of
-- a portal that is not installed (unknown, or disconnected) is kept but never applied: UNROUTED.
ALTER TABLE hubspot_webhook_events DROP CONSTRAINT hubspot_webhook_events_status_check;
ALTER TABLE hubspot_webhook_events ADD CONSTRAINT hubspot_webhook_events_status_check
    CHECK (status IN ('RECEIVED', 'PROCESSED', 'SKIPPED', 'FAILED', 'UNROUTED'));
-- The status page counts them by portal without reading every event.
CREATE INDEX hubspot_webhook_events_unrouted ON hubspot_webhook_events (portal_id)
    WHERE status = 'UNROUTED';

-- A portal's request budget per 10 s when it is not the deployment's default (HubSpot grants
-- 110 per portal to an OAuth app, more with the API add-on). NULL: the default.
ALTER TABLE hubspot_installations ADD COLUMN rate_limit_max integer
    CHECK (rate_limit_max IN (100, 110, 190, 250));
