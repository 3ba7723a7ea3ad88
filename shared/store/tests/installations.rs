//! `hubspot_installations` against a real database: what HubSpot granted is stored even when
//! it holds a character Postgres refuses, and a reconnect makes the portal's waiting rows due.

use chrono::Utc;
use warp_store::installations::{self, InstallationRole, OAuthConnection, SealedTokens};
use warp_testkit::database::{Sql, fresh_database};

const PORTAL: i64 = 7002;

fn connection(scopes: Vec<String>) -> OAuthConnection {
    OAuthConnection {
        portal_id: PORTAL,
        role: InstallationRole::Home,
        scopes,
        hub_domain: Some("warp\0.hubspot.com".into()),
        connected_by: "admin\0@warp.example".into(),
        tokens: SealedTokens {
            access_token: vec![1, 2, 3],
            refresh_token: vec![4, 5, 6],
            key_id: "k1".into(),
            access_token_expires_at: Utc::now(),
        },
    }
}

#[tokio::test]
async fn hubspots_words_with_a_nul_are_stored_with_the_replacement_character() {
    let database = fresh_database().await;
    let client = database.client().await.unwrap();
    let saved = installations::save_oauth(
        &**client,
        &connection(vec!["oauth".into(), "crm\0.objects".into()]),
    )
    .await
    .unwrap();
    assert_eq!(saved.scopes, ["oauth", "crm\u{FFFD}.objects"]);
    assert_eq!(
        saved.hub_domain.as_deref(),
        Some("warp\u{FFFD}.hubspot.com")
    );
    assert_eq!(
        saved.connected_by.as_deref(),
        Some("admin\u{FFFD}@warp.example")
    );
}

#[tokio::test]
async fn a_reconnect_makes_only_that_portals_waiting_rows_due() {
    let database = fresh_database().await;
    database
        .execute(&format!(
            "INSERT INTO customers (id, ban, company_name, customer_type) \
             SELECT gen_random_uuid(), 'BN-00000000' || i, 'Customer ' || i, 'POSTPAID' \
             FROM generate_series(1, 3) AS i;
             INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, \
                 local_version, next_attempt_at) \
             SELECT CASE WHEN ban = 'BN-000000003' THEN 1 ELSE {PORTAL} END, 'companies', id, \
                 'UPDATE', version, \
                 CASE WHEN ban = 'BN-000000002' THEN now() - interval '1 hour' \
                      ELSE now() + interval '1 hour' END \
             FROM customers;"
        ))
        .await;
    let client = database.client().await.unwrap();
    let resumed = warp_store::outbox::resume_portal(&**client, PORTAL)
        .await
        .unwrap();
    assert_eq!(resumed, 1);
    let waiting = database
        .scalar("SELECT count(*) FROM hubspot_sync_queue WHERE next_attempt_at > now()")
        .await;
    assert_eq!(waiting, 1, "the other portal's row still waits");
}
