//! The audit log (issue 23) through the API over real Postgres: every customer and user write
//! is recorded in its own transaction with the JWT subject, the route, the request id and each
//! changed field's old and new value; admins read it by entity and actor; entries older than
//! the retention period are purged.

use serde_json::{Value, json};
use warp_tests::*;

async fn audit(app: &TestApp, query: &str, token: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/v1/audit{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn entries(app: &TestApp, query: &str) -> Vec<Value> {
    let response = audit(app, query, &admin()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn every_api_write_is_audited_with_who_what_and_each_old_and_new_value() {
    let app = spawn_app().await;
    let created = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(token_for("ada@ops.example", &["editor"]))
        .header("x-request-id", "req-create-1")
        .json(&json!({"company_name": "Audit Telecom", "customer_type": "POSTPAID", "credit_limit": "100.00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let customer: Value = created.json().await.unwrap();
    let id = customer["id"].as_str().unwrap().to_owned();
    let patched = app
        .patch(&id, &json!({"credit_limit": "250.00"}), Some("\"1\""))
        .await;
    assert_eq!(patched.status(), 200);
    let user: Value = app
        .client
        .post(app.url(&format!("/v1/customers/{id}/users")))
        .bearer_auth(editor())
        .json(&json!({"email": "Bo@Audit.example", "role": "billing"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_id = user["id"].as_str().unwrap().to_owned();
    let disabled = app
        .client
        .post(app.url(&format!("/v1/users/{user_id}/disable")))
        .bearer_auth(editor())
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    let deleted = app
        .client
        .delete(app.url(&format!("/v1/customers/{id}")))
        .bearer_auth(editor())
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    let customer_entries = entries(&app, &format!("?entity_id={id}")).await;
    let actions: Vec<&str> = customer_entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["delete", "update", "create"], "newest first");
    let create = &customer_entries[2];
    assert_eq!(create["actor"], "ada@ops.example");
    assert_eq!(create["route"], "POST /v1/customers");
    assert_eq!(create["request_id"], "req-create-1");
    assert_eq!(
        create["changes"]["company_name"],
        json!({"old": null, "new": "Audit Telecom"})
    );
    let update = &customer_entries[1];
    assert_eq!(update["route"], "PATCH /v1/customers/{id}");
    assert_eq!(
        update["changes"],
        json!({"credit_limit": {"old": "100.00", "new": "250.00"}}),
        "only what changed"
    );
    assert!(
        update["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    let delete = &customer_entries[0];
    assert_eq!(delete["changes"]["status"]["new"], "CLOSED");
    assert!(delete["changes"]["deleted_at"]["new"].is_string());

    let user_entries = entries(&app, &format!("?entity_type=user&entity_id={user_id}")).await;
    assert_eq!(user_entries.len(), 2);
    assert_eq!(user_entries[0]["action"], "update");
    let user_changes = user_entries[0]["changes"].as_object().unwrap();
    assert_eq!(user_changes.keys().collect::<Vec<_>>(), vec!["status"]);
    assert_eq!(user_changes["status"]["new"], "disabled");
    assert_eq!(
        user_entries[1]["changes"]["email"]["new"],
        "bo@audit.example"
    );

    // By actor, paged.
    let by_ada = entries(&app, "?actor=ada@ops.example").await;
    assert_eq!(by_ada.len(), 1);
    let first_page: Value = audit(&app, "?limit=2", &admin())
        .await
        .json()
        .await
        .unwrap();
    let cursor = first_page["next_cursor"].as_str().unwrap();
    let second = entries(&app, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(second.len(), 2);
    assert!(second[0]["id"].as_i64() < first_page["items"][1]["id"].as_i64());

    // Admins only; bad filters named.
    assert_eq!(audit(&app, "", &editor()).await.status(), 403);
    let invalid = audit(&app, "?entity_type=deal&entity_id=x", &admin()).await;
    let problem = expect_problem(invalid, 422).await;
    assert_eq!(problem_fields(&problem), vec!["entity_id", "entity_type"]);

    // Retention: entries older than the period go, the rest stay.
    app.execute(&format!(
        "UPDATE audit_log SET at = now() - interval '500 days' WHERE entity_id = '{user_id}'"
    ))
    .await;
    let purged = warp_store::audit::purge(&app.database, warp_store::audit::DEFAULT_RETENTION, 100)
        .await
        .unwrap();
    assert_eq!(purged, 2);
    assert_eq!(app.scalar("SELECT count(*) FROM audit_log").await, 3);
}
