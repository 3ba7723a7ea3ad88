//! EventBridge scheduled events, as JSON fixtures shaped like Lambda's, through the handler the
//! binary runs (`warp_reconcile::schedule::handle_scheduled_event`) and the reconciler wired
//! from a `Config` as `main` wires it, over a real Postgres and the HubSpot sandbox on a
//! loopback port.

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::{Value, json};
use std::collections::HashMap;
use warp_domain::customer::NewCustomer;
use warp_reconcile::Reconciler;
use warp_reconcile::schedule::{JobError, handle_scheduled_event};
use warp_runtime::metrics::{Unit, emf_line};
use warp_runtime::{Config, SecretsCache};
use warp_store::outbox::NoopPublisher;
use warp_store::reconciliation_runs;
use warp_store::{Created, CustomerStore, Database};
use warp_sync::wiring;

const PORTAL: i64 = 62515;

struct Setup {
    database: Database,
    sandbox: SandboxHandle,
    reconciler: Reconciler,
    customers: CustomerStore,
}

async fn setup() -> Setup {
    let fresh = warp_testkit::fresh_database().await;
    let sandbox = warp_testkit::hubspot::sandbox(SandboxConfig::default()).await;
    let vars: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", fresh.url().to_owned()),
        ("HUBSPOT_BASE_URL", sandbox.base_url()),
        ("HUBSPOT_PORTAL_ID", PORTAL.to_string()),
    ]);
    let config = Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
    let secrets = SecretsCache::for_config(&config).await;
    let database = wiring::database(&config, &secrets).await.unwrap();
    let reconciler = warp_reconcile::wiring::reconciler(&config, &secrets, database.clone(), None)
        .await
        .unwrap();
    warp_hubspot::ensure_warp_properties(&reconciler.hubspot)
        .await
        .unwrap();
    Setup {
        customers: CustomerStore::new(database.clone(), PORTAL),
        database,
        sandbox,
        reconciler,
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

impl Setup {
    async fn create(&self, name: &str) -> uuid::Uuid {
        let new = warp_domain_customer(name);
        match self.customers.create(&new, None).await.unwrap() {
            Created::New(written, _) => written.value.id,
            Created::Replayed(_) => unreachable!("no idempotency key"),
        }
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let client = self.database.client().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    async fn text(&self, sql: &str) -> String {
        let client = self.database.client().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    async fn sql(&self, sql: &str) {
        let client = self.database.client().await.unwrap();
        client.batch_execute(sql).await.unwrap();
    }
}

fn warp_domain_customer(name: &str) -> NewCustomer {
    NewCustomer::from_json(
        &json!({"company_name": name, "customer_type": "PREPAID", "credit_limit": "100.00"}),
    )
    .unwrap()
}

#[tokio::test]
async fn the_relay_job_republishes_stuck_rows_applies_leftover_events_and_runs_requested_reconciliations()
 {
    let s = setup().await;
    let customer = s.create("Relay Telecom").await;
    // The API's publish after commit was lost a minute ago.
    s.sql("UPDATE hubspot_sync_queue SET created_at = now() - interval '1 minute'")
        .await;
    // A webhook event the webhook function's inline budget did not reach.
    s.sql(&format!(
        "INSERT INTO hubspot_webhook_events (portal_id, event_id, subscription_type, object_id, occurred_at_ms, raw) \
         VALUES ({PORTAL}, 77, 'company.creation', 1, 1700000000000, \
         '{{\"eventId\":77,\"portalId\":{PORTAL},\"occurredAt\":1700000000000,\"subscriptionType\":\"company.creation\",\"objectId\":1}}')"
    ))
    .await;
    let requested =
        reconciliation_runs::request(&**s.database.client().await.unwrap(), true, "admin-user")
            .await
            .unwrap();

    let summary = handle_scheduled_event(
        &s.reconciler,
        &NoopPublisher,
        &fixture("schedule_relay.json"),
    )
    .await
    .unwrap();
    assert_eq!(summary.job, "relay");
    assert_eq!(summary.relayed, 1);
    assert_eq!(summary.errors, Vec::<String>::new());
    assert_eq!(
        s.scalar("SELECT count(*) FROM hubspot_webhook_events WHERE status = 'RECEIVED'")
            .await,
        0,
        "the leftover event was handled"
    );
    assert_eq!(
        s.scalar("SELECT count(*) FROM hubspot_sync_queue WHERE published_at IS NOT NULL")
            .await,
        1
    );
    assert_eq!(summary.runs.len(), 1);
    let run = &summary.runs[0];
    assert_eq!(run.id, requested.id);
    assert!(run.succeeded && run.dry_run);
    assert_eq!(
        run.drift_found, 1,
        "the never-pushed customer is missing in HubSpot"
    );
    assert_eq!(run.drift_fixed, 0, "a dry run");
    let stored = reconciliation_runs::get(&s.database, requested.id)
        .await
        .unwrap();
    assert_eq!(stored.status, "succeeded");
    assert_eq!(stored.counts.drift_found, 1);
    assert_eq!(
        stored.report["records"][0]["local_id"],
        customer.to_string()
    );
    assert_eq!(stored.report["records"][0]["object_type"], "companies");

    // Nothing left: the next relay job does nothing.
    let idle = handle_scheduled_event(
        &s.reconciler,
        &NoopPublisher,
        &fixture("schedule_relay.json"),
    )
    .await
    .unwrap();
    assert_eq!((idle.relayed, idle.runs.len()), (0, 0));
}

#[tokio::test]
async fn the_daily_job_runs_and_records_a_repairing_reconciliation() {
    let s = setup().await;
    let customer = s.create("Daily Telecom").await;
    let summary = handle_scheduled_event(
        &s.reconciler,
        &NoopPublisher,
        &fixture("schedule_reconcile.json"),
    )
    .await
    .unwrap();
    assert_eq!(summary.job, "reconcile");
    assert!(!summary.skipped_busy);
    let run = &summary.runs[0];
    assert!(run.succeeded && !run.dry_run);
    assert_eq!((run.drift_found, run.drift_fixed), (1, 1));
    let stored = reconciliation_runs::get(&s.database, run.id).await.unwrap();
    assert_eq!(stored.status, "succeeded");
    assert_eq!(stored.requested_by.as_deref(), Some("schedule"));
    assert_eq!(
        stored.report["by_object_type"]["companies"]["by_kind"]["MISSING_IN_HUBSPOT"]["fixed"],
        1
    );
    assert_eq!(
        s.text(&format!(
            "SELECT string_agg(operation, ',' ORDER BY id) FROM hubspot_sync_queue WHERE local_id = '{customer}'"
        ))
        .await,
        "CREATE,RESYNC",
        "the repair is a full push queued for the worker"
    );

    // The deal reconciliation: the daily job queued an import of every deal, which the next
    // relay job runs; a won deal whose webhooks were all lost is stored and onboarded.
    let import_id = summary.deal_import.expect("a deal import is queued");
    let ui = warp_testkit::HubSpotUi::new(&s.sandbox);
    let won = ui
        .create(
            "deals",
            json!({"dealname": "Lost webhooks", "dealstage": "closedwon",
                               "closedate": "2026-12-05T00:00:00Z"}),
        )
        .await;
    let relay = handle_scheduled_event(
        &s.reconciler,
        &NoopPublisher,
        &fixture("schedule_relay.json"),
    )
    .await
    .unwrap();
    assert_eq!(relay.imports_finished, 1);
    let import = warp_store::imports::get(&s.database, PORTAL, import_id)
        .await
        .unwrap();
    assert_eq!(
        (
            import.status.as_str(),
            import.counts.read,
            import.counts.created
        ),
        ("succeeded", 1, 1)
    );
    assert_eq!(
        s.text(&format!(
            "SELECT count(*)::text FROM onboardings WHERE hubspot_deal_id = '{won}'"
        ))
        .await,
        "1"
    );
    drop(s.sandbox);
}

#[tokio::test]
async fn an_event_naming_no_job_is_an_invalid_event_and_changes_nothing() {
    let s = setup().await;
    let error = handle_scheduled_event(
        &s.reconciler,
        &NoopPublisher,
        &fixture("schedule_without_job.json"),
    )
    .await
    .unwrap_err();
    assert_eq!(error, JobError::NoJob);
    assert_eq!(error.error_type(), "InvalidEvent");
    assert_eq!(
        s.scalar("SELECT count(*) FROM hubspot_reconciliation_runs")
            .await,
        0
    );
}

// ----- replay of failed inbound events (issue 23) -----
// A processing failure is retried 1 and 5 minutes later (time is moved by rewriting the due
// time), then waits for a person; the relay job's metrics line reports it for the alarm; the
// API lists it with the reason and retries it. Events stored failed on receipt never are.

#[tokio::test]
async fn a_failing_event_is_retried_twice_then_waits_for_a_person_who_retries_it() {
    let s = setup().await;
    let (database, reconciler) = (&s.database, &s.reconciler);
    let sql = database.client().await.unwrap();
    let relay = || async {
        handle_scheduled_event(reconciler, &NoopPublisher, &fixture("schedule_relay.json"))
            .await
            .unwrap()
    };
    let row = |id: i64| {
        let sql = &sql;
        async move {
            let row = sql
                .query_one(
                    "SELECT status, attempts, next_attempt_at IS NOT NULL, \
                       extract(epoch FROM next_attempt_at - now())::float8 \
                     FROM hubspot_webhook_events WHERE id = $1",
                    &[&id],
                )
                .await
                .unwrap();
            (
                row.get::<_, String>(0),
                row.get::<_, i32>(1),
                row.get::<_, bool>(2),
                row.get::<_, Option<f64>>(3),
            )
        }
    };
    let make_due = || async {
        sql.execute(
            "UPDATE hubspot_webhook_events SET next_attempt_at = now() - interval '1 second' \
             WHERE next_attempt_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    };

    // An event the processor cannot read (as a corrupted row would be): a processing failure.
    let id: i64 = sql
        .query_one(
            "INSERT INTO hubspot_webhook_events (portal_id, event_id, subscription_type, object_id, \
               occurred_at_ms, raw) VALUES ($1, 901, 'company.propertyChange', 5, 1700000000000, \
               '{\"unexpected\": true}') RETURNING id",
            &[&PORTAL],
        )
        .await
        .unwrap()
        .get(0);

    let first = relay().await;
    let (status, attempts, due, wait) = row(id).await;
    assert_eq!((status.as_str(), attempts, due), ("FAILED", 1, true));
    assert!((55.0..=60.0).contains(&wait.unwrap()), "{wait:?}");
    assert_eq!(
        first.webhook_events_failed,
        Some(0),
        "a retry is due: no alarm yet"
    );

    // Not due yet: the next job leaves it.
    relay().await;
    assert_eq!(row(id).await.1, 1);

    make_due().await;
    relay().await;
    let (status, attempts, _, wait) = row(id).await;
    assert_eq!((status.as_str(), attempts), ("FAILED", 2));
    assert!((295.0..=300.0).contains(&wait.unwrap()), "{wait:?}");

    make_due().await;
    let third = relay().await;
    assert_eq!(row(id).await, ("FAILED".to_owned(), 3, false, None));
    assert_eq!(third.webhook_events_failed, Some(1));
    // The relay job's metrics line carries the count the alarm watches.
    let line = emf_line(
        &[("Function", "reconciler".to_owned())],
        &third.metrics(),
        0,
    );
    let parsed: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed["WebhookEventsFailed"], 1.0);
    assert!(
        parsed["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .contains(&json!({"Name": "WebhookEventsFailed", "Unit": "Count"}))
    );
    assert!(
        third
            .metrics()
            .contains(&("WebhookEventsFailed", 1.0, Unit::Count))
    );

    // A person reads why and retries it through the API.
    let api = warp_testkit::api::ApiServer::start(database, PORTAL).await;
    let (base, token) = (api.base.clone(), |role: &str| api.token(role));
    let http = reqwest::Client::new();
    let listed: Value = http
        .get(format!("{base}/v1/sync/webhook-events?status=FAILED"))
        .bearer_auth(token("viewer"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item = &listed["items"][0];
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        (
            item["id"].as_i64(),
            item["attempts"].as_i64(),
            &item["next_attempt_at"]
        ),
        (Some(id), Some(3), &Value::Null)
    );
    assert_eq!(item["error"], "the stored event does not parse");
    let viewer_retry = http
        .post(format!("{base}/v1/sync/webhook-events/retry"))
        .bearer_auth(token("viewer"))
        .json(&json!({"ids": [id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(viewer_retry.status(), 403);
    let retried = http
        .post(format!("{base}/v1/sync/webhook-events/retry"))
        .bearer_auth(token("editor"))
        .json(&json!({"all": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 202);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried, json!({"retried": 1, "ids": [id]}));
    assert_eq!(row(id).await.0, "RECEIVED");
    // It fails again: attempts go on counting, and it waits for a person at once.
    let again = relay().await;
    assert_eq!(row(id).await, ("FAILED".to_owned(), 4, false, None));
    // A person gives up on it: the alarm stops counting it.
    let dismissed: Value = http
        .post(format!("{base}/v1/sync/webhook-events/dismiss"))
        .bearer_auth(token("editor"))
        .json(&json!({"ids": [id]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dismissed, json!({"dismissed": 1, "ids": [id]}));
    assert_eq!(row(id).await.0, "SKIPPED");
    assert_eq!(relay().await.webhook_events_failed, Some(0));
    assert_eq!(again.webhook_events_failed, Some(1));

    // Stored FAILED on receipt (a NUL character): never retried, never alarmed.
    let stored_failed: i64 = sql
        .query_one(
            "INSERT INTO hubspot_webhook_events (portal_id, event_id, subscription_type, object_id, \
               occurred_at_ms, raw, status, error) VALUES ($1, 902, 'company.propertyChange', 6, \
               1700000000000, '{}', 'FAILED', 'contains a NUL character') RETURNING id",
            &[&PORTAL],
        )
        .await
        .unwrap()
        .get(0);
    let none: Value = http
        .post(format!("{base}/v1/sync/webhook-events/retry"))
        .bearer_auth(token("editor"))
        .json(&json!({"ids": [stored_failed]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!({"retried": 0, "ids": []}));
    assert_eq!(relay().await.webhook_events_failed, Some(0));
    drop(s.sandbox);
}

#[tokio::test]
async fn the_capture_job_queues_writes_made_outside_warp_while_it_follows_and_the_relay_job_catches_any_left()
 {
    let s = setup().await;
    let customer = s.create("Captured Telecom").await;
    let billing = warp_testkit::outside_writer(&s.database).await;
    // A write made while the job follows (3 s) is queued within about a second of it.
    let write = async {
        tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
        billing
            .execute(
                "UPDATE customers SET current_balance = 42 WHERE id = $1",
                &[&customer],
            )
            .await
            .unwrap();
        std::time::Instant::now()
    };
    let queued_by = async {
        let written = write.await;
        loop {
            let rows = s
                .scalar(&format!(
                    "SELECT count(*) FROM hubspot_sync_queue WHERE local_id = '{customer}'"
                ))
                .await;
            if rows == 2 {
                return written.elapsed();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let event = fixture("schedule_capture.json");
    let (summary, waited) = tokio::join!(
        handle_scheduled_event(&s.reconciler, &NoopPublisher, &event),
        queued_by
    );
    let summary = summary.unwrap();
    assert_eq!(summary.job, "capture");
    assert_eq!(summary.captured, 1);
    assert!(waited < std::time::Duration::from_secs(2), "{waited:?}");
    let line: Value = serde_json::from_str(&summary.metric_lines(1)[0]).unwrap();
    assert_eq!(line["ChangesCaptured"], 1.0);

    // No capture job running: the relay job's pass queues what is waiting.
    billing
        .execute(
            "UPDATE customers SET current_balance = 43 WHERE id = $1",
            &[&customer],
        )
        .await
        .unwrap();
    let relay = handle_scheduled_event(
        &s.reconciler,
        &NoopPublisher,
        &fixture("schedule_relay.json"),
    )
    .await
    .unwrap();
    assert_eq!(relay.captured, 1);
    assert_eq!(
        s.scalar("SELECT count(*) FROM captured_changes").await,
        0,
        "nothing left captured"
    );
    assert_eq!(
        s.scalar(&format!(
            "SELECT count(*) FROM hubspot_sync_queue WHERE local_id = '{customer}'"
        ))
        .await,
        3
    );
}
