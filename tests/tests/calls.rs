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
