//! Shared setup of the sync-worker tests: a fresh database, the HubSpot sandbox with WARP's
//! properties, and the worker wired from a `Config` exactly as `main` wires it.

#![allow(dead_code)]

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::Value;
use std::collections::HashMap;
use warp_runtime::{Config, SecretsCache};
use warp_store::{CustomerStore, Database};
use warp_sync::outbound::OutboundWorker;
use warp_sync::wiring;
pub use warp_testkit::PORTAL;
use warp_testkit::{HubSpotUi, Sql, hubspot, records};

pub struct Setup {
    pub database: Database,
    pub sandbox: SandboxHandle,
    pub customers: CustomerStore,
    pub worker: OutboundWorker,
}

/// A fresh database, a sandbox with WARP's properties, and the worker wired from a `Config`.
pub async fn setup() -> Setup {
    let fresh = warp_testkit::fresh_database().await;
    let sandbox = hubspot::sandbox(SandboxConfig::default()).await;
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
        let created =
            records::create_customer(&self.customers, &records::customer_body(name)).await;
        (created.ban, created.outbox_id.expect("an outbox row"))
    }

    pub async fn outbox_status(&self, outbox_id: i64) -> String {
        self.database
            .one(&format!(
                "SELECT status FROM hubspot_sync_queue WHERE id = {outbox_id}"
            ))
            .await
    }

    /// The sandbox companies whose warp_ban is `ban`, read as a person.
    pub async fn companies_with_ban(&self, ban: &str) -> Vec<Value> {
        HubSpotUi::new(&self.sandbox)
            .with_property("companies", "warp_ban", ban, "warp_ban,name")
            .await
    }
}
