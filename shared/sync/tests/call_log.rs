//! Finished calls logged in HubSpot (issue 21) through the real parts: Postgres, the sandbox
//! (the home portal with a static token, a customer portal installed through OAuth) and the
//! real client. A call is found its contact by the number however a person typed it, written
//! once whatever is retried, and waits while its portal is away.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use warp_domain::call::calls_from_json;
use warp_hubspot::{CrmObject, HubSpotClient, HubSpotId};
use warp_store::calls::{self, Taken};
use warp_store::installations::InstallationRole;
use warp_store::{CustomerStore, Database};
use warp_sync::call_log::{CallLogSettings, CallLogger};
use warp_sync::portals::InstalledPortals;
use warp_testkit::{PORTAL, Sql, hubspot, oauth, records};

const REDIRECT: &str = "http://127.0.0.1:9/v1/hubspot/oauth/callback";
const CUSTOMER_PORTAL: i64 = 7101;

struct World {
    sandbox: SandboxHandle,
    database: Database,
    home: HubSpotClient,
    app: warp_installations::OAuthApp,
    keyring: Arc<warp_installations::TokenKeyring>,
    customer: uuid::Uuid,
}

async fn world() -> World {
    let sandbox = hubspot::sandbox(SandboxConfig::default()).await;
    let database = warp_testkit::fresh_database().await;
    let home = hubspot::client_with_warp_properties(&sandbox, hubspot::settings(100, 10_000)).await;
    let store = CustomerStore::new(database.clone(), PORTAL);
    let customer = records::create_customer(&store, &records::customer_body("Calls Test"))
        .await
        .id;
    World {
        app: oauth::app(&sandbox, REDIRECT, &["oauth", "crm.objects.contacts.write"]),
        keyring: oauth::keyring(),
        sandbox,
        database,
        home,
        customer,
    }
}

impl World {
    fn logger(&self, home_for_unconnected: bool) -> CallLogger {
        CallLogger::new(
            self.database.clone(),
            self.home.clone(),
            PORTAL,
            Some(InstalledPortals {
                app: self.app.clone(),
                keyring: Arc::clone(&self.keyring),
                client_config: hubspot::client_config(
                    &self.sandbox,
                    hubspot::settings(100, 10_000),
                ),
                default_rate_limit_max: 110,
                mapping_max_age: Duration::ZERO,
            }),
            CallLogSettings {
                home_for_unconnected,
                retry: warp_sync::work_items::RetryPolicy {
                    base: Duration::from_millis(1),
                    ..Default::default()
                },
                ..CallLogSettings::default()
            },
        )
    }

    /// The customer's own portal, installed through OAuth, with WARP's properties; its client.
    async fn connect_customer_portal(&self) -> HubSpotClient {
        oauth::install(
            &self.sandbox,
            &self.database,
            &self.app,
            &self.keyring,
            CUSTOMER_PORTAL,
            InstallationRole::Customer(self.customer),
        )
        .await;
        let client = hubspot::client(&hubspot::client_config(
            &self.sandbox,
            hubspot::settings(100, 10_000),
        ))
        .with_credentials(Arc::new(warp_installations::InstallationCredentials::new(
            CUSTOMER_PORTAL,
            self.database.clone(),
            Arc::clone(&self.keyring),
            self.app.clone(),
        )));
        warp_hubspot::ensure_warp_properties(&client).await.unwrap();
        client
    }

    async fn take_in(&self, call_id: &str, to: &str, summary: Option<&str>) {
        let body = serde_json::json!({"call_id": call_id, "customer_id": self.customer,
            "direction": "OUTBOUND", "from": "+14155550100", "to": to,
            "started_at": "2026-12-04T10:00:00Z", "duration_ms": 65000, "outcome": "COMPLETED",
            "recording_url": "https://recordings.example/x.wav", "summary": summary});
        let parsed =
            calls_from_json(&body, Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap()).unwrap();
        let taken = calls::take_in(&self.database, &parsed)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken, [Taken::Queued]);
    }

    async fn call(&self, call_id: &str) -> calls::StoredCall {
        calls::get(&self.database, call_id).await.unwrap().unwrap()
    }
}

/// A contact with `phone` (as a person typed it) at a new company, made in `client`'s portal.
async fn contact_with_phone(client: &HubSpotClient, phone: &str) -> (String, String) {
    let company = client
        .objects(CrmObject::Companies)
        .create(&BTreeMap::from([(
            "name".to_owned(),
            "Called Corp".to_owned(),
        )]))
        .await
        .unwrap();
    let contact = client
        .objects(CrmObject::Contacts)
        .create(&BTreeMap::from([
            (
                "email".to_owned(),
                format!("{}@called.example", phone.len()),
            ),
            ("phone".to_owned(), phone.to_owned()),
        ]))
        .await
        .unwrap();
    client
        .associations(CrmObject::Contacts, CrmObject::Companies)
        .associate_default(&contact.id, &company.id)
        .await
        .unwrap();
    (
        contact.id.as_str().to_owned(),
        company.id.as_str().to_owned(),
    )
}

/// The ids the record `id` (of `from`) is associated with in `to`, read in `client`'s portal.
async fn associated(
    client: &HubSpotClient,
    from: CrmObject,
    id: &str,
    to: CrmObject,
) -> Vec<String> {
    let read = client
        .associations(from, to)
        .batch_read(&[HubSpotId::parse(id.to_owned()).unwrap()])
        .await;
    assert!(read.failed_calls.is_empty(), "{:?}", read.failed_calls);
    read.results
        .iter()
        .flat_map(|links| links.to.iter().map(|link| link.to_object_id.clone()))
        .collect()
}

#[tokio::test]
async fn a_call_finds_the_contact_typed_with_punctuation_and_a_retry_never_doubles_it() {
    let world = world().await;
    let (contact, company) = contact_with_phone(&world.home, "(303) 555-1234").await;
    world
        .database
        .execute(&format!(
            "UPDATE customers SET external_ids = jsonb_build_object('hubspot_company_id', '{company}') \
             WHERE id = '{}'",
            world.customer
        ))
        .await;
    world
        .take_in("c-81f2", "+13035551234", Some("Asked for a <demo>"))
        .await;
    let logger = world.logger(true);

    let report = logger.log_due(100).await.unwrap();
    assert_eq!(
        (report.logged, report.searches),
        (1, 1),
        "{report:?} {:?}",
        world.call("c-81f2").await
    );
    let logged = world.call("c-81f2").await;
    assert_eq!(logged.status, "success", "{logged:?}");
    assert_eq!(logged.contact_id.as_deref(), Some(contact.as_str()));
    assert_eq!(logged.portal_id, Some(PORTAL));
    let engagement = logged.engagement_id.clone().unwrap();
    let note = logged.note_id.clone().unwrap();
    assert_eq!(
        associated(
            &world.home,
            CrmObject::Calls,
            &engagement,
            CrmObject::Contacts
        )
        .await,
        vec![contact.clone()]
    );
    assert_eq!(
        associated(
            &world.home,
            CrmObject::Calls,
            &engagement,
            CrmObject::Companies
        )
        .await,
        vec![company.clone()]
    );
    assert_eq!(
        associated(&world.home, CrmObject::Notes, &note, CrmObject::Contacts).await,
        vec![contact.clone()]
    );
    let written = world
        .home
        .objects(CrmObject::Calls)
        .get(
            &warp_hubspot::RecordLookup::Id(HubSpotId::parse(engagement.clone()).unwrap()),
            &warp_hubspot::ReadOptions::properties([
                "warp_call_id",
                "hs_call_duration",
                "hs_call_status",
                "hs_call_to_number",
            ]),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(written.property("warp_call_id"), Some("c-81f2"));
    assert_eq!(written.property("hs_call_duration"), Some("65000"));
    assert_eq!(written.property("hs_call_status"), Some("COMPLETED"));

    // The pass died after HubSpot had the call, before it was recorded: the retry finds the
    // same engagement and note by their unique ids, and the number from memory.
    world
        .database
        .execute(
            "UPDATE calls SET status = 'pending', next_attempt_at = now(), engagement_id = NULL",
        )
        .await;
    let again = logger.log_due(100).await.unwrap();
    assert_eq!((again.logged, again.searches), (1, 0), "{again:?}");
    let relogged = world.call("c-81f2").await;
    assert_eq!(relogged.engagement_id.as_deref(), Some(engagement.as_str()));
    assert_eq!(relogged.note_id.as_deref(), Some(note.as_str()));
    assert_eq!(
        hubspot::records_in(&world.sandbox, PORTAL, "calls").await,
        1,
        "one engagement, however often it is sent"
    );
}

#[tokio::test]
async fn a_remembered_contact_deleted_since_is_searched_again_not_logged_without_it() {
    let world = world().await;
    let (contact, _) = contact_with_phone(&world.home, "303.555.1234").await;
    world.take_in("c-1", "+13035551234", None).await;
    let logger = world.logger(true);
    assert_eq!(logger.log_due(100).await.unwrap().logged, 1);

    // Someone deletes the contact in HubSpot; its number is still remembered.
    world
        .home
        .objects(CrmObject::Contacts)
        .archive(&HubSpotId::parse(contact).unwrap())
        .await
        .unwrap();
    world.take_in("c-2", "+13035551234", None).await;
    let report = logger.log_due(100).await.unwrap();
    assert_eq!((report.logged, report.retrying), (0, 1), "{report:?}");
    let pending = world.call("c-2").await;
    assert_eq!(pending.status, "pending");
    assert!(
        pending
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("associating the call"),
        "{pending:?}"
    );
    // The next pass asks HubSpot again, and no contact has the number now.
    world
        .database
        .execute("UPDATE calls SET next_attempt_at = now()")
        .await;
    let report = logger.log_due(100).await.unwrap();
    assert_eq!((report.searches, report.skipped), (1, 1), "{report:?}");
    assert_eq!(world.call("c-2").await.status, "skipped");
}

#[tokio::test]
async fn a_number_no_contact_has_is_skipped_with_the_reason_and_so_is_a_customer_without_a_portal()
{
    let world = world().await;
    world.take_in("c-1", "+13035559999", None).await;
    let report = world.logger(true).log_due(100).await.unwrap();
    assert_eq!(report.skipped, 1, "{report:?}");
    let skipped = world.call("c-1").await;
    assert_eq!(skipped.status, "skipped");
    assert_eq!(
        skipped.reason.as_deref(),
        Some("no HubSpot contact has the number +13035559999")
    );

    world.take_in("c-2", "+13035559999", None).await;
    let report = world.logger(false).log_due(100).await.unwrap();
    assert_eq!((report.skipped, report.searches), (1, 0), "{report:?}");
    let reason = world.call("c-2").await.reason.unwrap();
    assert!(reason.contains("no connected HubSpot portal"), "{reason}");
    assert_eq!(
        hubspot::records_in(&world.sandbox, PORTAL, "calls").await,
        0
    );
}

#[tokio::test]
async fn calls_wait_while_the_customers_portal_needs_reconnecting_and_are_logged_once_after() {
    let world = world().await;
    let portal = world.connect_customer_portal().await;
    let (contact, company) = contact_with_phone(&portal, "+1 303 555 1234").await;
    let logger = world.logger(false);
    world.take_in("c-a", "+13035551234", None).await;
    assert_eq!(logger.log_due(100).await.unwrap().logged, 1);

    // The customer removes the app mid-stream; the stored token has run out, so the next
    // write refreshes it, is refused, and the next calls wait, their attempts kept.
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/_sandbox/oauth/uninstall",
            world.sandbox.base_url()
        ))
        .json(&serde_json::json!({"portal_id": CUSTOMER_PORTAL}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
    world
        .database
        .execute(&format!(
            "UPDATE hubspot_installations SET access_token_expires_at = now() - interval '1 minute' \
             WHERE portal_id = {CUSTOMER_PORTAL}"
        ))
        .await;
    world
        .take_in("c-b", "+13035551234", Some("while away"))
        .await;
    world.take_in("c-c", "+13035551234", None).await;
    let report = logger.log_due(100).await.unwrap();
    assert_eq!(report.waiting, 2, "{report:?}");
    let waiting = world.call("c-b").await;
    assert_eq!(
        (waiting.status.as_str(), waiting.attempts),
        ("pending", 0),
        "{waiting:?}"
    );
    // Looked at again while the portal still needs reconnecting: they keep waiting.
    world
        .database
        .execute("UPDATE calls SET next_attempt_at = now()")
        .await;
    let report = logger.log_due(100).await.unwrap();
    assert_eq!(report.waiting, 2, "{report:?}");
    assert!(
        world
            .call("c-c")
            .await
            .reason
            .unwrap()
            .contains("reconnected")
    );

    // Connected again: each is logged, once, on the contact there.
    oauth::install(
        &world.sandbox,
        &world.database,
        &world.app,
        &world.keyring,
        CUSTOMER_PORTAL,
        InstallationRole::Customer(world.customer),
    )
    .await;
    world
        .database
        .execute("UPDATE calls SET next_attempt_at = now()")
        .await;
    let report = logger.log_due(100).await.unwrap();
    assert_eq!(report.logged, 2, "{report:?}");
    for id in ["c-a", "c-b", "c-c"] {
        let call = world.call(id).await;
        assert_eq!(call.portal_id, Some(CUSTOMER_PORTAL));
        assert_eq!(call.contact_id.as_deref(), Some(contact.as_str()));
        let engagement = call.engagement_id.unwrap();
        assert_eq!(
            associated(&portal, CrmObject::Calls, &engagement, CrmObject::Companies).await,
            vec![company.clone()],
            "the contact's own company in the customer's portal"
        );
    }
    assert_eq!(
        hubspot::records_in(&world.sandbox, CUSTOMER_PORTAL, "calls").await,
        3
    );
    assert_eq!(
        hubspot::records_in(&world.sandbox, PORTAL, "calls").await,
        0,
        "nothing in the home portal"
    );
}
