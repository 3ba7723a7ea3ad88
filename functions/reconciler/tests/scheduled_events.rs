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
