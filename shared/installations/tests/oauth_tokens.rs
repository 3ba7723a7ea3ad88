//! OAuth installations through the real parts: the sandbox's consent form and token endpoint,
//! Postgres rows with sealed tokens, and WARP's HubSpot client calling with them.

use std::sync::Arc;

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use warp_hubspot::{AccessTokens, CredentialsError, HubSpotError};
use warp_installations::{
    HomeCredentials, InstallationCredentials, OAuthApp, TokenKeyring, seal_grant,
};
use warp_store::Database;
use warp_store::installations::{
    self, InstallationRole, InstallationStatus, OAuthConnection, TokenSource,
};
use warp_testkit::database::{Sql, fresh_database};
use warp_testkit::hubspot::{self, PORTAL};
use warp_testkit::records;
use warp_testkit::{Consent, HubSpotUi, oauth};

const REDIRECT: &str = "http://127.0.0.1:9/v1/hubspot/oauth/callback";

struct Setup {
    sandbox: SandboxHandle,
    database: Database,
    app: OAuthApp,
    keyring: Arc<TokenKeyring>,
}

async fn setup() -> Setup {
    let sandbox = hubspot::sandbox(SandboxConfig::default()).await;
    Setup {
        app: oauth::app(&sandbox, REDIRECT, &["oauth", "crm.objects.companies.read"]),
        keyring: oauth::keyring(),
        database: fresh_database().await,
        sandbox,
    }
}

/// Connects the sandbox's portal as the home installation, the way the callback will.
async fn connect_home(setup: &Setup) {
    let link = setup.app.install_link("state-1");
    let back = HubSpotUi::new(&setup.sandbox)
        .consent(&link.url, Consent::Approve)
        .await;
    let query: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "state-1");
    let grant = setup
        .app
        .exchange_code(&query["code"], &link.pkce_verifier)
        .await
        .unwrap();
    assert_eq!(grant.hub_id, Some(PORTAL));
    let (tokens, _) = seal_grant(&setup.keyring, PORTAL, &grant);
    let client = setup.database.client().await.unwrap();
    installations::save_oauth(
        &**client,
        &OAuthConnection {
            portal_id: PORTAL,
            role: InstallationRole::Home,
            scopes: grant.scopes.clone(),
            hub_domain: None,
            connected_by: "admin@warp.example".into(),
            tokens,
        },
    )
    .await
    .unwrap();
}

/// WARP's client for the sandbox, calling with the installation's OAuth tokens.
fn oauth_client(setup: &Setup) -> warp_hubspot::HubSpotClient {
    hubspot::client(&hubspot::client_config(
        &setup.sandbox,
        hubspot::settings(100, 10_000),
    ))
    .with_credentials(Arc::new(credentials(setup)))
}

/// One page of companies: any call that needs a token.
async fn list_companies(
    client: &warp_hubspot::HubSpotClient,
) -> Result<warp_hubspot::Page<warp_hubspot::HubSpotRecord>, HubSpotError> {
    client
        .companies()
        .list_page(&Default::default(), None)
        .await
}

fn credentials(setup: &Setup) -> InstallationCredentials {
    InstallationCredentials::new(
        PORTAL,
        setup.database.clone(),
        Arc::clone(&setup.keyring),
        setup.app.clone(),
    )
}

async fn oauth_counters(sandbox: &SandboxHandle) -> Value {
    reqwest::get(format!("{}/_sandbox/oauth", sandbox.base_url()))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["counters"]
        .clone()
}

async fn set_oauth(sandbox: &SandboxHandle, body: Value) {
    let answer = reqwest::Client::new()
        .post(format!("{}/_sandbox/oauth", sandbox.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

async fn expire_stored_token(database: &Database) {
    database
        .execute(
            "UPDATE hubspot_installations \
             SET access_token_expires_at = now() - interval '1 minute'",
        )
        .await;
}

#[tokio::test]
async fn a_connected_portal_is_called_with_its_own_tokens_sealed_at_rest() {
    let setup = setup().await;
    connect_home(&setup).await;

    let client = oauth_client(&setup);
    // The configured token is the sandbox's static one; the OAuth token is what is sent.
    let page = list_companies(&client).await.unwrap();
    assert!(page.results.is_empty());
    let stats = setup.sandbox.state().stats();
    assert_eq!(stats.requests_by_token.get("app"), Some(&1));

    // Neither token is stored in clear.
    let token = credentials(&setup).token().await.unwrap();
    let sealed: Vec<u8> = setup
        .database
        .one("SELECT access_token_sealed FROM hubspot_installations")
        .await;
    let plain = token.expose_secret().as_bytes();
    assert!(!sealed.windows(plain.len()).any(|w| w == plain));
    let row = installations::get(&**setup.database.client().await.unwrap(), PORTAL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.token_source, TokenSource::OAuth);
    assert_eq!(row.scopes, ["oauth", "crm.objects.companies.read"]);
    assert!(!format!("{row:?}").contains(token.expose_secret()));
}

#[tokio::test]
async fn twenty_workers_whose_token_expires_together_make_one_refresh() {
    let setup = setup().await;
    connect_home(&setup).await;
    expire_stored_token(&setup.database).await;
    let before = oauth_counters(&setup.sandbox).await;
    assert_eq!(before["refreshes"], 0);

    // Twenty processes: each its own credentials (own cache), one database and one HubSpot.
    let workers: Vec<_> = (0..20).map(|_| credentials(&setup)).collect();
    let tokens = futures::future::join_all(workers.iter().map(|w| w.token())).await;
    let tokens: Vec<String> = tokens
        .into_iter()
        .map(|t| t.unwrap().expose_secret().to_owned())
        .collect();
    assert!(
        tokens.windows(2).all(|pair| pair[0] == pair[1]),
        "one token for all"
    );

    let after = oauth_counters(&setup.sandbox).await;
    assert_eq!(after["refreshes"], 1, "{after}");
    let refreshes_recorded = setup
        .database
        .scalar(
            "SELECT refresh_count FROM hubspot_installations WHERE last_refreshed_at IS NOT NULL",
        )
        .await;
    assert_eq!(refreshes_recorded, 1);

    // The refreshed token works.
    let client = oauth_client(&setup);
    list_companies(&client).await.unwrap();
}

#[tokio::test]
async fn a_refused_refresh_marks_the_installation_for_reconnecting_and_calls_wait() {
    let setup = setup().await;
    connect_home(&setup).await;
    expire_stored_token(&setup.database).await;
    set_oauth(&setup.sandbox, json!({"refuse_refresh": true})).await;

    let client = oauth_client(&setup);
    let error = list_companies(&client).await.unwrap_err();
    assert!(
        matches!(
            &error,
            HubSpotError::Credentials(CredentialsError::NeedsReconnect {
                portal_id: PORTAL,
                ..
            })
        ),
        "{error}"
    );
    assert!(!error.is_retryable());
    assert!(error.request_was_not_applied());
    let row = installations::get(&**setup.database.client().await.unwrap(), PORTAL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, InstallationStatus::NeedsReconnect);
    assert!(row.last_error.unwrap().contains("invalid_grant"));
    // Nothing reached HubSpot's API; later callers stop at the status without asking again.
    assert_eq!(setup.sandbox.state().stats().requests_total, 0);
    let refused = oauth_counters(&setup.sandbox).await["refreshes_refused"].clone();
    assert!(matches!(
        credentials(&setup).token().await,
        Err(CredentialsError::NeedsReconnect { .. })
    ));
    assert_eq!(
        oauth_counters(&setup.sandbox).await["refreshes_refused"],
        refused
    );

    // Reconnecting makes it active again.
    set_oauth(&setup.sandbox, json!({"refuse_refresh": false})).await;
    connect_home(&setup).await;
    list_companies(&client).await.unwrap();
}

#[tokio::test]
async fn an_app_uninstalled_mid_run_is_learnt_from_the_401_and_the_refused_refresh() {
    let setup = setup().await;
    connect_home(&setup).await;
    let client = oauth_client(&setup);
    list_companies(&client).await.unwrap();

    let uninstall = reqwest::Client::new()
        .post(format!(
            "{}/_sandbox/oauth/uninstall",
            setup.sandbox.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(uninstall.status(), 204);
    let error = list_companies(&client).await.unwrap_err();
    assert!(
        matches!(
            error,
            HubSpotError::Credentials(CredentialsError::NeedsReconnect { .. })
        ),
        "{error}"
    );
    let status: String = setup
        .database
        .one("SELECT status FROM hubspot_installations")
        .await;
    assert_eq!(status, "needs_reconnect");
}

#[tokio::test]
async fn a_denied_consent_comes_back_with_access_denied_and_no_code() {
    let setup = setup().await;
    let link = setup.app.install_link("state-9");
    let back = HubSpotUi::new(&setup.sandbox)
        .consent(&link.url, Consent::Deny)
        .await;
    let query: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "state-9");
    assert!(!query.contains_key("code"));
    assert_eq!(oauth_counters(&setup.sandbox).await["codes_issued"], 0);
}

#[tokio::test]
async fn the_home_portal_follows_its_installation_from_static_token_to_oauth() {
    let setup = setup().await;
    let static_token = SecretString::from(hubspot::APP_TOKEN.to_owned());
    let home = HomeCredentials::new(
        PORTAL,
        setup.database.clone(),
        Some(static_token),
        Some(credentials(&setup)),
    );
    // First use records the static home installation and uses the configured token.
    assert_eq!(
        home.token().await.unwrap().expose_secret(),
        hubspot::APP_TOKEN
    );
    let source: String = setup
        .database
        .one("SELECT token_source FROM hubspot_installations WHERE role = 'home'")
        .await;
    assert_eq!(source, "static");

    // The same portal connected through OAuth keeps its row (and so its links) and a new
    // process takes OAuth tokens.
    connect_home(&setup).await;
    let count: i64 = setup
        .database
        .scalar("SELECT count(*) FROM hubspot_installations")
        .await;
    assert_eq!(count, 1);
    let fresh = HomeCredentials::new(
        PORTAL,
        setup.database.clone(),
        Some(SecretString::from(hubspot::APP_TOKEN.to_owned())),
        Some(credentials(&setup)),
    );
    let token = fresh.token().await.unwrap();
    assert!(
        token.expose_secret().starts_with("access-"),
        "an OAuth token"
    );

    // A portal recorded as home cannot become a customer's through a connect.
    let client = setup.database.client().await.unwrap();
    let grant = warp_installations::TokenGrant {
        access_token: SecretString::from("a".to_owned()),
        refresh_token: SecretString::from("r".to_owned()),
        expires_in: std::time::Duration::from_secs(60),
        hub_id: Some(PORTAL),
        scopes: vec![],
    };
    let (tokens, _) = seal_grant(&setup.keyring, PORTAL, &grant);
    let store = warp_store::CustomerStore::new(setup.database.clone(), PORTAL);
    let customer = records::create_customer(&store, &records::customer_body("Acme")).await;
    let refused = installations::save_oauth(
        &**client,
        &OAuthConnection {
            portal_id: PORTAL,
            role: InstallationRole::Customer(customer.id),
            scopes: vec![],
            hub_domain: None,
            connected_by: "someone".into(),
            tokens,
        },
    )
    .await;
    assert!(refused.is_err());
}
