//! Shared setup of the reconciliation tests: a fresh database, the HubSpot sandbox over HTTP
//! with WARP's properties, the outbound worker, the inbound processor and the reconciler wired
//! to them, and helpers that act as a person editing in HubSpot's UI.

#![allow(dead_code)]

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;
use warp_domain::customer::NewCustomer;
use warp_hubspot::{HubSpotClient, HubSpotClientConfig, InProcessRateBudget, RateLimitSettings};
use warp_reconcile::Reconciler;
use warp_store::sync_config::MappingSource;
use warp_store::{Created, CustomerStore, Database};
use warp_sync::outbound::OutboundWorker;
use warp_webhook::InboundProcessor;

pub const PORTAL: i64 = 62515;
pub const APP_TOKEN: &str = "sandbox-app-token";
pub const USER_TOKEN: &str = "sandbox-user-token";

pub struct Harness {
    pub database: Database,
    pub sandbox: SandboxHandle,
    pub customers: CustomerStore,
    pub worker: OutboundWorker,
    pub reconciler: Reconciler,
    pub http: reqwest::Client,
}

pub async fn harness() -> Harness {
    harness_with(SandboxConfig::default()).await
}

pub async fn harness_with(config: SandboxConfig) -> Harness {
    let settings = RateLimitSettings {
        max_per_interval: config.rate_limit_max,
        interval: std::time::Duration::from_millis(config.rate_limit_interval_ms),
        ..RateLimitSettings::default()
    };
    let sandbox = hubspot_sandbox::spawn(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    let server = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let database = Database::fresh_for_test(&server).await.expect("database");
    let mut client_config = HubSpotClientConfig::new(
        warp_hubspot::config::parse_base_url(&sandbox.base_url()).unwrap(),
        SecretString::from(APP_TOKEN),
        PORTAL,
    );
    client_config.rate_limit = settings;
    let hubspot = HubSpotClient::new(
        &client_config,
        Arc::new(InProcessRateBudget::new(&settings)),
    )
    .unwrap();
    warp_hubspot::ensure_warp_properties(&hubspot)
        .await
        .unwrap();
    let map = MappingSource::read_every_time(database.clone(), PORTAL)
        .await
        .unwrap();
    let inbound = Arc::new(InboundProcessor {
        database: database.clone(),
        hubspot: Some(hubspot.clone()),
        map: map.clone(),
        portal_id: PORTAL,
    });
    Harness {
        customers: CustomerStore::new(database.clone(), PORTAL),
        worker: OutboundWorker::new(database.clone(), hubspot.clone(), PORTAL, map.clone()),
        reconciler: Reconciler {
            database: database.clone(),
            hubspot,
            map,
            portal_id: PORTAL,
            inbound,
            publisher: None,
        },
        database,
        sandbox,
        http: reqwest::Client::new(),
    }
}

impl Harness {
    /// Creates a customer through the store (as the API does); returns (id, BAN).
    pub async fn create(&self, name: &str) -> (Uuid, String) {
        let new = NewCustomer::from_json(&json!({
            "company_name": name,
            "customer_type": "POSTPAID",
            "credit_limit": "2500.00",
            "domain": format!("{}.example", name.to_lowercase().replace(' ', "-")),
            "contact": {"email": "billing@example.com", "phone": "+14155550100"},
        }))
        .unwrap();
        match self.customers.create(&new, None).await.unwrap() {
            Created::New(written, _) => (written.value.id, written.value.ban.to_string()),
            Created::Replayed(_) => unreachable!("no idempotency key was given"),
        }
    }

    /// Runs the outbound worker until no outbox row is due.
    pub async fn push_all(&self) {
        for _ in 0..50 {
            let report = self.worker.process_due(1_000).await.unwrap();
            if report.rows() == 0 {
                return;
            }
        }
        panic!("the outbox did not drain");
    }

    /// A write whose push was lost: its outbox rows end DONE without reaching HubSpot.
    pub async fn lose_pending_pushes(&self) {
        self.sql("UPDATE hubspot_sync_queue SET status = 'DONE' WHERE status <> 'DONE'")
            .await;
    }

    pub async fn sql(&self, sql: &str) {
        let client = self.database.client().await.unwrap();
        client.batch_execute(sql).await.unwrap();
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        let client = self.database.client().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    pub async fn text(&self, sql: &str) -> Option<String> {
        let client = self.database.client().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    pub async fn company_of(&self, customer: Uuid) -> Option<String> {
        self.text(&format!(
            "SELECT external_ids->>'hubspot_company_id' FROM customers WHERE id = '{customer}'"
        ))
        .await
    }

    /// The company the customer is linked to (panics when unlinked).
    pub async fn linked(&self, customer: Uuid) -> String {
        self.company_of(customer)
            .await
            .expect("the customer is linked")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    /// A person edits the company in HubSpot's UI.
    pub async fn ui_update(&self, company: &str, properties: Value) {
        let response = self
            .http
            .patch(self.url(&format!("/crm/v3/objects/companies/{company}")))
            .bearer_auth(USER_TOKEN)
            .json(&json!({ "properties": properties }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// A person creates a company in HubSpot's UI; returns its id.
    pub async fn ui_create(&self, properties: Value) -> String {
        let response = self
            .http
            .post(self.url("/crm/v3/objects/companies"))
            .bearer_auth(USER_TOKEN)
            .json(&json!({ "properties": properties }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A person deletes (archives) the company in HubSpot's UI.
    pub async fn ui_delete(&self, company: &str) {
        let response = self
            .http
            .delete(self.url(&format!("/crm/v3/objects/companies/{company}")))
            .bearer_auth(USER_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }

    /// A person restores an archived company (HubSpot's recycle bin).
    pub async fn ui_restore(&self, company: &str) {
        let response = self
            .http
            .post(self.url(&format!("/_sandbox/companies/{company}/restore")))
            .bearer_auth(USER_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// A person merges `loser` into `primary` in HubSpot's UI.
    pub async fn ui_merge(&self, primary: &str, loser: &str) {
        let response = self
            .http
            .post(self.url("/crm/v3/objects/companies/merge"))
            .bearer_auth(USER_TOKEN)
            .json(&json!({"primaryObjectId": primary, "objectIdToMerge": loser}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// A company's properties as HubSpot holds them.
    pub async fn company(&self, company: &str) -> Value {
        self.http
            .get(self.url(&format!(
                "/crm/v3/objects/companies/{company}?properties=name,domain,warp_ban,warp_status,warp_credit_limit"
            )))
            .bearer_auth(USER_TOKEN)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["properties"]
            .clone()
    }

    /// Active companies carrying this BAN.
    pub async fn companies_with_ban(&self, ban: &str) -> Vec<Value> {
        let page: Value = self
            .http
            .get(self.url("/crm/v3/objects/companies"))
            .bearer_auth(USER_TOKEN)
            .query(&[("limit", "100"), ("properties", "warp_ban,name")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|company| company["properties"]["warp_ban"] == ban)
            .cloned()
            .collect()
    }

    /// Everything a dry run must leave alone, as one comparable value.
    pub async fn fingerprint(&self) -> (i64, i64, i64, i64, i64, String, String) {
        let customers = self
            .text("SELECT string_agg(id::text || ':' || version || ':' || external_ids::text, ',' ORDER BY id) FROM customers")
            .await
            .unwrap_or_default();
        let companies = self
            .http
            .get(self.url("/crm/v3/objects/companies"))
            .bearer_auth(USER_TOKEN)
            .query(&[
                ("limit", "100"),
                (
                    "properties",
                    "name,domain,warp_ban,warp_status,warp_credit_limit",
                ),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (
            self.scalar("SELECT count(*) FROM hubspot_sync_queue").await,
            self.scalar("SELECT count(*) FROM hubspot_webhook_events").await,
            self.scalar("SELECT count(*) FROM sync_conflicts").await,
            self.scalar("SELECT count(*) FROM hubspot_field_state WHERE hubspot_changed_at IS NOT NULL").await,
            self.scalar("SELECT coalesce(sum(extract(epoch FROM updated_at) * 1000)::bigint, 0) FROM hubspot_field_state").await,
            customers,
            companies,
        )
    }
}
