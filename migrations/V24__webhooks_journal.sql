-- The Webhooks Journal backstop (issue 23 item 5): HubSpot keeps every event of an app's
-- journal subscriptions for 3 days, in order, readable from an offset. An installation with the
-- backstop on has a cursor here: the last journal entry whose events are stored in
-- hubspot_webhook_events (the same table, the same dedupe key, so an event both pushed and read
-- from the journal is stored once). A poller reads on from the offset; a push delivery HubSpot
-- gave up on is recovered from the journal within a minute.
CREATE TABLE hubspot_journal_cursors (
    portal_id        bigint PRIMARY KEY REFERENCES hubspot_installations (portal_id),
    enabled          boolean NOT NULL DEFAULT true,
    enabled_by       text,
    -- When it was last turned on: the offset's age counts from here until a poll catches up.
    enabled_at       timestamptz NOT NULL DEFAULT now(),
    -- WARP's journal subscriptions for this portal exist in HubSpot (made by the first poll).
    subscribed_at    timestamptz,
    -- The last entry read; NULL: start from the journal's earliest entry.
    journal_offset   uuid,
    -- When a poll last reached the journal's end: the offset's age is now() minus this, the
    -- figure the alarm watches (HubSpot forgets an entry after 3 days).
    caught_up_at     timestamptz,
    polled_at        timestamptz,
    entries_read     bigint NOT NULL DEFAULT 0,
    events_read      bigint NOT NULL DEFAULT 0,
    -- Events the journal had that push had not delivered (stored by the poller, not duplicates).
    events_recovered bigint NOT NULL DEFAULT 0,
    -- Times the stored offset had expired (older than HubSpot keeps): the poller started again
    -- from the earliest entry and queued a full reconciliation for what it may have missed.
    restarts         bigint NOT NULL DEFAULT 0,
    last_error       text,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- How an event reached WARP: a push delivery, or the journal poller.
ALTER TABLE hubspot_webhook_events
    ADD COLUMN received_via text NOT NULL DEFAULT 'push' CHECK (received_via IN ('push', 'journal'));
-- A journal event carries no push eventId: the poller recognises a change push delivered
-- already by its object, time, type and property.
CREATE INDEX hubspot_webhook_events_change
    ON hubspot_webhook_events (portal_id, object_id, occurred_at_ms);
