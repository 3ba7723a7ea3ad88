//! Migrations apply to a fresh database and re-applying them changes nothing.

#[tokio::test]
async fn migrations_create_every_table_and_are_idempotent() {
    let db = warp_testkit::fresh_database().await;
    db.migrate().await.expect("second migrate is a no-op");
    let client = db.client().await.unwrap();
    let rows = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let tables: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    for expected in [
        "customers",
        "hubspot_field_state",
        "hubspot_reconciliation_runs",
        "hubspot_sync_config",
        "hubspot_sync_log",
        "hubspot_sync_queue",
        "hubspot_webhook_events",
        "idempotency_keys",
        "sync_conflicts",
    ] {
        assert!(
            tables.contains(&expected.to_string()),
            "missing table {expected}: {tables:?}"
        );
    }
    let mappings: i64 = client
        .query_one(
            "SELECT count(*) FROM hubspot_sync_config WHERE portal_id = 0 AND object_type = 'companies'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(mappings, 12);
}

/// `make bench` seeds its database with `infra/bench/seed.sql` (psql, `:customers`): it must
/// stay in step with the schema, which no other test runs it against.
#[tokio::test]
async fn the_bench_seed_runs_on_the_current_schema() {
    let db = warp_testkit::fresh_database().await;
    let seed = include_str!("../../../infra/bench/seed.sql").replace(":customers", "3");
    let client = db.client().await.unwrap();
    client.batch_execute(&seed).await.expect("the seed runs");
    let synced: i64 = client
        .query_one(
            "SELECT count(*) FROM customer_sync_summaries WHERE any_done AND company_id IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(synced, 3, "every seeded customer reads as synced");
}
