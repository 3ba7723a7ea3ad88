-- :customers customers with ids derived from 1..N (so load generators can address them),
-- BANs BN-000000001... and linked HubSpot company ids 9000000001...; plain rows, no outbox.
INSERT INTO customers (id, ban, company_name, customer_type, credit_limit, contact, external_ids)
SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
       'BN-' || lpad(i::text, 9, '0'),
       'Bench Customer ' || i,
       (ARRAY['PREPAID','POSTPAID','RESELLER'])[1 + i % 3],
       (i % 5000)::numeric,
       jsonb_build_object('email', 'billing' || i || '@bench.example'),
       jsonb_build_object('hubspot_company_id', (9000000000 + i)::text)
  FROM generate_series(1, :customers) AS i
ON CONFLICT (id) DO NOTHING;
