//! The user API through the router and real Postgres: a customer's logins with the same
//! conventions as customers (Idempotency-Key, ETag/If-Match, problem+json naming each field,
//! cursors, roles).

use serde_json::{Value, json};
use warp_tests::*;

async fn post_user(
    app: &TestApp,
    customer: &str,
    body: &Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/customers/{customer}/users")))
        .bearer_auth(editor())
        .json(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.unwrap()
}

async fn created_user(app: &TestApp, customer: &str, body: &Value) -> Value {
    let response = post_user(app, customer, body, None).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn write(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    if_match: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(editor());
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    request.send().await.unwrap()
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_user_is_created_once_per_key_and_read_back_with_its_etag() {
    let app = spawn_app().await;
    let customer = app.create(&acme()).await;
    let customer_id = customer["id"].as_str().unwrap();
    let body = json!({
        "email": "Ada.Lovelace@Example.COM", "first_name": " Ada ", "last_name": "Lovelace",
        "phone": "+4791234567", "job_title": "CTO", "role": "admin", "two_factor_enabled": true,
    });

    let first = post_user(&app, customer_id, &body, Some("user-create-1")).await;
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()["etag"], "\"1\"");
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = first.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/users/{}", created["id"].as_str().unwrap())
    );
    assert_eq!(created["email"], "ada.lovelace@example.com");
    assert_eq!(created["first_name"], "Ada");
    assert_eq!(
        created["status"], "invited",
        "a login is enabled on purpose"
    );
    assert_eq!(created["customer_id"], customer_id);
    assert_eq!(created["api_key_count"], 0);

    let replay = post_user(&app, customer_id, &body, Some("user-create-1")).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), created);
    let other_body = json!({"email": "grace@example.com", "role": "developer"});
    let reused = post_user(&app, customer_id, &other_body, Some("user-create-1")).await;
    expect_problem(reused, 422).await;
    assert_eq!(app.scalar("SELECT count(*) FROM users").await, 1);

    let read = app.get(&location).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["etag"], "\"1\"");
    assert_eq!(read.headers()["cache-control"], "no-store");
    assert_eq!(read.json::<Value>().await.unwrap(), created);
    expect_problem(
        app.get(&format!("/v1/users/{}", uuid::Uuid::now_v7()))
            .await,
        404,
    )
    .await;

    // A viewer reads but does not create.
    let as_viewer = app
        .client
        .post(app.url(&format!("/v1/customers/{customer_id}/users")))
        .bearer_auth(viewer())
        .json(&other_body)
        .send()
        .await
        .unwrap();
    expect_problem(as_viewer, 403).await;
}

#[tokio::test]
async fn emails_are_unique_per_customer_and_bad_fields_are_each_named() {
    let app = spawn_app().await;
    let acme_id = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    let other = app
        .create(&json!({"company_name": "Globex", "customer_type": "PREPAID"}))
        .await;
    let other_id = other["id"].as_str().unwrap();
    created_user(
        &app,
        &acme_id,
        &json!({"email": "ops@acme.test", "role": "billing"}),
    )
    .await;

    let twin = post_user(
        &app,
        &acme_id,
        &json!({"email": "OPS@acme.test", "role": "readonly"}),
        None,
    )
    .await;
    let problem = expect_problem(twin, 409).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("email"),
        "{problem}"
    );
    // The same person may be a user of another customer.
    created_user(
        &app,
        other_id,
        &json!({"email": "ops@acme.test", "role": "readonly"}),
    )
    .await;

    let bad = post_user(
        &app,
        &acme_id,
        &json!({"email": "nope", "role": "root", "phone": "12345", "status": "gone",
                "two_factor_enabled": "yes", "api_key_count": 4, "nickname": "x"}),
        None,
    )
    .await;
    let problem = expect_problem(bad, 422).await;
    assert_eq!(
        problem_fields(&problem),
        [
            "api_key_count",
            "email",
            "nickname",
            "phone",
            "role",
            "status",
            "two_factor_enabled"
        ]
    );

    expect_problem(
        post_user(
            &app,
            &uuid::Uuid::now_v7().to_string(),
            &json!({"email": "a@b.test", "role": "admin"}),
            None,
        )
        .await,
        404,
    )
    .await;
    app.execute(&format!(
        "UPDATE customers SET deleted_at = now() WHERE id = '{other_id}'"
    ))
    .await;
    expect_problem(
        post_user(
            &app,
            other_id,
            &json!({"email": "new@globex.test", "role": "admin"}),
            None,
        )
        .await,
        409,
    )
    .await;
    assert_eq!(app.scalar("SELECT count(*) FROM users").await, 2);
}

#[tokio::test]
async fn users_are_listed_by_customer_in_pages_and_found_by_email_across_customers() {
    let app = spawn_app().await;
    let acme_id = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    let globex_id = app
        .create(&json!({"company_name": "Globex", "customer_type": "PREPAID"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 0..5 {
        created_user(
            &app,
            &acme_id,
            &json!({"email": format!("u{n}@acme.test"), "role": "developer"}),
        )
        .await;
    }
    created_user(
        &app,
        &globex_id,
        &json!({"email": "u0@acme.test", "role": "admin"}),
    )
    .await;

    let mut seen = Vec::new();
    let mut path = format!("/v1/customers/{acme_id}/users?limit=2");
    loop {
        let page = ok(app.get(&path).await).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/customers/{acme_id}/users?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "u0@acme.test",
            "u1@acme.test",
            "u2@acme.test",
            "u3@acme.test",
            "u4@acme.test"
        ]
    );

    let one = ok(app
        .get(&format!("/v1/customers/{acme_id}/users?email=U3@ACME.test"))
        .await)
    .await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    let everywhere = ok(app.get("/v1/users?email=u0@acme.test").await).await;
    let customers: Vec<&str> = everywhere["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(customers.len(), 2);
    assert!(customers.contains(&acme_id.as_str()) && customers.contains(&globex_id.as_str()));

    let problem = expect_problem(app.get("/v1/users").await, 422).await;
    assert_eq!(problem_fields(&problem), ["email"]);
    let problem = expect_problem(
        app.get(&format!(
            "/v1/customers/{acme_id}/users?limit=0&cursor=%25%25&email=x&sort=asc"
        ))
        .await,
        422,
    )
    .await;
    assert_eq!(problem_fields(&problem), ["cursor", "limit", "sort"]);
    // A filter that is no address matches no user: an empty page, not an error.
    let nobody = ok(app
        .get(&format!("/v1/customers/{acme_id}/users?email=x"))
        .await)
    .await;
    assert_eq!(nobody["items"], json!([]));
    let nobody = ok(app.get("/v1/users?email=not%20an%20address").await).await;
    assert_eq!(nobody["items"], json!([]));
    expect_problem(
        app.get(&format!("/v1/customers/{}/users", uuid::Uuid::now_v7()))
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn updates_need_the_current_etag_and_disabling_keeps_the_user() {
    let app = spawn_app().await;
    let acme_id = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    let user = created_user(
        &app,
        &acme_id,
        &json!({"email": "eve@acme.test", "role": "developer", "job_title": "Engineer", "status": "active"}),
    )
    .await;
    let path = format!("/v1/users/{}", user["id"].as_str().unwrap());
    let patch = json!({"job_title": null, "role": "billing", "last_name": "Smith"});

    let missing = write(&app, reqwest::Method::PATCH, &path, Some(&patch), None).await;
    expect_problem(missing, 428).await;
    let stale = write(
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(&patch),
        Some("\"9\""),
    )
    .await;
    expect_problem(stale, 412).await;
    let read_only = write(
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(&json!({"api_key_count": 9})),
        Some("\"1\""),
    )
    .await;
    let problem = expect_problem(read_only, 422).await;
    assert_eq!(problem_fields(&problem), ["api_key_count"]);

    let updated = write(
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(&patch),
        Some("\"1\""),
    )
    .await;
    assert_eq!(updated.headers()["etag"], "\"2\"");
    let updated = ok(updated).await;
    assert!(updated["job_title"].is_null());
    assert_eq!(updated["role"], "billing");
    assert_eq!(updated["last_name"], "Smith");
    assert_eq!(updated["email"], "eve@acme.test");
    // The same patch again changes nothing, not even the version.
    let again = ok(write(&app, reqwest::Method::PATCH, &path, Some(&patch), Some("*")).await).await;
    assert_eq!(again["version"], 2);

    let disable = format!("{path}/disable");
    expect_problem(
        write(&app, reqwest::Method::POST, &disable, None, None).await,
        428,
    )
    .await;
    let disabled =
        ok(write(&app, reqwest::Method::POST, &disable, None, Some("\"2\"")).await).await;
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(disabled["version"], 3);
    assert_eq!(ok(app.get(&path).await).await["status"], "disabled");
}
