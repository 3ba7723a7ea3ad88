//! The connect page (`/connect`) in a real headless Chromium: this test starts the API and the
//! HubSpot sandbox on loopback ports, then runs `tests/browser/connect_page.py` (Playwright
//! driving Debian's `chromium`), which clicks Connect, approves on the sandbox's consent page
//! in the popup, sees Connected, disconnects, and sees the error banner after declining. What
//! the browser did is then checked in Postgres and in the sandbox.
//!
//! Needs `make venv` (Playwright in `.venv`) and `make chromium`; `make test` runs both.

use std::path::PathBuf;
use std::process::Command;

use hubspot_sandbox::SandboxConfig;
use secrecy::SecretString;
use serde_json::Value;
use uuid::Uuid;
use warp_api::{ApiState, AuthConfig};
use warp_installations::Connector;
use warp_store::installations::{self, InstallationStatus};
use warp_testkit::hubspot::{self, PORTAL};
use warp_testkit::oauth;
use warp_tests::{TEST_SECRET, TestApp, acme, scoped_token};

/// The account a person picks on the consent page: a customer's own HubSpot.
const CUSTOMER_PORTAL: i64 = 7_301;

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

fn python() -> PathBuf {
    std::env::var_os("WARP_BROWSER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join(".venv/bin/python"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_approve_disconnect_and_decline_in_a_real_browser() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: `make chromium` installs Debian's chromium"
    );
    let python = python();
    assert!(
        python.exists(),
        "{} is missing: `make venv` makes it with Playwright",
        python.display()
    );

    let sandbox = hubspot::sandbox(SandboxConfig::default()).await;
    let database = warp_testkit::fresh_database().await;
    // The API's address first: HubSpot redirects to its exact callback URL.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let connector = Connector::new(
        database.clone(),
        oauth::app(
            &sandbox,
            &format!("{address}/v1/hubspot/oauth/callback"),
            &["oauth", "crm.objects.contacts.write"],
        ),
        oauth::keyring(),
        SecretString::from(oauth::CLIENT_SECRET.to_owned()),
    );
    let state = ApiState::new(
        database.clone(),
        AuthConfig::hs256(SecretString::from(TEST_SECRET)),
        PORTAL,
    )
    .with_connector(connector);
    tokio::spawn(async move { axum::serve(listener, warp_api::router(state)).await });
    let app = TestApp {
        address: address.clone(),
        client: reqwest::Client::new(),
        database: database.clone(),
    };
    let customer: Value = app.create(&acme()).await;
    let customer_id = Uuid::parse_str(customer["id"].as_str().unwrap()).unwrap();
    let token = scoped_token(&customer_id.to_string(), &["viewer"]);

    let screenshots = repository().join("target/browser");
    std::fs::create_dir_all(&screenshots).unwrap();
    let script = repository().join("tests/browser/connect_page.py");
    let run = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("WARP_BASE", &address)
            .env("WARP_TOKEN", &token)
            .env("CONNECT_PORTAL", CUSTOMER_PORTAL.to_string())
            .env("CHROMIUM", &chromium)
            .env("SCREENSHOT_DIR", &screenshots)
            .output()
            .expect("the browser script runs")
    })
    .await
    .unwrap();
    assert!(
        run.status.success(),
        "the browser run failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );

    // What the clicks did: the customer's portal was connected for that customer, then
    // disconnected (revoked at HubSpot too); the declined attempt connected nothing more.
    let client = database.client().await.unwrap();
    let all = installations::list(&**client).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    let installation = &all[0];
    assert_eq!(installation.portal_id, CUSTOMER_PORTAL);
    assert_eq!(installation.role.customer_id(), Some(customer_id));
    assert_eq!(installation.status, InstallationStatus::Revoked);
    let counters: Value = reqwest::get(format!("{}/_sandbox/oauth", sandbox.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["counters"]["codes_exchanged"], 1);
    assert_eq!(counters["counters"]["revocations"], 1);
}
