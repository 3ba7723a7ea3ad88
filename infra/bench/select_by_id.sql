-- pgbench's side of the API-vs-database comparison: the same row by the same primary key the
-- API's GET /v1/customers/{id} reads, with the same columns.
\set n random(1, :customers)
SELECT id, ban, company_name, customer_type, status, credit_limit, current_balance, domain, contact, address, services, external_ids, version, created_at, updated_at, deleted_at
  FROM customers WHERE id = ('00000000-0000-7000-8000-' || lpad(to_hex(:n), 12, '0'))::uuid;
