-- The daily usage note (issue 22 item 3, when USAGE_DAILY_NOTE=true): the usage push records,
-- once per customer and day, an account event with the day's figures, written to the company
-- timeline like the others.
ALTER TABLE account_events DROP CONSTRAINT account_events_kind_check;
ALTER TABLE account_events ADD CONSTRAINT account_events_kind_check
    CHECK (kind IN ('suspended', 'reactivated', 'closed', 'credit_limit_changed',
                    'services_changed', 'spend_threshold', 'trunk_created', 'trunk_released',
                    'number_added', 'number_released', 'daily_usage'));
