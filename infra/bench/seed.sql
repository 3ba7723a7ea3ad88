-- :customers customers with ids derived from 1..N (so load generators can address them) and
-- BANs BN-000000001...; plain rows, no outbox (this is read-path data).
INSERT INTO customers (id, ban, company_name, customer_type, credit_limit, contact)
SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
       'BN-' || lpad(i::text, 9, '0'),
       'Bench Customer ' || i,
       (ARRAY['PREPAID','POSTPAID','RESELLER'])[1 + i % 3],
       (i % 5000)::numeric,
       jsonb_build_object('email', 'billing' || i || '@bench.example')
  FROM generate_series(1, :customers) AS i
ON CONFLICT (id) DO NOTHING;
