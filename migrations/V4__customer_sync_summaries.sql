-- Each customer's sync state, kept beside the customer so that GET /v1/customers/{id} reads it
-- with one more primary-key probe instead of running customer_sync_state() (three index
-- probes through PL/pgSQL) on every read. Reads outnumber sync writes by far; measured on
-- 2 cores with 16 clients, see the README's benchmark section.
--
-- Triggers keep it, so no writer can forget it: every statement that changes what
-- customer_sync_state() answers for some customers recomputes their rows from the source
-- tables. No row means no sync activity at all (the state "never").
CREATE TABLE customer_sync_summaries (
    customer_id  uuid PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    failed_error text,
    any_failed   boolean NOT NULL DEFAULT false,
    any_waiting  boolean NOT NULL DEFAULT false,
    any_done     boolean NOT NULL DEFAULT false,
    company_id   text,
    completed_at timestamptz
);

-- Lock first, then recompute: each statement of a PL/pgSQL function takes a new snapshot
-- (READ COMMITTED), so a recompute that waited for another transaction's lock sees what that
-- transaction committed and never writes back a state computed without it. Rows are created
-- and locked in customer order so that two statements over the same customers cannot
-- deadlock on each other.
CREATE FUNCTION refresh_customer_sync_summaries(customers uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF customers IS NULL OR cardinality(customers) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO customer_sync_summaries (customer_id)
    SELECT DISTINCT c FROM unnest(customers) AS c
     WHERE c IS NOT NULL
     ORDER BY c
    ON CONFLICT (customer_id) DO NOTHING;
    PERFORM 1 FROM customer_sync_summaries
      WHERE customer_id = ANY (customers) ORDER BY customer_id FOR UPDATE;
    UPDATE customer_sync_summaries s
       SET (failed_error, any_failed, any_waiting, any_done, company_id, completed_at) =
           (SELECT st.failed_error, st.any_failed, st.any_waiting, st.any_done, st.company_id, st.completed_at
              FROM customer_sync_state(s.customer_id) AS st)
     WHERE s.customer_id = ANY (customers);
END $$;

-- Outbound rows: every insert and delete counts; an update only when it moves a row between
-- the states the summary tells apart (waiting, failed, done) or changes a failure's error, so
-- a claim (PENDING to IN_FLIGHT) or a publish mark costs nothing here.
CREATE FUNCTION sync_queue_rows_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(DISTINCT customer_id) FROM new_rows WHERE direction = 'OUTBOUND'));
    RETURN NULL;
END $$;

CREATE FUNCTION sync_queue_rows_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(DISTINCT touched.customer_id)
           FROM new_rows n JOIN old_rows o ON o.id = n.id
          CROSS JOIN LATERAL (VALUES (n.customer_id), (o.customer_id)) AS touched (customer_id)
          WHERE (n.direction = 'OUTBOUND' OR o.direction = 'OUTBOUND')
            AND (n.customer_id IS DISTINCT FROM o.customer_id
                 OR n.direction IS DISTINCT FROM o.direction
                 OR (n.status <> o.status AND (n.status IN ('FAILED', 'DONE') OR o.status IN ('FAILED', 'DONE')))
                 OR (n.status = 'FAILED' AND n.last_error IS DISTINCT FROM o.last_error))));
    RETURN NULL;
END $$;

CREATE FUNCTION sync_queue_rows_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(DISTINCT customer_id) FROM old_rows WHERE direction = 'OUTBOUND'));
    RETURN NULL;
END $$;

-- Log rows: only finished outbound pushes (SUCCESS, SKIPPED) name the company and the time.
CREATE FUNCTION sync_log_rows_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(DISTINCT customer_id) FROM new_rows
          WHERE direction = 'OUTBOUND' AND status IN ('SUCCESS', 'SKIPPED')));
    RETURN NULL;
END $$;

CREATE FUNCTION sync_log_rows_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(DISTINCT customer_id) FROM old_rows WHERE direction = 'OUTBOUND'));
    RETURN NULL;
END $$;

-- The code never rewrites a log row; whoever does still keeps the summaries right.
CREATE FUNCTION sync_log_rows_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(DISTINCT customer_id) FROM (
            SELECT customer_id FROM old_rows WHERE direction = 'OUTBOUND'
            UNION SELECT customer_id FROM new_rows WHERE direction = 'OUTBOUND') AS touched));
    RETURN NULL;
END $$;

-- TRUNCATE has no rows to name: start over from what is left.
CREATE FUNCTION sync_summaries_rebuilt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM customer_sync_summaries;
    PERFORM refresh_customer_sync_summaries(
        (SELECT array_agg(customer_id) FROM (
            SELECT customer_id FROM hubspot_sync_queue WHERE direction = 'OUTBOUND'
            UNION SELECT customer_id FROM hubspot_sync_log
                   WHERE direction = 'OUTBOUND' AND customer_id IS NOT NULL) AS touched));
    RETURN NULL;
END $$;

CREATE TRIGGER sync_queue_summaries_insert AFTER INSERT ON hubspot_sync_queue
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sync_queue_rows_inserted();
CREATE TRIGGER sync_queue_summaries_update AFTER UPDATE ON hubspot_sync_queue
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sync_queue_rows_updated();
CREATE TRIGGER sync_queue_summaries_delete AFTER DELETE ON hubspot_sync_queue
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION sync_queue_rows_deleted();
CREATE TRIGGER sync_log_summaries_insert AFTER INSERT ON hubspot_sync_log
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sync_log_rows_inserted();
CREATE TRIGGER sync_log_summaries_update AFTER UPDATE ON hubspot_sync_log
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sync_log_rows_updated();
CREATE TRIGGER sync_log_summaries_delete AFTER DELETE ON hubspot_sync_log
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION sync_log_rows_deleted();
CREATE TRIGGER sync_queue_summaries_truncate AFTER TRUNCATE ON hubspot_sync_queue
    FOR EACH STATEMENT EXECUTE FUNCTION sync_summaries_rebuilt();
CREATE TRIGGER sync_log_summaries_truncate AFTER TRUNCATE ON hubspot_sync_log
    FOR EACH STATEMENT EXECUTE FUNCTION sync_summaries_rebuilt();

-- Customers whose summary differs from what the queue and the log say: empty unless a writer
-- bypassed the triggers (tests and the chaos run assert it is empty; operators can too).
CREATE VIEW customer_sync_summary_drift AS
SELECT c.id AS customer_id,
       row(s.failed_error, coalesce(s.any_failed, false), coalesce(s.any_waiting, false),
           coalesce(s.any_done, false), s.company_id, s.completed_at)::text AS summary,
       row(t.failed_error, t.any_failed, t.any_waiting, t.any_done, t.company_id, t.completed_at)::text AS computed
  FROM customers c
  LEFT JOIN customer_sync_summaries s ON s.customer_id = c.id
 CROSS JOIN LATERAL customer_sync_state(c.id) t
 WHERE row(s.failed_error, coalesce(s.any_failed, false), coalesce(s.any_waiting, false),
           coalesce(s.any_done, false), s.company_id, s.completed_at)
       IS DISTINCT FROM
       row(t.failed_error, t.any_failed, t.any_waiting, t.any_done, t.company_id, t.completed_at);

-- What is there already.
SELECT refresh_customer_sync_summaries(
    (SELECT array_agg(customer_id) FROM (
        SELECT customer_id FROM hubspot_sync_queue WHERE direction = 'OUTBOUND'
        UNION SELECT customer_id FROM hubspot_sync_log
               WHERE direction = 'OUTBOUND' AND customer_id IS NOT NULL) AS touched));

-- What GET /v1/customers/{id} and /by-ban/{ban} answer: the customer and its sync state. The
-- reads go through PL/pgSQL so that Postgres plans the join once per connection: the API sends
-- unnamed statements (named ones would pin RDS Proxy connections), and planning this join on
-- every call cost more than running it (pgbench, 16 clients, extended protocol: 13,500 reads/s
-- as a plain statement, 20,700 through the function, 22,800 for the bare row). The view fixes
-- its column list when created: a migration adding a customer column recreates it.
CREATE VIEW customer_reads AS
SELECT c.id, c.ban, c.company_name, c.customer_type, c.status, c.credit_limit, c.current_balance,
       c.domain, c.contact, c.address, c.services, c.external_ids, c.version, c.created_at,
       c.updated_at, c.deleted_at,
       s.failed_error AS sync_failed_error,
       coalesce(s.any_failed, false) AS sync_any_failed,
       coalesce(s.any_waiting, false) AS sync_any_waiting,
       coalesce(s.any_done, false) AS sync_any_done,
       s.company_id AS sync_company_id,
       s.completed_at AS sync_completed_at
  FROM customers c
  LEFT JOIN customer_sync_summaries s ON s.customer_id = c.id;

CREATE FUNCTION customer_read(customer uuid) RETURNS SETOF customer_reads
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT * FROM customer_reads r WHERE r.id = customer;
END $$;

CREATE FUNCTION customer_read_by_ban(customer_ban text) RETURNS SETOF customer_reads
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT * FROM customer_reads r WHERE r.ban = customer_ban;
END $$;
