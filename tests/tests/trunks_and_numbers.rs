//! Trunks and numbers through the router and real Postgres (issue 22 item 1): the customer
//! API's conventions (Idempotency-Key, ETag/If-Match, problem+json naming each field, cursors,
//! roles, a customer's own token), a number routed only to its customer's trunks in service,
//! a number in one customer's service at a time, releases kept for history, every write
//! audited.

use serde_json::{Value, json};
use warp_tests::*;

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(editor());
    if let Some(body) = body {
        request = request.json(body);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let response = send(app, reqwest::Method::POST, path, Some(&body), &[]).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn customer_id(app: &TestApp, name: &str) -> String {
    let customer = app
        .create(&json!({"company_name": name, "customer_type": "POSTPAID"}))
        .await;
    customer["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_trunk_is_created_once_per_key_patched_under_if_match_and_released_for_good() {
    let app = spawn_app().await;
    let customer = customer_id(&app, "Acme Telecom").await;
    let trunks = format!("/v1/customers/{customer}/trunks");
    let body = json!({
        "name": "Production SIP Trunk", "ip_addresses": ["198.51.100.10", "2001:db8::/48"],
        "concurrent_calls": 100, "monthly_minutes": 1000000, "partition_id": "ABC123",
    });
    let key = [("idempotency-key", "trunk-1")];
    let first = send(&app, reqwest::Method::POST, &trunks, Some(&body), &key).await;
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()["etag"], "\"1\"");
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let trunk: Value = first.json().await.unwrap();
    let trunk_id = trunk["id"].as_str().unwrap();
    assert_eq!(location, format!("{trunks}/{trunk_id}"));
    assert_eq!(trunk["status"], "active");
    assert_eq!(
        trunk["ip_addresses"],
        json!(["198.51.100.10", "2001:db8::/48"])
    );
    assert_eq!(trunk["concurrent_calls"], 100);
    let replay = send(&app, reqwest::Method::POST, &trunks, Some(&body), &key).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), trunk);
    assert_eq!(app.scalar("SELECT count(*) FROM trunks").await, 1);
    assert_eq!(ok(app.get(&location).await).await, trunk);

    // A merge-patch: If-Match required, a stale one refused, null clears.
    let patch = json!({"status": "suspended", "concurrent_calls": null});
    let without = send(&app, reqwest::Method::PATCH, &location, Some(&patch), &[]).await;
    expect_problem(without, 428).await;
    let stale = [("if-match", "\"7\"")];
    let refused = send(
        &app,
        reqwest::Method::PATCH,
        &location,
        Some(&patch),
        &stale,
    )
    .await;
    expect_problem(refused, 412).await;
    let current = [("if-match", "\"1\"")];
    let patched = ok(send(
        &app,
        reqwest::Method::PATCH,
        &location,
        Some(&patch),
        &current,
    )
    .await)
    .await;
    assert_eq!(patched["status"], "suspended");
    assert_eq!(patched["concurrent_calls"], Value::Null);
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["partition_id"], "ABC123");
    // The same values again are no write.
    let any = [("if-match", "*")];
    let unchanged =
        ok(send(&app, reqwest::Method::PATCH, &location, Some(&patch), &any).await).await;
    assert_eq!(unchanged["version"], 2);

    let release = format!("{location}/release");
    let released = ok(send(
        &app,
        reqwest::Method::POST,
        &release,
        None,
        &[("if-match", "\"2\"")],
    )
    .await)
    .await;
    assert_eq!(released["status"], "released");
    assert!(released["released_at"].is_string());
    let again = ok(send(&app, reqwest::Method::POST, &release, None, &any).await).await;
    assert_eq!(
        again["version"], released["version"],
        "releasing again changes nothing"
    );
    let frozen = send(
        &app,
        reqwest::Method::PATCH,
        &location,
        Some(&json!({"name": "Back"})),
        &any,
    )
    .await;
    expect_problem(frozen, 409).await;

    // Each write is in the audit log, with what changed.
    let audit = ok(app
        .client
        .get(app.url(&format!("/v1/audit?entity_type=trunk&entity_id={trunk_id}")))
        .bearer_auth(admin())
        .send()
        .await
        .unwrap())
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["release", "update", "create"]);
    let update = &audit["items"][1]["changes"];
    assert_eq!(
        update["status"],
        json!({"old": "active", "new": "suspended"})
    );
    assert_eq!(update["concurrent_calls"], json!({"old": 100, "new": null}));
    // The company timeline hears of it: created, then released.
    let events = app
        .scalar(&format!(
            "SELECT count(*) FROM account_events WHERE customer_id = '{customer}' \
               AND kind IN ('trunk_created', 'trunk_released') AND details->>'trunk_id' = '{trunk_id}'"
        ))
        .await;
    assert_eq!(events, 2);
}

#[tokio::test]
async fn every_bad_field_is_named_and_nothing_is_stored() {
    let app = spawn_app().await;
    let customer = customer_id(&app, "Acme Telecom").await;
    let trunks = format!("/v1/customers/{customer}/trunks");
    let bad_trunk = json!({
        "ip_addresses": ["198.51.100.10/24", "127.0.0.1"], "concurrent_calls": 0,
        "status": "released", "id": "mine",
    });
    let refused = send(&app, reqwest::Method::POST, &trunks, Some(&bad_trunk), &[]).await;
    let problem = expect_problem(refused, 422).await;
    assert_eq!(
        problem_fields(&problem),
        ["concurrent_calls", "id", "ip_addresses", "name", "status"]
    );
    let numbers = format!("/v1/customers/{customer}/numbers");
    let bad_number = json!({
        "number": "555-1000", "type": "landline", "capabilities": [], "monthly_cost": "1.001",
        "cnam": "A NAME FAR TOO LONG FOR CNAM",
    });
    let refused = send(
        &app,
        reqwest::Method::POST,
        &numbers,
        Some(&bad_number),
        &[],
    )
    .await;
    let problem = expect_problem(refused, 422).await;
    assert_eq!(
        problem_fields(&problem),
        ["capabilities", "cnam", "monthly_cost", "number", "type"]
    );
    let unknown = uuid::Uuid::now_v7();
    let nobody = send(
        &app,
        reqwest::Method::POST,
        &format!("/v1/customers/{unknown}/trunks"),
        Some(&json!({"name": "Main"})),
        &[],
    )
    .await;
    expect_problem(nobody, 404).await;
    assert_eq!(app.scalar("SELECT count(*) FROM trunks").await, 0);
    assert_eq!(app.scalar("SELECT count(*) FROM phone_numbers").await, 0);
}

#[tokio::test]
async fn a_number_routes_to_its_customers_trunk_in_service_and_is_in_one_service_at_a_time() {
    let app = spawn_app().await;
    let acme = customer_id(&app, "Acme Telecom").await;
    let globex = customer_id(&app, "Globex").await;
    let acme_trunk = created(
        &app,
        &format!("/v1/customers/{acme}/trunks"),
        json!({"name": "A"}),
    )
    .await;
    let globex_trunk = created(
        &app,
        &format!("/v1/customers/{globex}/trunks"),
        json!({"name": "G"}),
    )
    .await;
    let numbers = format!("/v1/customers/{acme}/numbers");
    let body = |trunk: &Value| {
        json!({
            "number": "+13035551000", "type": "local", "capabilities": ["sms", "voice", "sms"],
            "monthly_cost": 1, "trunk_id": trunk["id"], "e911_address": "123 Main St",
            "cnam": "ACME CORP",
        })
    };
    let foreign = send(
        &app,
        reqwest::Method::POST,
        &numbers,
        Some(&body(&globex_trunk)),
        &[],
    )
    .await;
    let problem = expect_problem(foreign, 422).await;
    assert_eq!(problem_fields(&problem), ["trunk_id"]);

    let number = created(&app, &numbers, body(&acme_trunk)).await;
    assert_eq!(number["capabilities"], json!(["voice", "sms"]));
    assert_eq!(number["monthly_cost"], "1.00");
    assert_eq!(number["type"], "local");
    assert_eq!(number["trunk_id"], acme_trunk["id"]);
    let location = format!("{numbers}/{}", number["id"].as_str().unwrap());

    // In service with Acme: Globex cannot add it.
    let elsewhere = json!({"number": "+13035551000", "type": "local", "capabilities": ["voice"], "monthly_cost": "2.00"});
    let taken = send(
        &app,
        reqwest::Method::POST,
        &format!("/v1/customers/{globex}/numbers"),
        Some(&elsewhere),
        &[],
    )
    .await;
    expect_problem(taken, 409).await;

    // The trunk cannot be released while the number routes to it.
    let any = [("if-match", "*")];
    let trunk_release = format!(
        "/v1/customers/{acme}/trunks/{}/release",
        acme_trunk["id"].as_str().unwrap()
    );
    let busy = send(&app, reqwest::Method::POST, &trunk_release, None, &any).await;
    let problem = expect_problem(busy, 409).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("1 number"),
        "{problem}"
    );

    // The identity cannot change; the route can be cleared.
    let identity = send(
        &app,
        reqwest::Method::PATCH,
        &location,
        Some(&json!({"number": "+13035551001"})),
        &any,
    )
    .await;
    assert_eq!(
        problem_fields(&expect_problem(identity, 422).await),
        ["number"]
    );
    let unrouted = ok(send(
        &app,
        reqwest::Method::PATCH,
        &location,
        Some(&json!({"trunk_id": null, "monthly_cost": "1.50"})),
        &any,
    )
    .await)
    .await;
    assert_eq!(unrouted["trunk_id"], Value::Null);
    assert_eq!(unrouted["monthly_cost"], "1.50");
    ok(send(&app, reqwest::Method::POST, &trunk_release, None, &any).await).await;
    let to_released = send(
        &app,
        reqwest::Method::PATCH,
        &location,
        Some(&json!({"trunk_id": acme_trunk["id"]})),
        &any,
    )
    .await;
    assert_eq!(
        problem_fields(&expect_problem(to_released, 422).await),
        ["trunk_id"]
    );

    // Released, the number may be added again (here by Globex); Acme keeps its history.
    ok(send(
        &app,
        reqwest::Method::POST,
        &format!("{location}/release"),
        None,
        &any,
    )
    .await)
    .await;
    created(&app, &format!("/v1/customers/{globex}/numbers"), elsewhere).await;
    let acme_numbers = ok(app.get(&format!("{numbers}?status=released")).await).await;
    assert_eq!(acme_numbers["items"].as_array().unwrap().len(), 1);
    assert_eq!(acme_numbers["items"][0]["number"], "+13035551000");
    let active = ok(app.get(&format!("{numbers}?status=active")).await).await;
    assert_eq!(active["items"], json!([]));
    // Another customer's number is not found under this one.
    let globex_numbers = ok(app.get(&format!("/v1/customers/{globex}/numbers")).await).await;
    let globex_number = globex_numbers["items"][0]["id"].as_str().unwrap();
    expect_problem(app.get(&format!("{numbers}/{globex_number}")).await, 404).await;
    let _ = globex_trunk;
}

#[tokio::test]
async fn lists_page_and_filter_and_a_customer_reads_only_its_own() {
    let app = spawn_app().await;
    let acme = customer_id(&app, "Acme Telecom").await;
    let globex = customer_id(&app, "Globex").await;
    let trunk = created(
        &app,
        &format!("/v1/customers/{acme}/trunks"),
        json!({"name": "Main"}),
    )
    .await;
    let numbers = format!("/v1/customers/{acme}/numbers");
    for n in 0..5 {
        let routed = if n % 2 == 0 {
            trunk["id"].clone()
        } else {
            Value::Null
        };
        let mut body = json!({"number": format!("+1303555100{n}"), "type": "tollfree", "capabilities": ["voice"], "monthly_cost": "2.00"});
        if !routed.is_null() {
            body["trunk_id"] = routed;
        }
        created(&app, &numbers, body).await;
    }
    let first = ok(app.get(&format!("{numbers}?limit=2")).await).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = ok(app.get(&format!("{numbers}?limit=2&cursor={cursor}")).await).await;
    assert_ne!(second["items"][0]["id"], first["items"][0]["id"]);
    let routed = ok(app
        .get(&format!(
            "{numbers}?trunk_id={}",
            trunk["id"].as_str().unwrap()
        ))
        .await)
    .await;
    assert_eq!(routed["items"].as_array().unwrap().len(), 3);
    let bad = app
        .get(&format!("{numbers}?status=gone&trunk_id=x&colour=red"))
        .await;
    assert_eq!(
        problem_fields(&expect_problem(bad, 422).await),
        ["colour", "status", "trunk_id"]
    );
    let no_filter = app
        .get(&format!(
            "/v1/customers/{acme}/trunks?trunk_id={}",
            trunk["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        problem_fields(&expect_problem(no_filter, 422).await),
        ["trunk_id"]
    );

    // The customer's own token reads its own, not another's, and writes nothing.
    let own = scoped_token(&acme, &["viewer"]);
    let read = app
        .client
        .get(app.url(&numbers))
        .bearer_auth(&own)
        .send()
        .await
        .unwrap();
    assert_eq!(ok(read).await["items"].as_array().unwrap().len(), 5);
    let other = app
        .client
        .get(app.url(&format!("/v1/customers/{globex}/trunks")))
        .bearer_auth(&own)
        .send()
        .await
        .unwrap();
    expect_problem(other, 403).await;
    let write = app
        .client
        .post(app.url(&format!("/v1/customers/{acme}/trunks")))
        .bearer_auth(&own)
        .json(&json!({"name": "Mine"}))
        .send()
        .await
        .unwrap();
    expect_problem(write, 403).await;
    // A viewer reads but does not write.
    let viewer_write = app
        .client
        .post(app.url(&numbers))
        .bearer_auth(viewer())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_problem(viewer_write, 403).await;
    // A deleted customer takes no new trunk.
    let delete = app
        .client
        .delete(app.url(&format!("/v1/customers/{globex}")))
        .bearer_auth(editor())
        .header("if-match", "*")
        .send()
        .await
        .unwrap();
    assert!(delete.status().is_success());
    let closed = send(
        &app,
        reqwest::Method::POST,
        &format!("/v1/customers/{globex}/trunks"),
        Some(&json!({"name": "Late"})),
        &[],
    )
    .await;
    expect_problem(closed, 409).await;
}

#[tokio::test]
async fn the_sync_status_says_how_hubspot_shows_trunks_and_what_waits() {
    let app = spawn_app().await;
    let status = ok(app.get("/v1/sync/status").await).await;
    assert_eq!(status["service_objects"], Value::Null, "not detected yet");
    let customer = customer_id(&app, "Acme Telecom").await;
    created(
        &app,
        &format!("/v1/customers/{customer}/trunks"),
        json!({"name": "Main"}),
    )
    .await;
    app.execute(&format!(
        "UPDATE customers SET external_ids = '{{\"hubspot_company_id\": \"1001\"}}' WHERE id = '{customer}'"
    ))
    .await;
    app.execute(&format!(
        "INSERT INTO hubspot_service_objects (portal_id, mode, detail) \
         VALUES ({PORTAL_ID}, 'company_properties', 'the portal''s custom object limit is 0')"
    ))
    .await;
    let status = ok(app.get("/v1/sync/status").await).await;
    let service = &status["service_objects"];
    assert_eq!(service["mode"], "company_properties");
    assert_eq!(service["trunks_waiting"], 1);
    assert_eq!(service["numbers_waiting"], 0);
    assert_eq!(
        (
            service["trunks_refused"].as_i64(),
            service["numbers_refused"].as_i64()
        ),
        (Some(0), Some(0))
    );
    assert!(service["detail"].as_str().unwrap().contains("limit is 0"));
}
