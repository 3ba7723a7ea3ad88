//! Setup shared by the sync-operations, security and log-scan tests: the API over a fresh
//! database with a HubSpot client pointed at a sandbox served over HTTP on loopback.

#![allow(dead_code)]

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use warp_api::{ApiState, AuthConfig};
use warp_hubspot::{
    HubSpotClient, HubSpotClientConfig, InProcessRateBudget, RateBudget, RateLimitSettings,
};
use warp_store::Database;
use warp_tests::{TEST_SECRET, TestApp, serve, server_url};

/// The sandbox's portal; the API and the worker use it too.
pub const PORTAL: i64 = 62515;
pub const APP_TOKEN: &str = "sandbox-app-token";
/// The sandbox's "person in HubSpot's UI": never rate limited, never faulted.
pub const USER_TOKEN: &str = "sandbox-user-token";

pub struct SyncApp {
    pub app: TestApp,
    pub sandbox: SandboxHandle,
    pub hubspot: HubSpotClient,
}

/// A HubSpot client for `sandbox` that gives up after one retry (tests of failures stay fast).
pub fn hubspot_client(sandbox: &SandboxHandle) -> HubSpotClient {
    let base_url = warp_hubspot::config::parse_base_url(&sandbox.base_url()).unwrap();
    let mut config = HubSpotClientConfig::new(base_url, SecretString::from(APP_TOKEN), PORTAL);
    config.rate_limit = RateLimitSettings {
        max_per_interval: 100,
        interval: Duration::from_secs(10),
        search_per_second: 5,
    };
    config.timeout = Duration::from_secs(5);
    config.max_retries = 1;
    let budget: Arc<dyn RateBudget> = Arc::new(InProcessRateBudget::new(&config.rate_limit));
    HubSpotClient::new(&config, budget)
        .unwrap()
        .with_min_backoff(Duration::from_millis(10))
}

/// The API (HS256 with [`TEST_SECRET`]) with a HubSpot client over a fresh sandbox whose
/// `warp_*` properties exist.
pub async fn spawn_sync_app() -> SyncApp {
    let sandbox = hubspot_sandbox::spawn(SandboxConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    let hubspot = hubspot_client(&sandbox);
    warp_hubspot::ensure_warp_properties(&hubspot)
        .await
        .expect("properties ensured");
    let database = Database::fresh_for_test(&server_url())
        .await
        .expect("fresh test database");
    let state = ApiState::new(
        database.clone(),
        AuthConfig::hs256(SecretString::from(TEST_SECRET)),
        PORTAL,
    )
    .with_hubspot(hubspot.clone());
    let address = serve(warp_api::router(state)).await;
    SyncApp {
        app: TestApp {
            address,
            client: reqwest::Client::new(),
            database,
        },
        sandbox,
        hubspot,
    }
}

impl SyncApp {
    /// An outbound worker over this app's database and sandbox, reading the field mapping from
    /// the table before every batch (as a deployed worker does once its cache is stale).
    pub async fn outbound_worker(&self) -> warp_sync::outbound::OutboundWorker {
        let database = self.app.database.clone();
        warp_sync::outbound::OutboundWorker::new(
            database.clone(),
            self.hubspot.clone(),
            PORTAL,
            warp_store::sync_config::MappingSource::read_every_time(database, PORTAL)
                .await
                .expect("the mapping reads"),
        )
    }

    /// Creates a company in the sandbox as a person would (user token); answers its id.
    pub async fn create_company(&self, properties: Value) -> String {
        let answer: Value = self
            .app
            .client
            .post(format!(
                "{}/crm/v3/objects/companies",
                self.sandbox.base_url()
            ))
            .bearer_auth(USER_TOKEN)
            .json(&json!({ "properties": properties }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["id"].as_str().expect("a company id").to_owned()
    }

    /// A company's mapped properties as the sandbox holds them (user token).
    pub async fn company(&self, id: &str) -> Value {
        self.app
            .client
            .get(format!(
                "{}/crm/v3/objects/companies/{id}",
                self.sandbox.base_url()
            ))
            .bearer_auth(USER_TOKEN)
            .query(&[("properties", "name,domain,warp_ban,warp_customer_type")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// An open `company_name` conflict of `customer_id` (portal [`PORTAL`]), as the inbound rules
/// leave one, with the id `conflict_id`.
pub async fn open_conflict(
    app: &TestApp,
    conflict_id: &str,
    customer_id: &str,
    warp_value: &str,
    hubspot_value: &str,
) {
    let client = app.database.client().await.expect("client");
    client
        .execute(
            "INSERT INTO sync_conflicts (id, portal_id, object_type, local_id, field, warp_value, \
               hubspot_value, warp_changed_at, hubspot_changed_at) \
             VALUES ($1::text::uuid, $2, 'companies', $3::text::uuid, 'company_name', $4, $5, now(), now())",
            &[
                &conflict_id,
                &PORTAL,
                &customer_id,
                &warp_value,
                &hubspot_value,
            ],
        )
        .await
        .expect("conflict inserted");
}
