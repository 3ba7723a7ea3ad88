//! Shared setup of the outbound tests: a fresh database, a sandbox over HTTP, a HubSpot client
//! with WARP's properties ensured, a customer store and a worker with short retries.

#![allow(dead_code)]

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;
use warp_domain::customer::NewCustomer;
use warp_hubspot::{
    HubSpotClient, HubSpotClientConfig, InProcessRateBudget, RateBudget, RateLimitSettings,
};
use warp_store::outbox::{OutboxPublisher, RetryPolicy};
use warp_store::{Created, CustomerStore, Database};
use warp_sync::outbound::OutboundWorker;

pub const PORTAL: i64 = 62515;
pub const APP_TOKEN: &str = "sandbox-app-token";
pub const USER_TOKEN: &str = "sandbox-user-token";
pub const UPSERT_ROUTE: &str = "app POST /crm/objects/2026-09/companies/batch/upsert";

pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub struct Harness {
    pub database: Database,
    pub sandbox: SandboxHandle,
    pub customers: CustomerStore,
    pub worker: OutboundWorker,
    pub http: reqwest::Client,
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
    let sandbox = hubspot_sandbox::spawn(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    let database = Database::fresh_for_test(&server_url())
        .await
        .expect("fresh database");
    let client = hubspot_client(&sandbox, max, interval_ms);
    warp_hubspot::ensure_warp_properties(&client)
        .await
        .expect("properties ensured");
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
        database,
        sandbox,
        worker,
        http: reqwest::Client::new(),
    }
}

pub fn hubspot_client(sandbox: &SandboxHandle, max: u32, interval_ms: u64) -> HubSpotClient {
    let base_url = warp_hubspot::config::parse_base_url(&sandbox.base_url()).unwrap();
    let mut config = HubSpotClientConfig::new(base_url, SecretString::from(APP_TOKEN), PORTAL);
    config.rate_limit = RateLimitSettings {
        max_per_interval: max,
        interval: Duration::from_millis(interval_ms),
        search_per_second: 5,
    };
    config.timeout = Duration::from_secs(5);
    config.max_retries = 10;
    let budget: Arc<dyn RateBudget> = Arc::new(InProcessRateBudget::new(&config.rate_limit));
    HubSpotClient::new(&config, budget)
        .unwrap()
        .with_min_backoff(Duration::from_millis(10))
}

impl Harness {
    /// Creates a customer through the store; returns (id, BAN, outbox id).
    pub async fn create(&self, body: Value) -> (Uuid, String, i64) {
        let new = NewCustomer::from_json(&body).expect("valid customer");
        match self.customers.create(&new, None).await.expect("created") {
            Created::New(written, _) => (
                written.value.id,
                written.value.ban.to_string(),
                written.outbox_id.expect("an outbox row"),
            ),
            Created::Replayed(_) => panic!("no idempotency key was given"),
        }
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

    pub async fn sql_one<T: for<'a> tokio_postgres::types::FromSql<'a>>(&self, sql: &str) -> T {
        let client = self.database.client().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    pub async fn execute(&self, sql: &str) {
        let client = self.database.client().await.unwrap();
        client.batch_execute(sql).await.unwrap();
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

    /// Every company in the sandbox by its warp_ban: (id, properties). Read with the user
    /// token, so the app's counters and rate limits are untouched.
    pub async fn companies_by_ban(&self) -> BTreeMap<String, Vec<(String, Value)>> {
        let mut companies: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![
                ("limit", "100".to_owned()),
                (
                    "properties",
                    "warp_ban,name,domain,warp_status,warp_customer_type,warp_credit_limit,warp_services_voice,warp_billing_email,phone"
                        .to_owned(),
                ),
            ];
            if let Some(after) = &after {
                query.push(("after", after.clone()));
            }
            let page: Value = self
                .http
                .get(format!(
                    "{}/crm/v3/objects/companies",
                    self.sandbox.base_url()
                ))
                .bearer_auth(USER_TOKEN)
                .query(&query)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for company in page["results"].as_array().unwrap() {
                let ban = company["properties"]["warp_ban"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                companies.entry(ban).or_default().push((
                    company["id"].as_str().unwrap().to_owned(),
                    company["properties"].clone(),
                ));
            }
            match page["paging"]["next"]["after"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return companies,
            }
        }
    }

    /// How many values a company's property has had (its history), read with the user token.
    pub async fn history_len(&self, company_id: &str, property: &str) -> usize {
        let company: Value = self
            .http
            .get(format!(
                "{}/crm/v3/objects/companies/{company_id}",
                self.sandbox.base_url()
            ))
            .bearer_auth(USER_TOKEN)
            .query(&[("propertiesWithHistory", property)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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
