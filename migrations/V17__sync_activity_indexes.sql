-- The console's hourly activity (GET /v1/sync/activity) reads the last day of the sync log and
-- of webhook events by time. Both tables are appended in time order, so a BRIN index (a few
-- pages, next to nothing per insert) finds the day's block range without a B-tree's write cost.
CREATE INDEX hubspot_sync_log_started_brin ON hubspot_sync_log USING brin (started_at);
CREATE INDEX hubspot_webhook_events_received_brin ON hubspot_webhook_events USING brin (received_at);
