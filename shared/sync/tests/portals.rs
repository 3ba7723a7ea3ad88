//! Outbox rows of several portals through the real parts: Postgres, the sandbox with three
//! portals (the home one with a static token, two customer portals installed through OAuth),
//! and `PortalWorkers` sending each row with its portal's token and budget. Isolation
//! (DESIGN §7, guarantee 8): a row reaches its own portal only, and a portal that needs
//! reconnecting holds up no other.

use std::sync::Arc;
use std::time::Duration;

use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::json;
use warp_domain::sync::ObjectType;
use warp_store::installations::{self, InstallationRole, InstallationStatus};
use warp_store::outbox::{self, OutboxOperation};
use warp_store::{CustomerStore, Database};
use warp_sync::outbound::OutboundWorker;
use warp_sync::portals::{InstalledPortals, PortalWorkers};
use warp_testkit::{PORTAL, Sql, hubspot, oauth, records};

const REDIRECT: &str = "http://127.0.0.1:9/v1/hubspot/oauth/callback";
const FIRST: i64 = 7001;
const SECOND: i64 = 7002;

fn calls_to(sandbox: &SandboxHandle, portal: i64) -> u64 {
    sandbox
        .stats()
        .requests_by_portal
        .get(&portal.to_string())
        .copied()
        .unwrap_or(0)
}

async fn enqueue(database: &Database, portal: i64, customers: &[uuid::Uuid]) -> Vec<i64> {
    let client = database.client().await.unwrap();
    let records: Vec<(uuid::Uuid, i64)> = customers.iter().map(|id| (*id, 1)).collect();
    outbox::enqueue_many(
        &**client,
        portal,
        ObjectType::Companies,
        OutboxOperation::Resync,
        &records,
    )
    .await
    .unwrap()
    .into_iter()
    .map(|(_, id)| id)
    .collect()
}

/// A sandbox with WARP's properties in the home portal and in two customer portals installed
/// through OAuth (owned by the first two of `customers` customers), and the home worker.
struct World {
    sandbox: SandboxHandle,
    database: Database,
    app: warp_installations::OAuthApp,
    keyring: Arc<warp_installations::TokenKeyring>,
    ids: Vec<uuid::Uuid>,
    /// The customers' own home rows (their creation).
    home_rows: Vec<i64>,
    home: Option<OutboundWorker>,
}

async fn world(customers: usize) -> World {
    let sandbox = hubspot::sandbox(SandboxConfig::default()).await;
    let database = warp_testkit::fresh_database().await;
    let settings = hubspot::settings(100, 10_000);
    let home_client = hubspot::client_with_warp_properties(&sandbox, settings).await;
    let app = oauth::app(
        &sandbox,
        REDIRECT,
        &["oauth", "crm.objects.companies.write"],
    );
    let keyring = oauth::keyring();
    let store = CustomerStore::new(database.clone(), PORTAL);
    let (mut ids, mut home_rows) = (Vec::new(), Vec::new());
    for index in 0..customers {
        let created = records::create_customer(
            &store,
            &records::customer_body(&format!("Portal Test {index}")),
        )
        .await;
        ids.push(created.id);
        home_rows.push(created.outbox_id.unwrap());
    }
    for (portal, owner) in [(FIRST, ids[0]), (SECOND, ids[1])] {
        oauth::install(
            &sandbox,
            &database,
            &app,
            &keyring,
            portal,
            InstallationRole::Customer(owner),
        )
        .await;
        // The properties the rows need, made in that portal with its own token.
        let client = hubspot::client(&hubspot::client_config(&sandbox, settings)).with_credentials(
            Arc::new(warp_installations::InstallationCredentials::new(
                portal,
                database.clone(),
                Arc::clone(&keyring),
                app.clone(),
            )),
        );
        warp_hubspot::ensure_warp_properties(&client).await.unwrap();
    }
    let home = OutboundWorker::new(
        database.clone(),
        home_client,
        PORTAL,
        warp_store::sync_config::MappingSource::read_every_time(database.clone(), PORTAL)
            .await
            .unwrap(),
    );
    World {
        sandbox,
        database,
        app,
        keyring,
        ids,
        home_rows,
        home: Some(home),
    }
}

impl World {
    /// Every portal's workers on the production settings (110 / 10 s per customer portal).
    fn workers(&mut self) -> PortalWorkers {
        PortalWorkers::new(
            self.home.take().expect("one set of workers per world"),
            InstalledPortals {
                app: self.app.clone(),
                keyring: Arc::clone(&self.keyring),
                client_config: hubspot::client_config(
                    &self.sandbox,
                    hubspot::settings(100, 10_000),
                ),
                default_rate_limit_max: 110,
                mapping_max_age: Duration::ZERO,
            },
        )
    }
}

#[tokio::test]
async fn each_portals_rows_go_to_that_portal_only_and_a_disconnected_portal_stalls_no_other() {
    let mut world = world(4).await;
    let workers = world.workers();
    let World {
        sandbox,
        database,
        ids,
        home_rows,
        ..
    } = &world;
    let mut first_rows = enqueue(database, FIRST, &ids[..3]).await;
    // A user's contact row for a customer portal: users go to the home portal only.
    let users = warp_store::users::UserStore::new(database.clone(), PORTAL);
    let user = records::create_user(&users, ids[0], "ada@portal.example", "Ada").await;
    let contact_row = {
        let client = database.client().await.unwrap();
        outbox::enqueue(
            &**client,
            FIRST,
            ObjectType::Contacts,
            user,
            OutboxOperation::Resync,
            1,
        )
        .await
        .unwrap()
    };
    first_rows.push(contact_row);
    // The user's own home row is left alone here.
    database
        .execute(&format!(
            "DELETE FROM hubspot_sync_queue WHERE object_type = 'contacts' AND portal_id = {PORTAL}"
        ))
        .await;
    let second_rows = enqueue(database, SECOND, &ids[2..]).await;

    // The second portal removes the app; its stored token has run out, so the next call
    // refreshes, is refused, and the installation needs reconnecting.
    let answer = reqwest::Client::new()
        .post(format!("{}/_sandbox/oauth/uninstall", sandbox.base_url()))
        .json(&json!({"portal_id": SECOND}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
    database
        .execute(&format!(
            "UPDATE hubspot_installations SET access_token_expires_at = now() - interval '1 minute' \
             WHERE portal_id = {SECOND}"
        ))
        .await;

    let mut every_row: Vec<i64> = home_rows
        .iter()
        .chain(&first_rows)
        .chain(&second_rows)
        .copied()
        .collect();
    every_row.sort_unstable();
    // A push to a customer's portal leaves the home portal's rows of that customer alone: the
    // home portal has not seen the change (a row is superseded only within its own portal).
    let first_alone = workers.process(&first_rows[..1]).await;
    assert_eq!(first_alone.succeeded, first_rows[..1], "{first_alone:?}");
    assert_eq!(
        database
            .text(&format!(
                "SELECT status FROM hubspot_sync_queue WHERE id = {}",
                home_rows[0]
            ))
            .await
            .as_deref(),
        Some("PENDING")
    );
    let second_calls_before = calls_to(sandbox, SECOND);
    let report = workers.process(&every_row).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.succeeded, every_row);

    // Home and the first portal hold what was sent to them, and nothing else.
    assert_eq!(hubspot::records_in(sandbox, PORTAL, "companies").await, 4);
    assert_eq!(hubspot::records_in(sandbox, FIRST, "companies").await, 3);
    assert_eq!(hubspot::records_in(sandbox, SECOND, "companies").await, 0);
    let done = |portal: i64| {
        format!(
            "SELECT count(*) FROM hubspot_sync_queue WHERE portal_id = {portal} AND status = 'DONE'"
        )
    };
    assert_eq!(database.scalar(&done(PORTAL)).await, 4);
    assert_eq!(database.scalar(&done(FIRST)).await, 4);
    assert_eq!(
        database
            .scalar(&format!(
                "SELECT count(*) FROM hubspot_links WHERE portal_id = {FIRST} AND object_type = 'contacts'"
            ))
            .await,
        0,
        "the user was not sent to the customer's portal"
    );
    // Each portal's links are its own HubSpot ids.
    assert_eq!(
        database
            .scalar(&format!(
                "SELECT count(*) FROM hubspot_links WHERE portal_id = {FIRST} AND object_type = 'companies'"
            ))
            .await,
        3
    );
    assert_eq!(
        database
            .scalar(&format!(
                "SELECT count(*) FROM hubspot_links a JOIN hubspot_links b \
                 ON a.local_id = b.local_id AND a.object_type = b.object_type \
                 WHERE a.portal_id = {PORTAL} AND b.portal_id = {FIRST} AND a.hubspot_id = b.hubspot_id"
            ))
            .await,
        0,
        "the same record has a different HubSpot id in each portal"
    );

    // The second portal's rows wait, none lost or failed for good, none sent anywhere.
    let client = database.client().await.unwrap();
    let second = installations::get(&**client, SECOND)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.status, InstallationStatus::NeedsReconnect);
    assert_eq!(
        database
            .scalar(&format!(
                "SELECT count(*) FROM hubspot_sync_queue WHERE portal_id = {SECOND} \
                 AND status = 'PENDING' AND next_attempt_at > now()"
            ))
            .await,
        2
    );
    assert_eq!(calls_to(sandbox, SECOND), second_calls_before);
    // And the relay leaves them alone until the portal is reconnected.
    let relayed = outbox::due_for_relay(database, Duration::ZERO, 100, 10)
        .await
        .unwrap();
    assert!(relayed.iter().all(|id| !second_rows.contains(id)));
}

/// The local loops run each portal at its own pace: a customer portal whose budget is blocked
/// (HubSpot throttled it) holds up neither the home portal nor another customer portal.
#[tokio::test]
async fn a_throttled_portal_holds_up_no_other_portals_loop() {
    let mut world = world(3).await;
    let workers = Arc::new(world.workers());
    let World {
        sandbox,
        database,
        ids,
        ..
    } = &world;
    // HubSpot throttled the first portal for a minute: its bucket is blocked.
    database
        .execute(&format!(
            "INSERT INTO hubspot_rate_limit_budget (portal_id, bucket, capacity, interval_ms, tokens, blocked_until) \
             VALUES ({FIRST}, 'default', 2, 10000, 0, now() + interval '60 seconds') \
             ON CONFLICT (portal_id, bucket) DO UPDATE SET blocked_until = EXCLUDED.blocked_until, tokens = 0"
        ))
        .await;
    enqueue(database, FIRST, ids).await;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let loops = tokio::spawn(warp_sync::portals::run_portal_loops(
        Arc::clone(&workers),
        Duration::from_millis(50),
        async move {
            let _ = stopped.await;
        },
    ));
    // Once the throttled portal's pass is waiting for its budget, more work arrives for the
    // others: it must not wait for that pass.
    tokio::time::sleep(Duration::from_secs(1)).await;
    enqueue(database, PORTAL, ids).await;
    enqueue(database, SECOND, ids).await;
    let open = |portal: i64| {
        format!(
            "SELECT count(*) FROM hubspot_sync_queue WHERE portal_id = {portal} AND status <> 'DONE'"
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while database.scalar(&open(PORTAL)).await + database.scalar(&open(SECOND)).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the home and second portals waited for the throttled one"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(hubspot::records_in(sandbox, PORTAL, "companies").await, 3);
    assert_eq!(hubspot::records_in(sandbox, SECOND, "companies").await, 3);
    // The throttled portal's rows are still there, waiting for its budget.
    assert_eq!(database.scalar(&open(FIRST)).await, 3);
    assert_eq!(hubspot::records_in(sandbox, FIRST, "companies").await, 0);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), loops)
        .await
        .expect("the loops stop on shutdown")
        .unwrap();
}
