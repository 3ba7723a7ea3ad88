//! Shared setup of the sync-worker tests: a fresh database, the HubSpot sandbox with WARP's
//! properties, and the worker wired from a `Config` exactly as `main` wires it.

#![allow(dead_code)]

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::{Value, json};
use std::collections::HashMap;
use warp_domain::customer::NewCustomer;
use warp_runtime::{Config, SecretsCache};
use warp_store::{Created, CustomerStore, Database};
use warp_sync::outbound::OutboundWorker;
use warp_sync::wiring;

pub const PORTAL: i64 = 62515;
pub const USER_TOKEN: &str = "sandbox-user-token";

pub struct Setup {
    pub database: Database,
    pub sandbox: SandboxHandle,
    pub customers: CustomerStore,
    pub worker: OutboundWorker,
}

/// A fresh database, a sandbox with WARP's properties, and the worker wired from a `Config`.
pub async fn setup() -> Setup {
    let server = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let fresh = Database::fresh_for_test(&server).await.unwrap();
    let sandbox = hubspot_sandbox::spawn(SandboxConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let vars: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", fresh.url().to_owned()),
        ("HUBSPOT_BASE_URL", sandbox.base_url()),
        ("HUBSPOT_PORTAL_ID", PORTAL.to_string()),
        // One retry, quickly: the outage case must fail inside the test's patience.
        ("HUBSPOT_MAX_RETRIES", "1".to_owned()),
        ("HUBSPOT_TIMEOUT_MS", "3000".to_owned()),
    ]);
    let config = Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
    let secrets = SecretsCache::for_config(&config).await;
    let database = wiring::database(&config, &secrets).await.unwrap();
    let hubspot = wiring::hubspot_client(&config, &secrets, &database)
        .await
        .unwrap();
    warp_hubspot::ensure_warp_properties(&hubspot)
        .await
        .unwrap();
    let worker = wiring::outbound_worker(&config, &secrets, database.clone())
        .await
        .unwrap();
    Setup {
        customers: CustomerStore::new(database.clone(), PORTAL),
        database,
        sandbox,
        worker,
    }
}

impl Setup {
    /// Creates a customer through the store (as the API does); returns (BAN, outbox id).
    pub async fn create(&self, name: &str) -> (String, i64) {
        let new = NewCustomer::from_json(&json!({
            "company_name": name,
            "customer_type": "POSTPAID",
            "credit_limit": "2500.00",
            "contact": {"email": "billing@example.com", "phone": "+14155550100"},
        }))
        .unwrap();
        match self.customers.create(&new, None).await.unwrap() {
            Created::New(written, _) => (written.value.ban.to_string(), written.outbox_id.unwrap()),
            Created::Replayed(_) => panic!("no idempotency key was given"),
        }
    }

    pub async fn outbox_status(&self, outbox_id: i64) -> String {
        let client = self.database.client().await.unwrap();
        client
            .query_one(
                "SELECT status FROM hubspot_sync_queue WHERE id = $1",
                &[&outbox_id],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// The sandbox companies whose warp_ban is `ban` (read with the user token).
    pub async fn companies_with_ban(&self, ban: &str) -> Vec<Value> {
        let page: Value = reqwest::Client::new()
            .get(format!(
                "{}/crm/v3/objects/companies",
                self.sandbox.base_url()
            ))
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
}
