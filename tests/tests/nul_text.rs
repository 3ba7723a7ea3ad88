//! Issue 17: a NUL character (U+0000), which Postgres stores in neither `text` nor `jsonb`, in
//! every text the API takes from a caller: each customer field, query parameters, conflict
//! resolutions, link and reconciliation bodies, and the token's subject (which the API stores
//! as the idempotency scope, the reconciliation's requester and the resolver). Each is refused
//! with 422 naming the field, or stored with U+FFFD in its place; never a 500, never a row
//! left behind by a refusal.

mod sync_api_support;

use serde_json::{Value, json};
use sync_api_support::*;
use warp_tests::*;

const NUL: &str = "a\u{0}b";

async fn customer_count(app: &TestApp) -> i64 {
    app.scalar("SELECT count(*) FROM customers").await
}

#[tokio::test]
async fn a_nul_in_any_customer_text_field_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let full = json!({
        "company_name": "Acme", "customer_type": "POSTPAID", "status": "ACTIVE",
        "credit_limit": "10.00", "current_balance": "0.00", "domain": "acme.example",
        "contact": {"name": "Ada", "email": "ada@acme.example", "phone": "+14155550100"},
        "address": {"line1": "1 Road", "line2": "Floor 2", "city": "Oslo", "region": "Oslo",
                    "postal_code": "0150", "country": "NO"},
    });
    let fields = [
        "company_name",
        "customer_type",
        "status",
        "credit_limit",
        "current_balance",
        "domain",
        "contact.name",
        "contact.email",
        "contact.phone",
        "address.line1",
        "address.line2",
        "address.city",
        "address.region",
        "address.postal_code",
        "address.country",
    ];
    for field in fields {
        let mut body = full.clone();
        let target = match field.split_once('.') {
            Some((outer, inner)) => &mut body[outer][inner],
            None => &mut body[field],
        };
        *target = json!(NUL);
        let problem = expect_problem(app.post_customer(&body).await, 422).await;
        assert_eq!(problem_fields(&problem), [field], "{field}");
        assert!(!problem.to_string().contains('\u{0}'), "{field}");
    }
    // A NUL in a member name is an unknown field, also named.
    let mut body = full.clone();
    body["contact"]["n\u{0}me"] = json!("x");
    expect_problem(app.post_customer(&body).await, 422).await;
    assert_eq!(customer_count(&app).await, 0);

    // The same values through PATCH and PUT.
    let created = app.create(&full).await;
    let id = created["id"].as_str().unwrap();
    for field in ["company_name", "contact.name", "address.city"] {
        let patch = match field.split_once('.') {
            Some((outer, inner)) => json!({ (outer): { (inner): NUL } }),
            None => json!({ (field): NUL }),
        };
        let problem = expect_problem(app.patch(id, &patch, Some("*")).await, 422).await;
        assert_eq!(problem_fields(&problem), [field], "{field}");
        let mut put = full.clone();
        let target = match field.split_once('.') {
            Some((outer, inner)) => &mut put[outer][inner],
            None => &mut put[field],
        };
        *target = json!(NUL);
        let answer = app
            .client
            .put(app.url(&format!("/v1/customers/{id}")))
            .bearer_auth(editor())
            .header("if-match", "*")
            .json(&put)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(answer, 422).await;
        assert_eq!(problem_fields(&problem), [field], "{field}");
    }
    assert_eq!(app.customer(id).await["version"], 1);
}

#[tokio::test]
async fn a_nul_in_query_parameters_and_paths_is_never_a_server_error() {
    let app = spawn_app().await;
    app.create(&acme()).await;
    for path in [
        "/v1/customers?q=a%00b",
        "/v1/customers?status=%00",
        "/v1/customers?customer_type=A%00",
        "/v1/customers?cursor=%00",
        "/v1/customers?limit=1%00",
        "/v1/customers/by-ban/WC%00123456789",
        "/v1/customers/%00",
        "/v1/sync/logs?status=%00",
        "/v1/sync/logs?direction=%00",
        "/v1/sync/logs?customer_id=%00",
        "/v1/sync/conflicts?status=%00",
        "/v1/sync/reconciliations?cursor=%00",
    ] {
        let answer = app
            .client
            .get(app.url(path))
            .bearer_auth(admin())
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        assert!(
            [200, 404, 422].contains(&status),
            "{path}: {status} {}",
            answer.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn a_nul_in_sync_bodies_is_refused_naming_the_field() {
    let s = spawn_sync_app().await;
    let app = &s.app;
    let created = app.create(&acme()).await;
    let id = created["id"].as_str().unwrap();
    open_conflict(app, "00000000-0000-7000-8000-00000000d0b1", id, "a", "b").await;
    let post = |path: String, body: Value| {
        app.client
            .post(app.url(&path))
            .bearer_auth(admin())
            .json(&body)
            .send()
    };
    let cases = [
        (
            "/v1/sync/conflicts/00000000-0000-7000-8000-00000000d0b1/resolve".to_owned(),
            json!({"value": NUL}),
            "value",
        ),
        (
            "/v1/sync/conflicts/00000000-0000-7000-8000-00000000d0b1/resolve".to_owned(),
            json!({"winner": NUL}),
            "winner",
        ),
        (
            format!("/v1/customers/{id}/hubspot-link"),
            json!({"hubspot_company_id": "12\u{0}3"}),
            "hubspot_company_id",
        ),
        (
            "/v1/sync/reconciliations".to_owned(),
            json!({"dry_run": NUL}),
            "dry_run",
        ),
    ];
    for (path, body, field) in cases {
        let problem = expect_problem(post(path.clone(), body).await.unwrap(), 422).await;
        assert_eq!(problem_fields(&problem), [field], "{path}");
    }
    assert_eq!(
        app.scalar("SELECT count(*) FROM sync_conflicts WHERE status = 'OPEN'")
            .await,
        1
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_reconciliation_runs")
            .await,
        0
    );
}

/// The token's subject is the caller's text too (an identity provider may allow anything in
/// it), and the API stores it: as the idempotency scope, the requester of a reconciliation and
/// the resolver of a conflict. With a NUL in it, each still works (U+FFFD stored in its place).
#[tokio::test]
async fn a_nul_in_the_token_subject_is_never_a_server_error() {
    let s = spawn_sync_app().await;
    let app = &s.app;
    let subject = "user\u{0}1";
    let token = token_for(subject, &["admin"]);
    let create = || {
        app.client
            .post(app.url("/v1/customers"))
            .bearer_auth(&token)
            .header("idempotency-key", "nul-subject-1")
            .json(&acme())
            .send()
    };
    let first = create().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let replay = create().await.unwrap();
    assert_eq!(replay.status(), 201);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["id"], first["id"], "the stored answer is replayed");
    assert_eq!(customer_count(app).await, 1);

    let run = app
        .client
        .post(app.url("/v1/sync/reconciliations"))
        .bearer_auth(&token)
        .json(&json!({"dry_run": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 202);
    let run: Value = run.json().await.unwrap();
    assert_eq!(run["requested_by"], "user\u{FFFD}1");

    let id = first["id"].as_str().unwrap();
    open_conflict(
        app,
        "00000000-0000-7000-8000-00000000d0b2",
        id,
        "Acme Telecom",
        "Acme HubSpot",
    )
    .await;
    let resolved = app
        .client
        .post(app.url("/v1/sync/conflicts/00000000-0000-7000-8000-00000000d0b2/resolve"))
        .bearer_auth(&token)
        .json(&json!({"winner": "warp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 200, "{}", resolved.text().await.unwrap());
}

/// An `Idempotency-Key` (any header) cannot carry a NUL byte: HTTP forbids it, and the server
/// refuses the request before the API sees it (400), storing nothing. Sent raw, since HTTP
/// clients refuse to build such a header.
#[tokio::test]
async fn a_nul_in_the_idempotency_key_header_is_refused_before_the_api() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = spawn_app().await;
    let body = acme().to_string();
    let request = format!(
        "POST /v1/customers HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nIdempotency-Key: a\0b\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        editor(),
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(customer_count(&app).await, 0);
}
