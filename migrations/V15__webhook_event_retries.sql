-- Replay of failed inbound events (issue 23): an event whose processing failed is tried again
-- with backoff (1 min, then 5 min) up to 3 attempts (seed 002: an alarm after 3 failed
-- attempts); after the third it stays FAILED with next_attempt_at NULL until a person retries it
-- (POST /v1/sync/webhook-events/retry). `attempts` counts failed processing attempts.
ALTER TABLE hubspot_webhook_events
    ADD COLUMN attempts        integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz;
-- Events that failed before this migration count one attempt and wait for a person.
-- Those stored FAILED on receipt (a NUL character: not the event HubSpot sent) keep 0: never
-- processed, never retried.
UPDATE hubspot_webhook_events SET attempts = 1
    WHERE status = 'FAILED' AND coalesce(error, '') NOT LIKE '%contains a NUL character (U+0000)%';
-- Retries due, claimed before new events.
CREATE INDEX hubspot_webhook_events_retry_due ON hubspot_webhook_events (next_attempt_at, id)
    WHERE status = 'FAILED' AND next_attempt_at IS NOT NULL;
-- The failed list and the alarm's count.
CREATE INDEX hubspot_webhook_events_failed ON hubspot_webhook_events (id)
    WHERE status = 'FAILED';
