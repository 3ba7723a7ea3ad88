-- A row's id is taken when it is inserted, not when it commits: a long transaction can commit an
-- id below a mark already passed. Each take now counts up to what the previous take saw
-- (`seen_value`) and remembers what it sees now, so a row committing within one take's
-- interval (a minute) is still counted, once.
ALTER TABLE sync_metric_marks ADD COLUMN seen_value bigint;
