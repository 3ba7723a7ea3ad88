//! Finished calls in (issue 21) through the router and real Postgres: one call or a batch,
//! stored once by call id, the ingest role only, every fault named by its path and nothing
//! stored when any call is at fault.

use serde_json::{Value, json};
use warp_tests::*;

fn ingest() -> String {
    token_for("telephony", &["ingest"])
}

fn call(call_id: &str, customer_id: &str) -> Value {
    json!({"call_id": call_id, "customer_id": customer_id, "direction": "OUTBOUND",
        "from": "+14155550100", "to": "+13035551234", "started_at": "2026-12-04T10:00:00Z",
        "duration_ms": 65000, "outcome": "COMPLETED",
        "recording_url": "https://recordings.example/c-81f2.wav", "summary": "Asked for a demo"})
}

async fn post_calls(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/calls"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn accepted(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "{body}");
    body
}

#[tokio::test]
async fn a_call_is_stored_once_by_its_id_and_read_back_pending() {
    let app = spawn_app().await;
    let customer = app.create(&acme()).await;
    let customer_id = customer["id"].as_str().unwrap();

    let first = accepted(post_calls(&app, &ingest(), &call("c-81f2", customer_id)).await).await;
    assert_eq!(
        first,
        json!({"queued": 1, "repeated": 0,
        "calls": [{"call_id": "c-81f2", "status": "queued"}]})
    );
    let mut changed = call("c-81f2", customer_id);
    changed["summary"] = json!("another text: the first stays");
    let replay = accepted(post_calls(&app, &ingest(), &changed).await).await;
    assert_eq!(replay["calls"][0]["status"], "repeated");
    assert_eq!(app.scalar("SELECT count(*) FROM calls").await, 1);

    let read = app
        .client
        .get(app.url("/v1/calls/c-81f2"))
        .bearer_auth(ingest())
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["status"], "pending");
    assert_eq!(read["customer_id"], customer_id);
    assert_eq!(read["to"], "+13035551234");
    assert_eq!(read["duration_ms"], 65000);
    assert_eq!(read["has_summary"], true);
    assert_eq!(
        app.scalar("SELECT count(*) FROM calls WHERE summary = 'Asked for a demo'")
            .await,
        1,
        "the repeat changed nothing"
    );
    let viewer_read = app.get("/v1/calls/c-81f2").await;
    assert_eq!(viewer_read.status(), 200, "people read calls too");
    expect_problem(app.get("/v1/calls/c-unknown").await, 404).await;
}

#[tokio::test]
async fn a_batch_is_stored_whole_its_repeats_named_and_a_repeat_within_it_kept_once() {
    let app = spawn_app().await;
    let customer = app.create(&acme()).await;
    let id = customer["id"].as_str().unwrap();
    accepted(post_calls(&app, &ingest(), &call("c-1", id)).await).await;

    let batch =
        json!({"calls": [call("c-1", id), call("c-2", id), call("c-3", id), call("c-2", id)]});
    let answer = accepted(post_calls(&app, &ingest(), &batch).await).await;
    assert_eq!(answer["queued"], 2);
    assert_eq!(answer["repeated"], 2);
    let statuses: Vec<&str> = answer["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["repeated", "queued", "queued", "repeated"]);
    assert_eq!(app.scalar("SELECT count(*) FROM calls").await, 3);
    assert_eq!(
        app.scalar("SELECT count(*) FROM calls WHERE status = 'pending' AND attempts = 0")
            .await,
        3,
        "each waits to be logged"
    );
}

#[tokio::test]
async fn any_fault_in_a_batch_is_named_and_nothing_is_stored() {
    let app = spawn_app().await;
    let customer = app.create(&acme()).await;
    let id = customer["id"].as_str().unwrap();
    let mut bad_number = call("c-2", id);
    bad_number["to"] = json!("(303) 555-1234");
    let unknown = call("c-3", "0192f0c4-1d2e-7a3b-8c4d-5e6f708192a3");

    let problem = expect_problem(
        post_calls(
            &app,
            &ingest(),
            &json!({"calls": [call("c-1", id), bad_number]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(problem_fields(&problem), ["calls[1].to"]);
    let problem = expect_problem(
        post_calls(
            &app,
            &ingest(),
            &json!({"calls": [call("c-1", id), unknown]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(problem_fields(&problem), ["calls[1].customer_id"]);
    assert_eq!(
        app.scalar("SELECT count(*) FROM calls").await,
        0,
        "the valid call of a refused batch is not stored either"
    );

    // A deleted customer takes no more calls.
    let response = app
        .client
        .delete(app.url(&format!("/v1/customers/{id}")))
        .bearer_auth(editor())
        .header("if-match", "*")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let problem = expect_problem(post_calls(&app, &ingest(), &call("c-1", id)).await, 422).await;
    assert_eq!(problem_fields(&problem), ["customer_id"]);
}

#[tokio::test]
async fn only_an_ingest_token_sends_calls_and_it_reads_nothing_else() {
    let app = spawn_app().await;
    let customer = app.create(&acme()).await;
    let id = customer["id"].as_str().unwrap();
    for token in [admin(), editor(), viewer()] {
        let problem = expect_problem(post_calls(&app, &token, &call("c-1", id)).await, 403).await;
        assert!(
            problem["detail"].as_str().unwrap().contains("ingest"),
            "{problem}"
        );
    }
    let scoped = scoped_token(id, &["ingest"]);
    expect_problem(post_calls(&app, &scoped, &call("c-1", id)).await, 403).await;
    let read = app
        .client
        .get(app.url(&format!("/v1/customers/{id}")))
        .bearer_auth(ingest())
        .send()
        .await
        .unwrap();
    expect_problem(read, 403).await;
    assert_eq!(app.scalar("SELECT count(*) FROM calls").await, 0);
}

#[tokio::test]
async fn bodies_that_are_no_calls_are_refused_clearly() {
    let app = spawn_app().await;
    let text = app
        .client
        .post(app.url("/v1/calls"))
        .bearer_auth(ingest())
        .header("content-type", "text/plain")
        .body("c-1")
        .send()
        .await
        .unwrap();
    expect_problem(text, 415).await;
    let problem = expect_problem(
        post_calls(&app, &ingest(), &json!({"calls": []})).await,
        422,
    )
    .await;
    assert_eq!(problem_fields(&problem), ["calls"]);
    let problem = expect_problem(post_calls(&app, &ingest(), &json!([1])).await, 422).await;
    assert_eq!(problem_fields(&problem), ["body"]);
    // Over 1 MiB (the other routes' limit) but under 6 MiB: read, and refused only for its calls.
    let big = json!({"calls": [{"summary": "x".repeat(2 * 1024 * 1024)}]});
    let problem = expect_problem(post_calls(&app, &ingest(), &big).await, 422).await;
    assert!(
        problem_fields(&problem).contains(&"calls[0].summary".to_owned()),
        "{problem}"
    );
    let huge = json!({"calls": [{"summary": "x".repeat(7 * 1024 * 1024)}]});
    let problem = expect_problem(post_calls(&app, &ingest(), &huge).await, 413).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("6 MiB"),
        "{problem}"
    );
}

async fn logs(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/v1/hubspot/sync-logs{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn log_page(app: &TestApp, token: &str, query: &str) -> Value {
    let response = logs(app, token, query).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

fn call_ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["call_id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_sync_log_filters_pages_by_offset_or_cursor_and_a_customer_reads_only_its_own() {
    let app = spawn_app().await;
    let first = app.create(&acme()).await;
    let second = app
        .create(&json!({"company_name": "Other Telecom", "customer_type": "PREPAID"}))
        .await;
    let (a, b) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );
    for (id, customer) in [("a-1", a), ("a-2", a), ("a-3", a), ("b-1", b), ("b-2", b)] {
        accepted(post_calls(&app, &ingest(), &call(id, customer)).await).await;
    }
    app.execute(
        "UPDATE calls SET status = 'success', portal_id = 62515, contact_id = '501', \
           engagement_id = '95000000001', logged_at = now() WHERE call_id = 'a-1'",
    )
    .await;
    app.execute(
        "UPDATE calls SET status = 'skipped', reason = 'no HubSpot contact has the number +13035551234', \
           logged_at = now() WHERE call_id = 'a-2'",
    )
    .await;

    let all = log_page(&app, &viewer(), "").await;
    assert_eq!(all["total"], 5);
    assert_eq!(
        call_ids(&all),
        ["b-2", "b-1", "a-3", "a-2", "a-1"],
        "newest first"
    );
    let logged = &all["items"][4];
    assert_eq!(
        (
            logged["status"].as_str(),
            logged["contact_id"].as_str(),
            logged["engagement_id"].as_str()
        ),
        (Some("success"), Some("501"), Some("95000000001"))
    );
    let skipped = log_page(&app, &ingest(), "?status=skipped&object_type=calls").await;
    assert_eq!(call_ids(&skipped), ["a-2"]);
    assert_eq!(
        skipped["items"][0]["reason"],
        "no HubSpot contact has the number +13035551234"
    );

    // Offset pages carry the total; cursor pages go on from where the last one ended.
    let offset = log_page(&app, &viewer(), "?offset=2&limit=2").await;
    assert_eq!(
        (call_ids(&offset), offset["total"].as_i64()),
        (vec!["a-3", "a-2"], Some(5))
    );
    let page = log_page(&app, &viewer(), &format!("?customer_id={a}&limit=2")).await;
    assert_eq!(
        (call_ids(&page), page["total"].as_i64()),
        (vec!["a-3", "a-2"], Some(3))
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = log_page(
        &app,
        &viewer(),
        &format!("?customer_id={a}&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(call_ids(&rest), ["a-1"]);
    assert!(
        rest["total"].is_null() && rest["next_cursor"].is_null(),
        "{rest}"
    );

    // A customer's own token: its calls only, whatever it asks for.
    let own = log_page(&app, &scoped_token(a, &["viewer"]), "").await;
    assert_eq!(
        (call_ids(&own), own["total"].as_i64()),
        (vec!["a-3", "a-2", "a-1"], Some(3))
    );
    expect_problem(
        logs(
            &app,
            &scoped_token(a, &["viewer"]),
            &format!("?customer_id={b}"),
        )
        .await,
        403,
    )
    .await;
    let none = log_page(&app, &scoped_token(b, &["viewer"]), "?status=success").await;
    assert_eq!(
        none["total"], 0,
        "b's calls were not logged; a's success is not b's"
    );

    let problem = expect_problem(
        logs(
            &app,
            &viewer(),
            "?status=done&object_type=tickets&limit=0&offset=20000&customer_id=x",
        )
        .await,
        422,
    )
    .await;
    assert_eq!(
        problem_fields(&problem),
        ["customer_id", "limit", "object_type", "offset", "status"]
    );
    // An offset counts from the cursor's place.
    let first_two = log_page(&app, &viewer(), "?limit=2").await;
    let after = first_two["next_cursor"].as_str().unwrap();
    let skipped_one = log_page(
        &app,
        &viewer(),
        &format!("?limit=2&offset=1&cursor={after}"),
    )
    .await;
    assert_eq!(call_ids(&skipped_one), ["a-2", "a-1"]);
    expect_problem(logs(&app, &token(&[]), "").await, 403).await;
}
