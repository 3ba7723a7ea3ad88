//! `POST/GET /v1/sync/reconciliations` through real HTTP and Postgres: a request is queued
//! (202, status running, queued), listed newest first with a cursor, readable by id (404
//! otherwise), admin only (403 for viewer and editor), and bad bodies are problem documents
//! naming the field. What a reconciler writes when it claims and finishes a run shows through.

use serde_json::{Value, json};
use warp_store::reconciliation_runs::{self as runs, RunCounts, RunOutcome};
use warp_tests::*;

async fn request(app: &TestApp, token: &str, body: Option<&Value>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/v1/sync/reconciliations"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("POST")
}

async fn get_as(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET")
}

#[tokio::test]
async fn a_requested_run_is_queued_then_claimed_and_reported() {
    let app = spawn_app().await;
    let response = request(&app, &admin(), Some(&json!({"dry_run": true}))).await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let run: Value = response.json().await.unwrap();
    let id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/sync/reconciliations/{id}"));
    assert_eq!(run["status"], "running");
    assert_eq!(run["queued"], true);
    assert_eq!(run["dry_run"], true);
    assert_eq!(run["drift_found"], 0);
    assert_eq!(run["drift_fixed"], 0);
    assert!(run["started_at"].is_null());
    assert_eq!(run["requested_by"], "test-user");

    // The reconciler's side: claim (once), then finish with a report.
    let claimed = runs::claim_next(&app.database, PORTAL_ID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id.to_string(), id);
    assert!(claimed.dry_run);
    assert!(
        runs::claim_next(&app.database, PORTAL_ID)
            .await
            .unwrap()
            .is_none()
    );
    let executing: Value = get_as(&app, &admin(), &location)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(executing["queued"], false);
    assert!(executing["started_at"].is_string());
    let counts = RunCounts {
        customers_checked: 3,
        companies_checked: 2,
        drift_found: 4,
        drift_fixed: 0,
        errors: 0,
    };
    let report = json!({"by_kind": {"VALUE_DIFFERS": {"found": 4, "fixed": 0}}});
    runs::finish(
        &app.database,
        claimed.id,
        RunOutcome::Succeeded,
        &counts,
        &report,
    )
    .await
    .unwrap();

    let done: Value = get_as(&app, &admin(), &location)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["drift_found"], 4);
    assert_eq!(done["drift_fixed"], 0);
    assert_eq!(done["customers_checked"], 3);
    assert_eq!(done["details"], report);
    assert!(done["finished_at"].is_string());
    assert!(done["duration_ms"].is_i64());
}

#[tokio::test]
async fn runs_list_newest_first_with_a_cursor() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for dry_run in [true, false, true] {
        let response = request(&app, &admin(), Some(&json!({"dry_run": dry_run}))).await;
        assert_eq!(response.status(), 202);
        ids.push(response.json::<Value>().await.unwrap()["id"].clone());
    }
    // An empty body asks for a repairing run.
    let plain: Value = request(&app, &admin(), None).await.json().await.unwrap();
    assert_eq!(plain["dry_run"], false);
    ids.push(plain["id"].clone());
    ids.reverse();

    let first: Value = get_as(&app, &admin(), "/v1/sync/reconciliations?limit=3")
        .await
        .json()
        .await
        .unwrap();
    let page: Vec<Value> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(page, ids[..3]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = get_as(
        &app,
        &admin(),
        &format!("/v1/sync/reconciliations?limit=3&cursor={cursor}"),
    )
    .await
    .json()
    .await
    .unwrap();
    let rest: Vec<Value> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(rest, ids[3..]);
    assert!(second["next_cursor"].is_null());

    let problem = expect_problem(
        get_as(&app, &admin(), "/v1/sync/reconciliations?limit=0").await,
        422,
    )
    .await;
    assert_eq!(problem_fields(&problem), ["limit"]);
    expect_problem(
        get_as(&app, &admin(), "/v1/sync/reconciliations?cursor=%21%21").await,
        422,
    )
    .await;
}

#[tokio::test]
async fn only_admins_may_request_or_read_runs_and_unknown_ids_are_404() {
    let app = spawn_app().await;
    for token in [viewer(), editor()] {
        expect_problem(
            request(&app, &token, Some(&json!({"dry_run": true}))).await,
            403,
        )
        .await;
        expect_problem(get_as(&app, &token, "/v1/sync/reconciliations").await, 403).await;
        expect_problem(
            get_as(
                &app,
                &token,
                "/v1/sync/reconciliations/0190f5a6-7b8c-7d9e-8f00-112233445566",
            )
            .await,
            403,
        )
        .await;
    }
    let unauthenticated = app
        .client
        .get(app.url("/v1/sync/reconciliations"))
        .send()
        .await
        .unwrap();
    expect_problem(unauthenticated, 401).await;
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_reconciliation_runs")
            .await,
        0,
        "refused requests queue nothing"
    );

    for path in [
        "/v1/sync/reconciliations/0190f5a6-7b8c-7d9e-8f00-112233445566",
        "/v1/sync/reconciliations/not-a-uuid",
    ] {
        expect_problem(get_as(&app, &admin(), path).await, 404).await;
    }
}

#[tokio::test]
async fn bad_bodies_are_problems_naming_the_field() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"dry_run": "yes"}), "dry_run"),
        (json!({"dryRun": true}), "dryRun"),
        (json!([true]), "body"),
    ] {
        let problem = expect_problem(request(&app, &admin(), Some(&body)).await, 422).await;
        assert_eq!(problem_fields(&problem), [field], "{body}");
    }
    let malformed = app
        .client
        .post(app.url("/v1/sync/reconciliations"))
        .bearer_auth(admin())
        .header("content-type", "application/json")
        .body("{\"dry_run\":")
        .send()
        .await
        .unwrap();
    expect_problem(malformed, 400).await;
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_reconciliation_runs")
            .await,
        0
    );
}

#[tokio::test]
async fn one_run_executes_per_portal_and_silent_runs_are_failed() {
    let app = spawn_app().await;
    let started = runs::start(&app.database, PORTAL_ID, false, "schedule")
        .await
        .unwrap()
        .expect("nothing else runs");
    assert!(
        runs::start(&app.database, PORTAL_ID, false, "schedule")
            .await
            .unwrap()
            .is_none(),
        "a second executing run of the portal is refused"
    );
    let queued: Value = request(&app, &admin(), Some(&json!({})))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        runs::claim_next(&app.database, PORTAL_ID)
            .await
            .unwrap()
            .is_none(),
        "the queued run waits while another executes"
    );
    assert_eq!(
        runs::fail_abandoned(
            &app.database,
            PORTAL_ID,
            std::time::Duration::from_secs(600)
        )
        .await
        .unwrap(),
        0
    );
    app.execute(&format!(
        "UPDATE hubspot_reconciliation_runs SET heartbeat_at = now() - interval '1 hour' WHERE id = '{}'",
        started.id
    ))
    .await;
    assert_eq!(
        runs::fail_abandoned(
            &app.database,
            PORTAL_ID,
            std::time::Duration::from_secs(600)
        )
        .await
        .unwrap(),
        1
    );
    let claimed = runs::claim_next(&app.database, PORTAL_ID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id.to_string(), queued["id"].as_str().unwrap());
    let abandoned: Value = get_as(
        &app,
        &admin(),
        &format!("/v1/sync/reconciliations/{}", started.id),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(abandoned["status"], "failed");
    assert!(
        abandoned["details"]["error"]
            .as_str()
            .unwrap()
            .contains("abandoned")
    );
}

/// A run that got to the end with errors is recorded and served as `completed_with_errors`
/// (migration V5), not `succeeded`; the OpenAPI document lists every status.
#[tokio::test]
async fn a_run_with_errors_is_completed_with_errors_not_succeeded() {
    let app = spawn_app().await;
    let queued: Value = request(&app, &admin(), None).await.json().await.unwrap();
    let claimed = runs::claim_next(&app.database, PORTAL_ID)
        .await
        .unwrap()
        .unwrap();
    let counts = RunCounts {
        customers_checked: 3,
        companies_checked: 3,
        drift_found: 3,
        drift_fixed: 2,
        errors: 1,
    };
    assert_eq!(
        RunOutcome::finished_with(1),
        RunOutcome::CompletedWithErrors
    );
    assert_eq!(RunOutcome::finished_with(0), RunOutcome::Succeeded);
    let report = json!({"error_reasons": ["customer …: company_name: …"]});
    runs::finish(
        &app.database,
        claimed.id,
        RunOutcome::finished_with(1),
        &counts,
        &report,
    )
    .await
    .unwrap();
    let done: Value = get_as(
        &app,
        &admin(),
        &format!(
            "/v1/sync/reconciliations/{}",
            queued["id"].as_str().unwrap()
        ),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(done["status"], "completed_with_errors");
    assert_eq!(done["errors"], 1);
    assert_eq!(done["drift_fixed"], 2);

    let document: Value = app
        .client
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        document["components"]["schemas"]["ReconciliationStatus"]["enum"],
        json!(["running", "succeeded", "completed_with_errors", "failed"])
    );
}
