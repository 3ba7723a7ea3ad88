-- Where the relay job's CloudWatch figures last stopped reading (issue 23, metrics): the last
-- sync log, webhook event and 429 row counted, and the token refreshes seen. Each job counts
-- what came after and moves the mark in the same transaction, so a figure is emitted once
-- even when two jobs overlap.
CREATE TABLE sync_metric_marks (
    name       text PRIMARY KEY CHECK (name IN ('sync_log', 'webhook_events', 'rate_limit_events', 'token_refreshes')),
    last_value bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
