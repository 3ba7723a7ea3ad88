//! Change capture (#23 item 3): a write that bypasses WARP (billing setting a balance in SQL)
//! reaches HubSpot like an API write, exactly once; WARP's own writes are never captured, so
//! they keep their one outbox row.

mod outbound_support;

use outbound_support::*;
use std::time::Duration;
use uuid::Uuid;
use warp_sync::capture::{capture_once, follow};
use warp_testkit::outside_writer;

impl Harness {
    async fn outbox_rows(&self, customer: Uuid) -> i64 {
        self.database
            .scalar(&format!(
                "SELECT count(*) FROM hubspot_sync_queue WHERE local_id = '{customer}'"
            ))
            .await
    }

    /// One capture pass that queues one row, pushed; answers the row's operation.
    async fn capture_and_push(&self, publisher: &RecordingPublisher) -> String {
        assert_eq!(
            capture_once(&self.database, PORTAL, publisher)
                .await
                .unwrap(),
            1
        );
        let queued = publisher.taken();
        let operation = self
            .database
            .text(&format!(
                "SELECT operation FROM hubspot_sync_queue WHERE id = {}",
                queued[0]
            ))
            .await
            .unwrap();
        self.worker.process(&queued).await;
        operation
    }

    async fn company_balance(&self, customer: Uuid) -> Option<String> {
        let company_id = self.hubspot_company_id(customer).await.expect("linked");
        let company = self
            .ui
            .read(
                "companies",
                &company_id,
                &[("properties", "warp_current_balance,name")],
            )
            .await;
        company["properties"]["warp_current_balance"]
            .as_str()
            .map(str::to_owned)
    }
}

#[tokio::test]
async fn a_balance_set_in_sql_reaches_hubspot_once_and_warps_own_writes_are_not_captured() {
    let h = harness().await;
    let publisher = RecordingPublisher::default();
    let (customer, ban, created) = h.create_named("Captured Balance", "POSTPAID").await;
    h.worker.process(&[created]).await;
    assert_eq!(h.company_balance(customer).await.as_deref(), Some("0.00"));
    // The API's write queued its own row: nothing captured, nothing queued twice.
    assert_eq!(
        h.database
            .scalar("SELECT count(*) FROM captured_changes")
            .await,
        0
    );
    assert_eq!(
        capture_once(&h.database, PORTAL, &publisher).await.unwrap(),
        0
    );

    // Billing updates the balance in SQL: captured, queued once, published, pushed.
    let billing = outside_writer(&h.database).await;
    billing
        .execute(
            "UPDATE customers SET current_balance = 1234.56 WHERE ban = $1",
            &[&ban],
        )
        .await
        .unwrap();
    assert_eq!(
        h.database
            .scalar("SELECT count(*) FROM captured_changes WHERE operation = 'UPDATE'")
            .await,
        1
    );
    assert_eq!(
        capture_once(&h.database, PORTAL, &publisher).await.unwrap(),
        1
    );
    let queued = publisher.taken();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        capture_once(&h.database, PORTAL, &publisher).await.unwrap(),
        0
    );
    assert_eq!(h.outbox_rows(customer).await, 2);
    let report = h.worker.process(&queued).await;
    assert_eq!(report.succeeded, queued);
    assert_eq!(
        h.company_balance(customer).await.as_deref(),
        Some("1234.56")
    );
    // WARP's side of the field state knows the new value (LATEST_WINS compares its time).
    assert_eq!(
        h.database
            .text(&format!(
                "SELECT warp_value FROM hubspot_field_state WHERE local_id = '{customer}' AND field = 'current_balance'"
            ))
            .await
            .as_deref(),
        Some("1234.56")
    );

    // A statement that changes nothing is no change; one that changes two rows is two.
    let (second, _, second_created) = h.create_named("Captured Second", "PREPAID").await;
    h.worker.process(&[second_created]).await;
    billing
        .execute(
            "UPDATE customers SET current_balance = current_balance",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        h.database
            .scalar("SELECT count(*) FROM captured_changes")
            .await,
        0
    );
    billing
        .execute(
            "UPDATE customers SET current_balance = current_balance + 1 WHERE id = ANY($1)",
            &[&vec![customer, second]],
        )
        .await
        .unwrap();
    // Two statements on one record before a pass: one outbox row for it.
    billing
        .execute(
            "UPDATE customers SET company_name = 'Captured Renamed' WHERE id = $1",
            &[&customer],
        )
        .await
        .unwrap();
    assert_eq!(
        capture_once(&h.database, PORTAL, &publisher).await.unwrap(),
        2
    );
    let queued = publisher.taken();
    h.worker.process(&queued).await;
    assert_eq!(
        h.company_balance(customer).await.as_deref(),
        Some("1235.56")
    );
    assert_eq!(h.outbox_rows(customer).await, 3);
    assert_eq!(h.outbox_rows(second).await, 2);
}

#[tokio::test]
async fn rows_inserted_or_closed_in_sql_are_created_and_closed_in_hubspot() {
    let h = harness().await;
    let publisher = RecordingPublisher::default();
    let billing = outside_writer(&h.database).await;
    let id = Uuid::now_v7();
    billing
        .execute(
            "INSERT INTO customers (id, ban, company_name, customer_type, current_balance) \
             VALUES ($1, 'SQ-000000001', 'Inserted In SQL', 'PREPAID', 10)",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(h.capture_and_push(&publisher).await, "CREATE");
    let companies = h.companies_by_ban().await;
    let made = &companies["SQ-000000001"];
    assert_eq!(made.len(), 1, "{companies:?}");
    assert_eq!(made[0].1["name"], "Inserted In SQL");
    assert_eq!(made[0].1["warp_status"], "ACTIVE");

    billing
        .execute(
            "UPDATE customers SET status = 'CLOSED', deleted_at = now() WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(h.capture_and_push(&publisher).await, "DELETE");
    assert_eq!(
        h.companies_by_ban().await["SQ-000000001"][0].1["warp_status"],
        "CLOSED"
    );
}

#[tokio::test]
async fn passes_running_at_once_queue_each_change_once_and_a_follow_loop_takes_them_within_a_second()
 {
    let h = harness().await;
    let mut customers = Vec::new();
    for n in 0..6 {
        let (id, _, created) = h.create_named(&format!("Concurrent {n}"), "PREPAID").await;
        h.worker.process(&[created]).await;
        customers.push(id);
    }
    let billing = outside_writer(&h.database).await;
    for id in &customers {
        billing
            .execute(
                "UPDATE customers SET current_balance = 77 WHERE id = $1",
                &[id],
            )
            .await
            .unwrap();
    }
    let (first, second) = (RecordingPublisher::default(), RecordingPublisher::default());
    let (a, b) = tokio::join!(
        capture_once(&h.database, PORTAL, &first),
        capture_once(&h.database, PORTAL, &second)
    );
    // Whichever pass came second may have found the rows locked: a third takes any left.
    let third = RecordingPublisher::default();
    let left = capture_once(&h.database, PORTAL, &third).await.unwrap();
    assert_eq!(a.unwrap() + b.unwrap() + left, customers.len());
    let mut all: Vec<i64> = [first.taken(), second.taken(), third.taken()].concat();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), customers.len());
    for id in &customers {
        assert_eq!(h.outbox_rows(*id).await, 2, "one captured row for {id}");
    }

    // The follow loop (`warp dev`'s, and the Lambda capture job's) queues a write within
    // about its interval.
    let publisher = RecordingPublisher::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let database = h.database.clone();
    let follower = tokio::spawn(async move {
        follow(
            &database,
            PORTAL,
            &publisher,
            Duration::from_millis(100),
            async {
                let _ = stop_rx.await;
            },
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    billing
        .execute(
            "UPDATE customers SET current_balance = 88 WHERE id = $1",
            &[&customers[0]],
        )
        .await
        .unwrap();
    let written = std::time::Instant::now();
    while h.outbox_rows(customers[0]).await < 3 {
        assert!(
            written.elapsed() < Duration::from_secs(2),
            "the follow loop did not queue the write"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_tx.send(()).unwrap();
    assert_eq!(follower.await.unwrap(), 1);
}

#[tokio::test]
async fn a_user_changed_in_sql_is_queued_for_its_contact() {
    let h = harness().await;
    let (customer, _, _) = h.create_named("Users Owner", "PREPAID").await;
    let billing = outside_writer(&h.database).await;
    let user = Uuid::now_v7();
    billing
        .execute(
            "INSERT INTO users (id, customer_id, email, role, status) \
             VALUES ($1, $2, 'ops@users-owner.example', 'admin', 'active')",
            &[&user, &customer],
        )
        .await
        .unwrap();
    billing
        .execute(
            "UPDATE users SET job_title = 'Head of Operations' WHERE id = $1",
            &[&user],
        )
        .await
        .unwrap();
    let publisher = RecordingPublisher::default();
    assert_eq!(
        capture_once(&h.database, PORTAL, &publisher).await.unwrap(),
        1
    );
    assert_eq!(
        h.database
            .text(&format!(
                "SELECT object_type || ' ' || operation FROM hubspot_sync_queue WHERE local_id = '{user}'"
            ))
            .await
            .as_deref(),
        Some("contacts CREATE")
    );
    assert_eq!(
        h.database
            .text(&format!(
                "SELECT warp_value FROM hubspot_field_state WHERE local_id = '{user}' AND field = 'job_title'"
            ))
            .await
            .as_deref(),
        Some("Head of Operations")
    );
}

#[tokio::test]
async fn a_billing_role_without_rights_on_the_sync_is_captured_and_an_unreadable_row_holds_up_nothing()
 {
    let h = harness().await;
    let (first, _, first_created) = h.create_named("Billing Role One", "PREPAID").await;
    let (second, _, second_created) = h.create_named("Billing Role Two", "PREPAID").await;
    h.worker.process(&[first_created, second_created]).await;
    let version_before: i64 = h
        .database
        .scalar(&format!(
            "SELECT version FROM customers WHERE id = '{first}'"
        ))
        .await;

    // Billing's own role may update customers and nothing else of WARP's.
    let billing = outside_writer(&h.database).await;
    billing
        .batch_execute(
            "DO $$ BEGIN CREATE ROLE warp_billing_writer NOLOGIN; \
             EXCEPTION WHEN duplicate_object THEN NULL; END $$; \
             GRANT SELECT, UPDATE ON customers TO warp_billing_writer; \
             SET ROLE warp_billing_writer",
        )
        .await
        .unwrap();
    billing
        .execute(
            "UPDATE customers SET current_balance = 5 WHERE id = $1",
            &[&first],
        )
        .await
        .expect("the trigger runs with its owner's rights, not billing's");
    // A value WARP cannot read (no domain name) set by hand on the other row.
    billing
        .execute(
            "UPDATE customers SET domain = 'not a domain' WHERE id = $1",
            &[&second],
        )
        .await
        .unwrap();

    let publisher = RecordingPublisher::default();
    assert_eq!(
        capture_once(&h.database, PORTAL, &publisher).await.unwrap(),
        2
    );
    // Both are queued: the readable one is pushed, the unreadable one's push fails, saying why.
    let queued = publisher.taken();
    let row_of = |id: uuid::Uuid| {
        let database = h.database.clone();
        async move {
            database
                .scalar(&format!(
                    "SELECT max(id) FROM hubspot_sync_queue WHERE local_id = '{id}'"
                ))
                .await
        }
    };
    let (first_row, second_row) = (row_of(first).await, row_of(second).await);
    assert_eq!(queued, vec![first_row, second_row]);
    assert_eq!(
        h.worker.process(&[first_row]).await.succeeded,
        vec![first_row]
    );
    assert_eq!(h.company_balance(first).await.as_deref(), Some("5.00"));
    let failed = h.worker.process(&[second_row]).await;
    assert!(failed.failed[0].1.contains("invalid domain"), "{failed:?}");
    // A write made outside WARP is a new version: the row carries it, old ETags are stale.
    let version_after: i64 = h
        .database
        .scalar(&format!(
            "SELECT version FROM customers WHERE id = '{first}'"
        ))
        .await;
    assert_eq!(version_after, version_before + 1);
    assert_eq!(
        h.database
            .scalar(&format!(
                "SELECT max(local_version) FROM hubspot_sync_queue WHERE local_id = '{first}'"
            ))
            .await,
        version_after
    );
}
