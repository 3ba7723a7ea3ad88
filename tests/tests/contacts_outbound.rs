//! Users ↔ contacts through the real parts: the user API writes the outbox row with the user,
//! the outbound worker (the same engine that pushes companies, with the contacts adapter)
//! upserts the contacts into the sandbox over HTTP, adopts a contact sales already created
//! with the same email, associates each contact with its customer's company (primary) and
//! keeps the link, the field state and the sync log per object type.

mod sync_api_support;

use serde_json::{Value, json};
use sync_api_support::{PORTAL, SyncApp, spawn_sync_app};
use warp_domain::sync::ObjectType;
use warp_hubspot::HubSpotId;
use warp_hubspot::associations::type_ids;
use warp_tests::*;

async fn create_user(app: &SyncApp, customer: &str, body: Value) -> Value {
    let response = app
        .app
        .client
        .post(app.app.url(&format!("/v1/customers/{customer}/users")))
        .bearer_auth(editor())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// A contact as a person sees it in HubSpot, by id.
async fn contact(app: &SyncApp, id: &str) -> Value {
    app.ui
        .read(
            "contacts",
            id,
            &[(
                "properties",
                "email,firstname,lastname,jobtitle,warp_user_id,warp_role,warp_2fa_enabled,warp_api_key_count",
            )],
        )
        .await
}

/// Every contact in the sandbox, as a person sees them.
async fn all_contacts(app: &SyncApp) -> Vec<Value> {
    app.ui.list("contacts", "email,warp_user_id").await
}

async fn link_of(app: &SyncApp, user_id: &str) -> Option<String> {
    let client = app.app.database.client().await.unwrap();
    client
        .query_opt(
            "SELECT hubspot_id FROM hubspot_links WHERE portal_id = $1 AND object_type = 'contacts' \
             AND local_id = $2::text::uuid AND unlinked_at IS NULL",
            &[&PORTAL, &user_id],
        )
        .await
        .unwrap()
        .map(|row| row.get(0))
}

/// The company ids a contact is associated with, each with whether the association is primary.
async fn companies_of(app: &SyncApp, contact_id: &str) -> Vec<(String, bool)> {
    let read = app
        .hubspot
        .associations(ObjectType::Contacts, ObjectType::Companies)
        .batch_read(&[HubSpotId::parse(contact_id).unwrap()])
        .await;
    assert!(read.is_complete(), "{:?}", read.failed_calls);
    read.results
        .iter()
        .flat_map(|record| record.to.iter())
        .map(|to| {
            (
                to.to_object_id.clone(),
                to.has_type(type_ids::CONTACT_TO_COMPANY_PRIMARY),
            )
        })
        .collect()
}

#[tokio::test]
async fn users_become_contacts_of_their_customers_company_and_an_existing_contact_is_adopted() {
    let app = spawn_sync_app().await;
    // Sales created this person in HubSpot before WARP knew them.
    let existing_id = app
        .ui
        .create(
            "contacts",
            json!({"email": "grace@acme.example", "lastname": "Hopper"}),
        )
        .await;

    let customer = app.app.create(&acme()).await;
    let customer_id = customer["id"].as_str().unwrap();
    let ada = create_user(
        &app,
        customer_id,
        json!({"email": "Ada@Acme.example", "first_name": "Ada", "job_title": "CTO",
               "role": "admin", "two_factor_enabled": true}),
    )
    .await;
    let grace = create_user(
        &app,
        customer_id,
        json!({"email": "grace@acme.example", "first_name": "Grace", "role": "billing"}),
    )
    .await;
    let ada_id = ada["id"].as_str().unwrap();
    let grace_id = grace["id"].as_str().unwrap();
    // Each user write queued its contact push with it.
    assert_eq!(
        app.app
            .scalar(&format!(
                "SELECT count(*) FROM hubspot_sync_queue WHERE object_type = 'contacts' \
                 AND local_id IN ('{ada_id}', '{grace_id}') AND operation = 'CREATE' AND status = 'PENDING'"
            ))
            .await,
        2
    );

    // One pass: the customer's company first, then its users' contacts.
    let worker = app.outbound_worker().await;
    let report = worker.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.succeeded.len(), 3, "{report:?}");
    let company_id = app.app.customer(customer_id).await["external_ids"]["hubspot_company_id"]
        .as_str()
        .expect("the customer is linked")
        .to_owned();

    let ada_contact = link_of(&app, ada_id).await.expect("ada is linked");
    let grace_contact = link_of(&app, grace_id).await.expect("grace is linked");
    assert_eq!(
        grace_contact, existing_id,
        "the existing contact was adopted"
    );
    assert_eq!(all_contacts(&app).await.len(), 2, "no duplicate contact");

    let ada_in_hubspot = contact(&app, &ada_contact).await;
    let properties = &ada_in_hubspot["properties"];
    assert_eq!(properties["email"], "ada@acme.example");
    assert_eq!(properties["firstname"], "Ada");
    assert_eq!(properties["jobtitle"], "CTO");
    assert_eq!(properties["warp_user_id"], ada_id);
    assert_eq!(properties["warp_role"], "admin");
    assert_eq!(properties["warp_2fa_enabled"], "true");
    assert_eq!(properties["warp_api_key_count"], "0");
    let adopted = contact(&app, &grace_contact).await;
    assert_eq!(adopted["properties"]["warp_user_id"], grace_id);
    assert_eq!(
        adopted["properties"]["lastname"], "Hopper",
        "HubSpot's value kept"
    );
    assert_eq!(adopted["properties"]["firstname"], "Grace");

    for contact_id in [&ada_contact, &grace_contact] {
        assert_eq!(
            companies_of(&app, contact_id).await,
            vec![(company_id.clone(), true)],
            "primary company of {contact_id}"
        );
    }

    // The log, per object type, through the API's filter.
    let log: Value = app
        .app
        .client
        .get(app.app.url(&format!("/v1/sync/logs?user_id={ada_id}")))
        .bearer_auth(admin())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{log}");
    assert_eq!(items[0]["object_type"], "contacts");
    assert_eq!(items[0]["status"], "SUCCESS");
    assert_eq!(items[0]["hubspot_id"], ada_contact.as_str());
    assert_eq!(items[0]["customer_id"], Value::Null);
    assert!(
        items[0]["fields"]
            .as_array()
            .unwrap()
            .contains(&json!("email"))
    );

    // Nothing changed: a second pass sends nothing.
    let idle = worker.process_due(100).await.unwrap();
    assert_eq!((idle.rows(), idle.hubspot_calls), (0, 0));

    // A WARP email change updates the same contact (found by warp_user_id), no duplicate, and
    // sends only what changed; the association is not sent again.
    let response = app
        .app
        .client
        .patch(app.app.url(&format!("/v1/users/{ada_id}")))
        .bearer_auth(editor())
        .header("if-match", "\"1\"")
        .json(&json!({"email": "ada.lovelace@acme.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report = worker.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.hubspot_calls, 1, "one upsert, no association call");
    assert_eq!(link_of(&app, ada_id).await, Some(ada_contact.clone()));
    assert_eq!(
        contact(&app, &ada_contact).await["properties"]["email"],
        "ada.lovelace@acme.example"
    );
    assert_eq!(all_contacts(&app).await.len(), 2, "still no duplicate");
    let fields: Vec<String> = app
        .app
        .database
        .client()
        .await
        .unwrap()
        .query_one(
            "SELECT fields_synced FROM hubspot_sync_log WHERE object_type = 'contacts' \
             AND local_id = $1::text::uuid ORDER BY id DESC LIMIT 1",
            &[&ada_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(fields, vec!["email".to_owned()]);
}

#[tokio::test]
async fn a_users_contact_waits_for_its_customers_company_and_follows_once_it_is_linked() {
    let app = spawn_sync_app().await;
    let customer = app.app.create(&acme()).await;
    let customer_id = customer["id"].as_str().unwrap();
    let user = create_user(
        &app,
        customer_id,
        json!({"email": "ops@acme.example", "role": "readonly"}),
    )
    .await;
    let user_id = user["id"].as_str().unwrap();
    let worker = app.outbound_worker().await;
    // Only the user's row: its customer has no company in HubSpot yet.
    let user_row = app
        .app
        .scalar(&format!(
            "SELECT id FROM hubspot_sync_queue WHERE object_type = 'contacts' AND local_id = '{user_id}'"
        ))
        .await;
    let report = worker.process(&[user_row]).await;
    assert_eq!(
        report.hubspot_calls, 0,
        "nothing sent before the company exists"
    );
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].1.contains("company"), "{report:?}");
    assert!(all_contacts(&app).await.is_empty());
    // Waiting is not a failure of the user's: no attempt is used up.
    assert_eq!(
        app.app
            .scalar(&format!(
                "SELECT count(*) FROM hubspot_sync_queue WHERE id = {user_row} \
                 AND status = 'PENDING' AND attempts = 0 AND last_error LIKE 'waiting%'"
            ))
            .await,
        1
    );

    // The customer's push links the company; the user's retry follows it.
    app.app
        .execute(&format!(
            "UPDATE hubspot_sync_queue SET next_attempt_at = now() WHERE id = {user_row}"
        ))
        .await;
    let report = worker.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    let contact_id = link_of(&app, user_id)
        .await
        .expect("linked after the retry");
    let company_id = app.app.customer(customer_id).await["external_ids"]["hubspot_company_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        companies_of(&app, &contact_id).await,
        vec![(company_id, true)]
    );
}

#[tokio::test]
async fn a_contact_field_conflict_is_resolved_through_the_api_onto_the_user() {
    let app = spawn_sync_app().await;
    let customer = app.app.create(&acme()).await;
    let customer_id = customer["id"].as_str().unwrap();
    let user = create_user(
        &app,
        customer_id,
        json!({"email": "ada@acme.example", "first_name": "Ada", "role": "admin"}),
    )
    .await;
    let user_id = user["id"].as_str().unwrap();
    let worker = app.outbound_worker().await;
    assert!(worker.process_due(100).await.unwrap().failed.is_empty());
    // Both sides renamed her within a second (HubSpot to Augusta): the rules keep both values
    // for a person.
    let contact_id = link_of(&app, user_id).await.unwrap();
    app.ui
        .update("contacts", &contact_id, json!({"firstname": "Augusta"}))
        .await;
    let conflict = "0196b3c4-0000-7000-8000-0000000000c7";
    app.app
        .execute(&format!(
            "INSERT INTO sync_conflicts (id, portal_id, object_type, local_id, field, warp_value, \
               hubspot_value, warp_changed_at, hubspot_changed_at) \
             VALUES ('{conflict}', {PORTAL}, 'contacts', '{user_id}', 'first_name', 'Ada', 'Augusta', now(), now())"
        ))
        .await;
    let listed: Value = app
        .app
        .client
        .get(app.app.url("/v1/sync/conflicts?status=OPEN"))
        .bearer_auth(admin())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["object_type"], "contacts", "{listed}");
    assert_eq!(listed["items"][0]["local_id"], user_id);
    assert_eq!(listed["items"][0]["customer_id"], Value::Null);

    let response = app
        .app
        .client
        .post(
            app.app
                .url(&format!("/v1/sync/conflicts/{conflict}/resolve")),
        )
        .bearer_auth(admin())
        .json(&json!({"winner": "hubspot"}))
        .send()
        .await
        .unwrap();
    let resolved: Value = response.json().await.unwrap();
    assert_eq!(resolved["status"], "RESOLVED", "{resolved}");
    assert_eq!(resolved["resolution"]["user_version"], 2, "{resolved}");
    let after: Value = app
        .app
        .client
        .get(app.app.url(&format!("/v1/users/{user_id}")))
        .bearer_auth(viewer())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after["first_name"], "Augusta");
    // HubSpot reported the winner: nothing is queued, and both sides hold it.
    assert_eq!(
        resolved["resolution"]["outbox_id"],
        Value::Null,
        "{resolved}"
    );
    let idle = worker.process_due(100).await.unwrap();
    assert_eq!(idle.hubspot_calls, 0, "{idle:?}");
    assert_eq!(
        contact(&app, &contact_id).await["properties"]["firstname"],
        "Augusta"
    );
}

async fn resync_user(app: &SyncApp, user_id: &str) -> reqwest::Response {
    app.app
        .client
        .post(app.app.url(&format!("/v1/sync/users/{user_id}/resync")))
        .bearer_auth(admin())
        .send()
        .await
        .unwrap()
}

async fn move_user(app: &SyncApp, user_id: &str, version: i64, body: Value) -> reqwest::Response {
    app.app
        .client
        .post(app.app.url(&format!("/v1/users/{user_id}/move")))
        .bearer_auth(editor())
        .header("if-match", format!("\"{version}\""))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_user_moved_to_another_customer_takes_its_contact_to_the_new_company() {
    let app = spawn_sync_app().await;
    let first = app.app.create(&acme()).await;
    let mut other_body = acme();
    other_body["company_name"] = json!("Other Telecom");
    other_body["domain"] = json!("other.example");
    let second = app.app.create(&other_body).await;
    let (first_id, second_id) = (
        first["id"].as_str().unwrap().to_owned(),
        second["id"].as_str().unwrap().to_owned(),
    );
    let user = create_user(
        &app,
        &first_id,
        json!({"email": "mover@acme.example", "first_name": "Moe", "role": "developer"}),
    )
    .await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    // The second customer has a user with the same email: it cannot take a second one.
    create_user(
        &app,
        &second_id,
        json!({"email": "taken@acme.example", "role": "readonly"}),
    )
    .await;
    let worker = app.outbound_worker().await;
    let report = worker.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    let company = |customer: Value| {
        customer["external_ids"]["hubspot_company_id"]
            .as_str()
            .expect("linked")
            .to_owned()
    };
    let first_company = company(app.app.customer(&first_id).await);
    let second_company = company(app.app.customer(&second_id).await);
    let contact_id = link_of(&app, &user_id).await.expect("linked");
    assert_eq!(
        companies_of(&app, &contact_id).await,
        vec![(first_company.clone(), true)]
    );

    // Bad moves change nothing: each answer names what is wrong.
    let unknown = move_user(
        &app,
        &user_id,
        1,
        json!({"customer_id": uuid::Uuid::now_v7()}),
    )
    .await;
    assert_eq!(unknown.status(), 422);
    let problem: Value = unknown.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "customer_id", "{problem}");
    let malformed = move_user(&app, &user_id, 1, json!({"customer_id": "nope", "x": 1})).await;
    assert_eq!(malformed.status(), 422);
    let problem: Value = malformed.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["customer_id", "x"], "{problem}");
    assert_eq!(
        move_user(&app, &user_id, 7, json!({"customer_id": second_id}))
            .await
            .status(),
        412
    );
    let clash = create_user(
        &app,
        &first_id,
        json!({"email": "taken@acme.example", "role": "readonly"}),
    )
    .await;
    let clash_id = clash["id"].as_str().unwrap();
    assert_eq!(
        move_user(&app, clash_id, 1, json!({"customer_id": second_id}))
            .await
            .status(),
        409,
        "the second customer already has a user with this email"
    );
    worker.process_due(100).await.unwrap();

    // The move: the user is the second customer's, and its contact follows.
    let moved = move_user(&app, &user_id, 1, json!({"customer_id": second_id})).await;
    assert_eq!(moved.status(), 200);
    assert_eq!(moved.headers()["etag"], "\"2\"");
    let moved: Value = moved.json().await.unwrap();
    assert_eq!(moved["customer_id"], second_id.as_str());
    let report = worker.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        companies_of(&app, &contact_id).await,
        vec![(second_company.clone(), true)],
        "associated with the new company as primary, the old association removed"
    );
    assert_eq!(
        link_of(&app, &user_id).await.as_deref(),
        Some(contact_id.as_str()),
        "the same contact"
    );
    // Moving to where it is changes nothing and queues nothing.
    let again = move_user(&app, &user_id, 2, json!({"customer_id": second_id})).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["etag"], "\"2\"");
    let idle = worker.process_due(100).await.unwrap();
    assert_eq!((idle.rows(), idle.hubspot_calls), (0, 0));

    // Sales changed WARP's role on the contact (its webhook lost): an admin's resync sends the
    // full contact again, and WARP's value is back.
    app.ui
        .update("contacts", &contact_id, json!({"warp_role": "admin"}))
        .await;
    let queued = resync_user(&app, &user_id).await;
    assert_eq!(queued.status(), 202);
    let queued: Value = queued.json().await.unwrap();
    assert!(queued["outbox_id"].as_i64().is_some(), "{queued}");
    assert_eq!(
        resync_user(&app, &uuid::Uuid::now_v7().to_string())
            .await
            .status(),
        404
    );
    let report = worker.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        report.hubspot_calls, 1,
        "one upsert: the association stands"
    );
    assert_eq!(
        contact(&app, &contact_id).await["properties"]["warp_role"],
        "developer"
    );
}

#[tokio::test]
async fn a_contact_whose_first_push_was_never_recorded_is_found_by_its_key_after_an_email_change() {
    let app = spawn_sync_app().await;
    let customer = app.app.create(&acme()).await;
    let customer_id = customer["id"].as_str().unwrap();
    let user = create_user(
        &app,
        customer_id,
        json!({"email": "first@acme.example", "role": "developer"}),
    )
    .await;
    let user_id = user["id"].as_str().unwrap();
    let worker = app.outbound_worker().await;
    let report = worker.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    let contact_id = link_of(&app, user_id).await.expect("linked");

    // The worker died after HubSpot answered and before it recorded anything: no link, no
    // known HubSpot values. Then the user's email changes.
    app.app
        .execute(&format!(
            "DELETE FROM hubspot_links WHERE object_type = 'contacts' AND local_id = '{user_id}'; \
             DELETE FROM hubspot_field_state WHERE object_type = 'contacts' AND local_id = '{user_id}'"
        ))
        .await;
    let changed = app
        .app
        .client
        .patch(app.app.url(&format!("/v1/users/{user_id}")))
        .bearer_auth(editor())
        .header("If-Match", "*")
        .json(&json!({"email": "second@acme.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);

    // By email the push finds no contact and HubSpot refuses a second one with the same
    // warp_user_id; by its key it finds the one it made.
    let report = worker.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        link_of(&app, user_id).await.as_deref(),
        Some(contact_id.as_str())
    );
    let contacts = all_contacts(&app).await;
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(
        contact(&app, &contact_id).await["properties"]["email"],
        "second@acme.example"
    );
}
