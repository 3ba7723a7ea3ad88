//! Setup shared by the sync-operations, security and log-scan tests: the API over a fresh
//! database with a HubSpot client pointed at a sandbox served over HTTP on loopback.

#![allow(dead_code)]

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use secrecy::SecretString;
use serde_json::Value;
use warp_api::{ApiState, AuthConfig};
use warp_hubspot::HubSpotClient;
use warp_testkit::{HubSpotUi, hubspot};
use warp_tests::{TEST_SECRET, TestApp, serve};

// Not every test file uses all of them.
#[allow(unused_imports)]
pub use warp_testkit::{APP_TOKEN, PORTAL, USER_TOKEN};

/// The sandbox's token granted read scopes only (its writes are 403 MISSING_SCOPES).
pub const READ_TOKEN: &str = "sandbox-read-token";

pub struct SyncApp {
    pub app: TestApp,
    pub sandbox: SandboxHandle,
    /// A person in HubSpot's UI.
    pub ui: HubSpotUi,
    pub hubspot: HubSpotClient,
}

/// A HubSpot client for `sandbox` that gives up after one retry (tests of failures stay fast).
pub fn hubspot_client(sandbox: &SandboxHandle) -> HubSpotClient {
    let mut config = hubspot::client_config(sandbox, hubspot::settings(100, 10_000));
    config.max_retries = 1;
    hubspot::client(&config)
}

/// The API (HS256 with [`TEST_SECRET`]) with a HubSpot client over a fresh sandbox whose
/// `warp_*` properties exist.
pub async fn spawn_sync_app() -> SyncApp {
    let sandbox = hubspot::sandbox(SandboxConfig::default()).await;
    let hubspot = hubspot_client(&sandbox);
    warp_hubspot::ensure_warp_properties(&hubspot)
        .await
        .expect("properties ensured");
    let database = warp_testkit::fresh_database().await;
    // Searches go through a second client over the sandbox's read-only token, as a deployment
    // with HUBSPOT_READ_TOKEN does.
    let mut read_config = hubspot::client_config(&sandbox, hubspot::settings(100, 10_000));
    read_config.token = SecretString::from(READ_TOKEN);
    let state = ApiState::new(
        database.clone(),
        AuthConfig::hs256(SecretString::from(TEST_SECRET)),
        PORTAL,
    )
    .with_hubspot(hubspot.clone())
    .with_hubspot_reader(hubspot::client(&read_config));
    let address = serve(warp_api::router(state)).await;
    SyncApp {
        app: TestApp {
            address,
            client: reqwest::Client::new(),
            database,
        },
        ui: HubSpotUi::new(&sandbox),
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

    /// Creates a company property in the sandbox (group `companyinformation`), as a person
    /// would before mapping something to it.
    pub async fn create_company_property(
        &self,
        name: &str,
        label: &str,
        property_type: warp_hubspot::PropertyType,
        field_type: warp_hubspot::FieldType,
    ) {
        self.hubspot
            .companies()
            .create_property(&warp_hubspot::PropertyCreate {
                name: name.into(),
                label: label.into(),
                property_type,
                field_type,
                group_name: "companyinformation".into(),
                description: None,
                options: Vec::<warp_hubspot::PropertyOption>::new(),
                has_unique_value: None,
                display_order: None,
            })
            .await
            .unwrap();
    }

    /// Creates a company in the sandbox as a person would; answers its id.
    pub async fn create_company(&self, properties: Value) -> String {
        self.ui.create("companies", properties).await
    }

    /// A company's mapped properties as the sandbox holds them, read as a person.
    pub async fn company(&self, id: &str) -> Value {
        self.ui
            .read(
                "companies",
                id,
                &[("properties", "name,domain,warp_ban,warp_customer_type")],
            )
            .await
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
