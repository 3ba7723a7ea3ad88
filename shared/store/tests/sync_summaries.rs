//! `customer_sync_summaries` (what GET /v1/customers/{id} reads as the sync state) always
//! equals `customer_sync_state()` computed from the queue and the log, whatever changes them:
//! random single- and multi-row changes, deletes, truncation, and two transactions racing on
//! one customer.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use tokio_postgres::Client;
use uuid::Uuid;

const STATUSES: [&str; 4] = ["PENDING", "IN_FLIGHT", "DONE", "FAILED"];
const LOG_STATUSES: [&str; 5] = ["SUCCESS", "FAILED", "SKIPPED", "OVERRIDDEN", "CONFLICT"];

async fn customers(client: &Client, count: u32) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for n in 1..=count {
        let id = Uuid::now_v7();
        client
            .execute(
                "INSERT INTO customers (id, ban, company_name, customer_type) VALUES ($1, $2, 'Summary test', 'PREPAID')",
                &[&id, &format!("BN-{n:09}")],
            )
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// Customers whose summary differs from the state computed from the source tables, with both.
async fn stale_summaries(client: &Client) -> Vec<String> {
    client
        .query(
            "SELECT format('%s: summary %s, computed %s', customer_id, summary, computed) \
               FROM customer_sync_summary_drift",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

async fn queue_ids(client: &Client) -> Vec<i64> {
    client
        .query("SELECT id FROM hubspot_sync_queue ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// One random change to the queue or the log, as the worker, the API or an operator would make.
async fn random_change(client: &Client, rng: &mut StdRng, customers: &[Uuid]) -> String {
    let customer = *customers.choose(rng).unwrap();
    let ids = queue_ids(client).await;
    let direction = if rng.random_bool(0.8) {
        "OUTBOUND"
    } else {
        "INBOUND"
    };
    match rng.random_range(0..7) {
        0 | 1 => {
            client
                .execute(
                    "INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, direction, status, local_version) \
                     VALUES (1, 'companies', $1, 'UPDATE', $2, 'PENDING', 1)",
                    &[&customer, &direction],
                )
                .await
                .unwrap();
            format!("insert {direction} row for {customer}")
        }
        2 | 3 if !ids.is_empty() => {
            // One statement over several rows, as a claim or a chunk's outcome is.
            let chosen: Vec<i64> = ids.choose_multiple(rng, 3).copied().collect();
            let status = *STATUSES.choose(rng).unwrap();
            let error = format!("error {}", rng.random_range(0..3));
            client
                .execute(
                    "UPDATE hubspot_sync_queue SET status = $2, last_error = CASE WHEN $2 = 'FAILED' THEN $3 END \
                     WHERE id = ANY($1)",
                    &[&chosen, &status, &error],
                )
                .await
                .unwrap();
            format!("rows {chosen:?} to {status}")
        }
        4 => {
            let status = *LOG_STATUSES.choose(rng).unwrap();
            let company = format!("{}", rng.random_range(100..103));
            client
                .execute(
                    "INSERT INTO hubspot_sync_log (portal_id, object_type, local_id, direction, operation, status, hubspot_id, completed_at) \
                     VALUES (1, 'companies', $1, $2, 'UPDATE', $3, $4, now())",
                    &[&customer, &direction, &status, &company],
                )
                .await
                .unwrap();
            format!("log {direction} {status} for {customer}")
        }
        5 if !ids.is_empty() => {
            let id = *ids.choose(rng).unwrap();
            client
                .execute("DELETE FROM hubspot_sync_queue WHERE id = $1", &[&id])
                .await
                .unwrap();
            format!("delete row {id}")
        }
        6 => {
            let deleted = client
                .execute(
                    "DELETE FROM hubspot_sync_log WHERE id = (SELECT max(id) FROM hubspot_sync_log WHERE local_id = $1)",
                    &[&customer],
                )
                .await
                .unwrap();
            format!("delete {deleted} newest log row of {customer}")
        }
        _ => "nothing".into(),
    }
}

#[tokio::test]
async fn summaries_equal_the_computed_state_after_every_change() {
    let database = warp_testkit::fresh_database().await;
    let client = database.client().await.unwrap();
    let customers = customers(&client, 5).await;
    let mut rng = StdRng::seed_from_u64(20261124);
    let mut states_seen = std::collections::BTreeSet::new();
    for step in 0..400 {
        let change = if step == 250 {
            client
                .batch_execute("TRUNCATE hubspot_sync_log, hubspot_sync_queue")
                .await
                .unwrap();
            "truncate".to_string()
        } else {
            random_change(&client, &mut rng, &customers).await
        };
        let stale = stale_summaries(&client).await;
        assert!(stale.is_empty(), "step {step} ({change}): {stale:?}");
        for row in client
            .query(
                "SELECT any_failed, any_waiting, any_done, company_id IS NOT NULL FROM customer_sync_summaries",
                &[],
            )
            .await
            .unwrap()
        {
            states_seen.insert((
                row.get::<_, bool>(0),
                row.get::<_, bool>(1),
                row.get::<_, bool>(2),
                row.get::<_, bool>(3),
            ));
        }
    }
    // The walk reached failed, waiting, done and pushed states, not just one of them.
    for (index, what) in ["failed", "waiting", "done", "pushed"].iter().enumerate() {
        assert!(
            states_seen.iter().any(|state| match index {
                0 => state.0,
                1 => state.1,
                2 => state.2,
                _ => state.3,
            }),
            "no summary was ever {what}: {states_seen:?}"
        );
    }
}

#[tokio::test]
async fn a_recompute_that_waited_for_another_transaction_sees_its_rows() {
    let database = warp_testkit::fresh_database().await;
    let setup = database.client().await.unwrap();
    let customer = customers(&setup, 1).await[0];
    let first: i64 = setup
        .query_one(
            "INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, status, local_version) \
             VALUES (1, 'companies', $1, 'CREATE', 'IN_FLIGHT', 1) RETURNING id",
            &[&customer],
        )
        .await
        .unwrap()
        .get(0);

    // An API write queues a second row and has not committed yet...
    let mut writer = database.client().await.unwrap();
    let write = writer.transaction().await.unwrap();
    write
        .execute(
            "INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, status, local_version) \
             VALUES (1, 'companies', $1, 'UPDATE', 'PENDING', 2)",
            &[&customer],
        )
        .await
        .unwrap();

    // ...while the worker finishes the first row: its snapshot cannot see the second one.
    let worker = database.client().await.unwrap();
    let done = tokio::spawn(async move {
        worker
            .execute(
                "UPDATE hubspot_sync_queue SET status = 'DONE' WHERE id = $1",
                &[&first],
            )
            .await
            .unwrap();
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !done.is_finished(),
        "the worker's recompute must wait for the writer's summary lock"
    );
    write.commit().await.unwrap();
    done.await.unwrap();

    let waiting: bool = setup
        .query_one(
            "SELECT any_waiting FROM customer_sync_summaries WHERE customer_id = $1",
            &[&customer],
        )
        .await
        .unwrap()
        .get(0);
    assert!(waiting, "the committed PENDING row must show as waiting");
    assert_eq!(stale_summaries(&setup).await, Vec::<String>::new());
}
