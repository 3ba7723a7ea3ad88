-- The seed is WARP's own fixture, not a write made outside WARP: the change-capture triggers
-- (V22) leave it alone, as they leave WARP's sessions.
SET warp.writer = 'warp';
-- :customers customers with ids derived from 1..N (so load generators can address them),
-- BANs BN-000000001... and linked HubSpot company ids 9000000001..., each with the history a
-- synced customer has (a DONE outbox row and its SUCCESS log row), so reads see real sync state.
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

INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, status, attempts, local_version, published_at)
SELECT 62515, 'companies', c.id, 'CREATE', 'DONE', 1, 1, now()
  FROM customers c
 WHERE NOT EXISTS (SELECT 1 FROM hubspot_sync_queue q WHERE q.local_id = c.id AND q.object_type = 'companies');
INSERT INTO hubspot_sync_log (portal_id, object_type, queue_id, local_id, direction, operation, status, fields_synced, hubspot_id, completed_at)
SELECT q.portal_id, 'companies', q.id, q.local_id, 'OUTBOUND', 'CREATE', 'SUCCESS', '{name,warp_ban}', c.external_ids->>'hubspot_company_id', now()
  FROM hubspot_sync_queue q JOIN customers c ON c.id = q.local_id
 WHERE NOT EXISTS (SELECT 1 FROM hubspot_sync_log l WHERE l.queue_id = q.id);
