//! A person unlinking and linking records through the API, the HubSpot sandbox over HTTP and
//! the outbound worker: a customer unlinked from its company (the company loses warp_ban, the
//! customer's pushes wait, nothing is created), linked again; a user unlinked from its contact
//! and linked to another contact found by the contact search; HubSpot failing leaves nothing
//! changed.

mod sync_api_support;

use hubspot_sandbox::Faults;
use serde_json::{Value, json};
use sync_api_support::{PORTAL, SyncApp, spawn_sync_app};
use warp_domain::sync::ObjectType;
use warp_store::manual_links;
use warp_sync::adapters::{Companies, ObjectAdapter};
use warp_tests::*;

async fn send(
    app: &SyncApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> reqwest::Response {
    app.app
        .client
        .request(method, app.app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn link(app: &SyncApp, path: &str, body: Value) -> reqwest::Response {
    app.app
        .client
        .post(app.app.url(path))
        .bearer_auth(admin())
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The customer pushed once, so it is linked to the company the push created.
async fn pushed_customer(app: &SyncApp) -> (String, String) {
    let customer = app.app.create(&acme()).await;
    let id = customer["id"].as_str().unwrap().to_owned();
    let report = app.outbound_worker().await.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    let company = app.app.customer(&id).await["external_ids"]["hubspot_company_id"]
        .as_str()
        .expect("linked by the push")
        .to_owned();
    (id, company)
}

async fn last_outbound_log(app: &SyncApp, local_id: &str) -> (String, Option<String>) {
    let client = app.app.database.client().await.unwrap();
    let row = client
        .query_one(
            "SELECT status, error FROM hubspot_sync_log WHERE local_id = $1::text::uuid \
             AND direction = 'OUTBOUND' ORDER BY id DESC LIMIT 1",
            &[&local_id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_customer_unlinked_by_a_person_is_not_pushed_until_linked_again() {
    let app = spawn_sync_app().await;
    let (id, company) = pushed_customer(&app).await;
    let path = format!("/v1/customers/{id}/hubspot-link");

    let state = ok(send(&app, reqwest::Method::GET, &path, &viewer()).await).await;
    assert_eq!(state["hubspot_id"], company.as_str());
    assert_eq!(state["hold"], Value::Null);
    expect_problem(
        send(&app, reqwest::Method::DELETE, &path, &editor()).await,
        403,
    )
    .await;

    // HubSpot failing: nothing changes, nothing is held.
    app.sandbox.set_faults(Faults {
        rate_5xx: 1.0,
        ..Faults::default()
    });
    expect_problem(
        send(&app, reqwest::Method::DELETE, &path, &admin()).await,
        502,
    )
    .await;
    app.sandbox.set_faults(Faults::default());
    let state = ok(send(&app, reqwest::Method::GET, &path, &viewer()).await).await;
    assert_eq!(state["hubspot_id"], company.as_str());
    assert_eq!(state["hold"], Value::Null);
    assert_eq!(
        app.app
            .scalar("SELECT count(*) FROM hubspot_link_holds")
            .await,
        0
    );

    // An unlink under way (its hold written, HubSpot not yet told): a second is refused; and
    // posting the link the customer has releases a hold an unfinished unlink left behind.
    let customer_id: uuid::Uuid = id.parse().unwrap();
    let (_, under_way) = manual_links::hold_for_unlink(
        &app.app.database,
        PORTAL,
        ObjectType::Companies,
        customer_id,
    )
    .await
    .unwrap();
    assert_eq!(
        under_way.map(|(hubspot_id, _)| hubspot_id),
        Some(company.clone())
    );
    let refused = expect_problem(
        send(&app, reqwest::Method::DELETE, &path, &admin()).await,
        409,
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("under way"),
        "{refused}"
    );
    let kept = ok(link(&app, &path, json!({"hubspot_company_id": company})).await).await;
    assert_eq!(kept["linked_now"], false);
    assert_eq!(
        app.app
            .scalar("SELECT count(*) FROM hubspot_link_holds")
            .await,
        0
    );

    let unlinked = ok(send(&app, reqwest::Method::DELETE, &path, &admin()).await).await;
    assert_eq!(unlinked["unlinked_now"], true);
    assert_eq!(unlinked["hubspot_id"], Value::Null);
    assert_eq!(unlinked["hold"]["unlinked_from"], company.as_str());
    assert_eq!(unlinked["version"], 2);
    let ban = app.app.customer(&id).await["ban"]
        .as_str()
        .unwrap()
        .to_owned();
    let in_hubspot = app.company(&company).await;
    assert!(
        in_hubspot["properties"]["warp_ban"]
            .as_str()
            .is_none_or(str::is_empty),
        "the company no longer carries the BAN: {in_hubspot}"
    );
    let customer = app.app.customer(&id).await;
    assert_eq!(
        customer["external_ids"]["hubspot_company_id"],
        Value::Null,
        "{customer}"
    );
    assert_eq!(
        app.app
            .scalar(&format!(
                "SELECT count(*) FROM audit_log WHERE entity_id = '{id}' AND action = 'unlink'"
            ))
            .await,
        1
    );
    // A push loaded before the hold that lands after the unlink does not link the customer to
    // what it wrote.
    {
        let client = app.app.database.client().await.unwrap();
        let refused = Companies
            .link(&**client, PORTAL, &[(customer_id, "424242".to_owned())])
            .await
            .unwrap();
        assert!(refused.is_empty());
    }
    assert_eq!(
        app.app.customer(&id).await["external_ids"]["hubspot_company_id"],
        Value::Null
    );
    // Unlinking again changes nothing.
    let again = ok(send(&app, reqwest::Method::DELETE, &path, &admin()).await).await;
    assert_eq!(again["unlinked_now"], false);
    assert_eq!(again["version"], 2);

    // A WARP change while unlinked is not pushed: no company is created, the old one keeps
    // its name, and the log says why.
    let renamed = app
        .app
        .patch(&id, &json!({"company_name": "Acme Renamed"}), Some("\"2\""))
        .await;
    assert_eq!(renamed.status(), 200);
    let worker = app.outbound_worker().await;
    let report = worker.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.hubspot_calls, 0, "{report:?}");
    assert_eq!(app.sandbox.stats().companies, 1);
    assert_eq!(
        app.company(&company).await["properties"]["name"],
        "Acme Telecom"
    );
    let (status, reason) = last_outbound_log(&app, &id).await;
    assert_eq!(status, "SKIPPED");
    assert!(
        reason
            .unwrap()
            .contains("unlinked from HubSpot by a person")
    );

    // Linked again (the BAN is stamped back): the hold is gone and the full push lands on it.
    let relinked = link(&app, &path, json!({"hubspot_company_id": company})).await;
    let relinked = ok(relinked).await;
    assert_eq!(relinked["linked_now"], true);
    let state = ok(send(&app, reqwest::Method::GET, &path, &viewer()).await).await;
    assert_eq!(state["hold"], Value::Null);
    let report = worker.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    let in_hubspot = app.company(&company).await;
    assert_eq!(in_hubspot["properties"]["name"], "Acme Renamed");
    assert_eq!(in_hubspot["properties"]["warp_ban"], ban.as_str());
    assert_eq!(app.sandbox.stats().companies, 1);
}

#[tokio::test]
async fn a_user_is_unlinked_from_one_contact_and_linked_to_another_found_by_search() {
    let app = spawn_sync_app().await;
    let (customer, company) = pushed_customer(&app).await;
    let created = app
        .app
        .client
        .post(app.app.url(&format!("/v1/customers/{customer}/users")))
        .bearer_auth(editor())
        .json(&json!({"email": "ada@acme.example", "first_name": "Ada", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let user: Value = created.json().await.unwrap();
    let user_id = user["id"].as_str().unwrap().to_owned();
    let worker = app.outbound_worker().await;
    assert!(worker.process_due(100).await.unwrap().failed.is_empty());
    let path = format!("/v1/users/{user_id}/hubspot-link");
    let first = ok(send(&app, reqwest::Method::GET, &path, &viewer()).await).await["hubspot_id"]
        .as_str()
        .expect("the push linked the user")
        .to_owned();
    // Sales keeps the person under another contact.
    let chosen = app
        .ui
        .create(
            "contacts",
            json!({"email": "ada.lovelace@personal.example", "lastname": "Lovelace"}),
        )
        .await;

    // Linking elsewhere while linked is refused; bad bodies name the field.
    let refused = expect_problem(
        link(&app, &path, json!({"hubspot_contact_id": chosen})).await,
        409,
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains(&first),
        "{refused}"
    );
    for body in [
        json!({}),
        json!({"hubspot_contact_id": "x"}),
        json!({"hubspot_contact_id": "1", "more": 1}),
    ] {
        let problem = expect_problem(link(&app, &path, body).await, 422).await;
        assert!(!problem_fields(&problem).is_empty(), "{problem}");
    }

    let unlinked = ok(send(&app, reqwest::Method::DELETE, &path, &admin()).await).await;
    assert_eq!(unlinked["unlinked_now"], true);
    assert_eq!(unlinked["hold"]["unlinked_from"], first.as_str());
    let old = app
        .ui
        .properties("contacts", &first, "email,warp_user_id")
        .await;
    assert!(
        old["warp_user_id"].as_str().is_none_or(str::is_empty),
        "{old}"
    );

    // While unlinked a change is not pushed: the old contact is not found again by email.
    let patched = app
        .app
        .client
        .patch(app.app.url(&format!("/v1/users/{user_id}")))
        .bearer_auth(editor())
        .header("if-match", "\"1\"")
        .json(&json!({"first_name": "Augusta"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let report = worker.process_due(100).await.unwrap();
    assert_eq!(report.hubspot_calls, 0, "{report:?}");
    assert_eq!(
        ok(send(&app, reqwest::Method::GET, &path, &viewer()).await).await["hubspot_id"],
        Value::Null
    );
    assert_ne!(
        app.ui.properties("contacts", &first, "firstname").await["firstname"],
        "Augusta"
    );

    // The contact search: an email is an exact match; viewers may not spend the budget.
    let search = "/v1/sync/hubspot/contacts/search?q=Ada.Lovelace%40personal.example";
    expect_problem(
        send(&app, reqwest::Method::GET, search, &viewer()).await,
        403,
    )
    .await;
    let reads_before = app.sandbox.stats().requests_by_token.get("read").copied();
    let found = ok(send(&app, reqwest::Method::GET, search, &editor()).await).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    assert!(
        app.sandbox.stats().requests_by_token.get("read").copied() > reads_before,
        "the search used the read-only credential"
    );
    assert_eq!(found["items"][0]["id"], chosen.as_str());
    assert_eq!(found["items"][0]["linked_user_id"], Value::Null);
    let bad = expect_problem(
        send(
            &app,
            reqwest::Method::GET,
            "/v1/sync/hubspot/contacts/search?q=%20",
            &editor(),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(problem_fields(&bad), ["q"]);

    // The old contact gives up the address (a person edits it in HubSpot); the user is linked
    // to the chosen contact, which gets warp_user_id now and every value with the full push.
    app.ui
        .update("contacts", &first, json!({"email": "ada.old@acme.example"}))
        .await;
    let linked = ok(link(&app, &path, json!({"hubspot_contact_id": chosen})).await).await;
    assert_eq!(linked["linked_now"], true);
    assert_eq!(
        app.ui.properties("contacts", &chosen, "warp_user_id").await["warp_user_id"],
        user_id.as_str()
    );
    let report = worker.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    let now = app
        .ui
        .properties("contacts", &chosen, "email,firstname,warp_user_id")
        .await;
    assert_eq!(now["email"], "ada@acme.example", "{now}");
    assert_eq!(now["firstname"], "Augusta", "{now}");
    let state = ok(send(&app, reqwest::Method::GET, &path, &viewer()).await).await;
    assert_eq!(state["hubspot_id"], chosen.as_str());
    assert_eq!(state["hold"], Value::Null);
    let associated = app.ui.associations("contacts", &chosen, "companies").await;
    assert!(
        associated.iter().any(|(id, _)| *id == company),
        "{associated:?}"
    );
    assert_eq!(
        app.ui.list("contacts", "email").await.len(),
        2,
        "no contact created"
    );
    let found = ok(send(
        &app,
        reqwest::Method::GET,
        search
            .replace("Ada.Lovelace%40personal", "ada%40acme")
            .as_str(),
        &editor(),
    )
    .await)
    .await;
    assert_eq!(
        found["items"][0]["linked_user_id"],
        user_id.as_str(),
        "{found}"
    );

    // A contact carrying another user's id is refused.
    let other = app
        .ui
        .create("contacts", json!({"email": "x@acme.example", "warp_user_id": "0190a5b4-0000-7000-8000-000000000001"}))
        .await;
    ok(send(&app, reqwest::Method::DELETE, &path, &admin()).await).await;
    expect_problem(
        link(&app, &path, json!({"hubspot_contact_id": other})).await,
        409,
    )
    .await;
    let missing = expect_problem(
        link(&app, &path, json!({"hubspot_contact_id": "987654321"})).await,
        422,
    )
    .await;
    assert_eq!(problem_fields(&missing), ["hubspot_contact_id"]);
}
