//! Shared setup of the outbound tests: a fresh database, a sandbox over HTTP, a HubSpot client
//! with WARP's properties ensured, a customer store and a worker with short retries.

#![allow(dead_code)]

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;
use warp_hubspot::HubSpotClient;
use warp_store::outbox::{OutboxPublisher, RetryPolicy};
use warp_store::{CustomerStore, Database};
use warp_sync::outbound::OutboundWorker;
// Not every test file uses all of them.
#[allow(unused_imports)]
pub use warp_testkit::{HubSpotUi, PORTAL, Sql};
use warp_testkit::{hubspot, records};

pub const UPSERT_ROUTE: &str = "app POST /crm/objects/2026-09/companies/batch/upsert";

pub struct Harness {
    pub database: Database,
    pub sandbox: SandboxHandle,
    pub ui: HubSpotUi,
    pub customers: CustomerStore,
    pub worker: OutboundWorker,
}

/// Retries due again within milliseconds, so tests can loop until done.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(5),
        cap: Duration::from_millis(50),
        max_attempts: 10,
    }
}

pub async fn harness() -> Harness {
    harness_with(SandboxConfig::default(), 100, 10_000).await
}

/// A sandbox limited to `max` requests per `interval_ms`, and a client told the same.
pub async fn harness_with(mut config: SandboxConfig, max: u32, interval_ms: u64) -> Harness {
    config.rate_limit_max = max;
    config.rate_limit_interval_ms = interval_ms;
    let sandbox = hubspot::sandbox(config).await;
    let database = warp_testkit::fresh_database().await;
    let client =
        hubspot::client_with_warp_properties(&sandbox, hubspot::settings(max, interval_ms)).await;
    let worker = OutboundWorker::new(
        database.clone(),
        client,
        PORTAL,
        warp_store::sync_config::MappingSource::read_every_time(database.clone(), PORTAL)
            .await
            .unwrap(),
    )
    .with_retry_policy(fast_retries());
    Harness {
        customers: CustomerStore::new(database.clone(), PORTAL),
        ui: HubSpotUi::new(&sandbox),
        database,
        sandbox,
        worker,
    }
}

/// Another client for the harness's sandbox, with its own budget of `max` per `interval_ms`.
pub fn hubspot_client(sandbox: &SandboxHandle, max: u32, interval_ms: u64) -> HubSpotClient {
    hubspot::client(&hubspot::client_config(
        sandbox,
        hubspot::settings(max, interval_ms),
    ))
}

impl Harness {
    /// Creates a customer through the store; returns (id, BAN, outbox id).
    pub async fn create(&self, body: Value) -> (Uuid, String, i64) {
        let created = records::create_customer(&self.customers, &body).await;
        (
            created.id,
            created.ban,
            created.outbox_id.expect("an outbox row"),
        )
    }

    pub async fn create_named(&self, name: &str, customer_type: &str) -> (Uuid, String, i64) {
        self.create(json!({
            "company_name": name,
            "customer_type": customer_type,
            "credit_limit": "1500.00",
            "domain": format!("{}.example", name.to_lowercase().replace(' ', "-")),
            "contact": {"email": "billing@example.com", "phone": "+14155550100"},
            "services": {"voice": {"enabled": true}},
        }))
        .await
    }

    /// Whether HubSpot accepts RESELLER for warp_customer_type: a person edits the property's
    /// options in HubSpot.
    pub async fn allow_reseller(&self, allowed: bool) {
        let mut options = vec![
            json!({"label": "Prepaid", "value": "PREPAID", "displayOrder": 0, "hidden": false}),
            json!({"label": "Postpaid", "value": "POSTPAID", "displayOrder": 1, "hidden": false}),
        ];
        if allowed {
            options.push(
                json!({"label": "Reseller", "value": "RESELLER", "displayOrder": 2, "hidden": false}),
            );
        }
        self.ui
            .update_property(
                "companies",
                "warp_customer_type",
                json!({ "options": options }),
            )
            .await;
    }

    /// (status, attempts, last_error) of an outbox row.
    pub async fn row(&self, id: i64) -> (String, i32, Option<String>) {
        let client = self.database.client().await.unwrap();
        let row = client
            .query_one(
                "SELECT status, attempts, last_error FROM hubspot_sync_queue WHERE id = $1",
                &[&id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    }

    pub async fn hubspot_company_id(&self, customer: Uuid) -> Option<String> {
        let client = self.database.client().await.unwrap();
        client
            .query_one(
                "SELECT external_ids->>'hubspot_company_id' FROM customers WHERE id = $1",
                &[&customer],
            )
            .await
            .unwrap()
            .get(0)
    }

    pub fn upsert_calls(&self) -> u64 {
        self.sandbox
            .stats()
            .requests_by_route_and_token
            .get(UPSERT_ROUTE)
            .copied()
            .unwrap_or(0)
    }

    /// Every company in the sandbox by its warp_ban: (id, properties). Read as a person, so
    /// the app's counters and rate limits are untouched.
    pub async fn companies_by_ban(&self) -> BTreeMap<String, Vec<(String, Value)>> {
        let mut companies: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
        let names = "warp_ban,name,domain,warp_status,warp_customer_type,warp_credit_limit,warp_services_voice,warp_billing_email,phone";
        for company in self.ui.list_all("companies", names).await {
            let ban = company["properties"]["warp_ban"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            companies.entry(ban).or_default().push((
                company["id"].as_str().unwrap().to_owned(),
                company["properties"].clone(),
            ));
        }
        companies
    }

    /// How many values a company's property has had (its history), read as a person.
    pub async fn history_len(&self, company_id: &str, property: &str) -> usize {
        let company = self
            .ui
            .read(
                "companies",
                company_id,
                &[("propertiesWithHistory", property)],
            )
            .await;
        company["propertiesWithHistory"][property]
            .as_array()
            .map_or(0, Vec::len)
    }
}

/// A publisher that remembers what it was given.
#[derive(Default)]
pub struct RecordingPublisher {
    pub published: Mutex<Vec<i64>>,
}

impl RecordingPublisher {
    pub fn taken(&self) -> Vec<i64> {
        let mut ids = std::mem::take(&mut *self.published.lock().unwrap());
        ids.sort_unstable();
        ids
    }
}

impl OutboxPublisher for RecordingPublisher {
    fn publish(
        &self,
        outbox_id: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.published.lock().unwrap().push(outbox_id);
        Box::pin(async {})
    }
}

/// The same, shareable with an `ApiState`.
#[derive(Default, Clone)]
pub struct SharedRecorder(pub Arc<RecordingPublisher>);

impl OutboxPublisher for SharedRecorder {
    fn publish(
        &self,
        outbox_id: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.0.publish(outbox_id)
    }
}
