//! API Gateway HTTP API (payload 2.0) events, as JSON fixtures, through lambda_http's adapter
//! and the customer API router over a real Postgres: the exact path a request takes in Lambda.

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service};
use serde_json::Value;
use std::time::Duration;
use warp_api::auth::{AuthConfig, KeySource, issue_dev_token};
use warp_api::{ApiState, router};

const SECRET: &str = "fixture-test-secret";

struct Lambda {
    router: axum::Router,
    token: String,
}

impl Lambda {
    async fn new() -> Self {
        let db = warp_testkit::fresh_database().await;
        let auth = AuthConfig {
            roles_claim: AuthConfig::DEFAULT_ROLES_CLAIM.to_owned(),
            issuer: "warp-local".into(),
            audience: "warp-api".into(),
            keys: KeySource::Hs256(SECRET.to_owned().into()),
            max_lifetime: AuthConfig::DEFAULT_MAX_LIFETIME,
        };
        let token = issue_dev_token(
            &SECRET.to_owned().into(),
            "warp-local",
            "warp-api",
            "fixture-user",
            &["editor"],
            Duration::from_secs(300),
        )
        .unwrap();
        Lambda {
            router: router(ApiState::new(db, auth, 62515)),
            token,
        }
    }

    /// Feeds a fixture (with {{TOKEN}} and {{ID}} filled in) through the adapter; returns the
    /// API Gateway response JSON.
    async fn invoke(&self, fixture: &str, id: &str) -> Value {
        let path = format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("{{TOKEN}}", &self.token)
            .replace("{{ID}}", id);
        let request: LambdaRequest =
            serde_json::from_str(&text).expect("fixture is a valid API Gateway v2 event");
        let mut adapter = Adapter::from(self.router.clone());
        let response = adapter
            .call(LambdaEvent::new(request, Context::default()))
            .await
            .unwrap_or_else(|_| panic!("handler failed on {fixture}"));
        serde_json::to_value(response).unwrap()
    }
}

fn status(response: &Value) -> u64 {
    response["statusCode"].as_u64().expect("statusCode")
}

fn header<'a>(response: &'a Value, name: &str) -> &'a str {
    response["headers"][name]
        .as_str()
        .unwrap_or_else(|| panic!("header {name} in {response}"))
}

fn body(response: &Value) -> Value {
    let raw = response["body"].as_str().expect("body");
    let text = if response["isBase64Encoded"].as_bool() == Some(true) {
        use base64::Engine;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap(),
        )
        .unwrap()
    } else {
        raw.to_owned()
    };
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body: {text}"))
}

#[tokio::test]
async fn create_get_list_and_errors_through_the_lambda_adapter() {
    let lambda = Lambda::new().await;

    let created = lambda.invoke("create_customer.json", "").await;
    assert_eq!(status(&created), 201, "{created}");
    let customer = body(&created);
    let id = customer["id"].as_str().unwrap().to_owned();
    assert_eq!(header(&created, "location"), format!("/v1/customers/{id}"));
    assert_eq!(customer["company_name"], "Lambda Telecom");
    assert_eq!(customer["credit_limit"], "250.00");
    assert!(customer["ban"].as_str().unwrap().len() == 12);

    // The same event again (API Gateway or the portal retrying) answers the same, creates nothing.
    let replay = lambda.invoke("create_customer.json", "").await;
    assert_eq!(status(&replay), 201);
    assert_eq!(body(&replay)["id"], customer["id"]);

    let fetched = lambda.invoke("get_customer.json", &id).await;
    assert_eq!(status(&fetched), 200);
    assert_eq!(body(&fetched)["ban"], customer["ban"]);
    assert!(!header(&fetched, "etag").is_empty());

    let listed = lambda.invoke("list_customers.json", "").await;
    assert_eq!(status(&listed), 200);
    let items = body(&listed)["items"].as_array().unwrap().clone();
    assert_eq!(
        items.len(),
        1,
        "the query string reached the handler: {items:?}"
    );

    let stale = lambda.invoke("patch_customer_stale.json", &id).await;
    assert_eq!(status(&stale), 412);
    assert_eq!(header(&stale, "content-type"), "application/problem+json");

    let invalid = lambda.invoke("create_customer_invalid.json", "").await;
    assert_eq!(status(&invalid), 422);
    let problem = body(&invalid);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in ["company_name", "customer_type", "credit_limit"] {
        assert!(fields.contains(&field), "{field} named in {problem}");
    }

    let unauthenticated = lambda.invoke("no_token.json", "").await;
    assert_eq!(status(&unauthenticated), 401);
    assert_eq!(
        header(&unauthenticated, "content-type"),
        "application/problem+json"
    );

    let health = lambda.invoke("health.json", "").await;
    assert_eq!(status(&health), 200);
}
