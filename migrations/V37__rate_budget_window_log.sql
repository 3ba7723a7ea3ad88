-- The rate budget keeps the times of its grants inside HubSpot's window (plus a margin), so no
-- window ever holds more than the limit and the bucket can refill at the window's own rate
-- (issue 23 item 8: 97.8% of the ceiling instead of 96%).
ALTER TABLE hubspot_rate_limit_budget
    ADD COLUMN grants timestamptz[] NOT NULL DEFAULT '{}';
