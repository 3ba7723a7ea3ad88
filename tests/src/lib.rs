//! Test harness for the customer API: `spawn_app()` gives each test its own fresh, migrated
//! database and the real router served on 127.0.0.1:0, plus a client and tokens per role.

use secrecy::SecretString;
use serde_json::Value;
use std::time::Duration;
use warp_api::{ApiState, AuthConfig};
use warp_store::Database;
use warp_testkit::Sql;

pub const TEST_SECRET: &str = "warp-tests-secret-0123456789abcdef";
pub const PORTAL_ID: i64 = 424242;

pub use warp_testkit::{serve, server_url};

/// A running API over its own database.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database: Database,
}

/// The API with HS256 auth (secret [`TEST_SECRET`], default issuer and audience).
pub async fn spawn_app() -> TestApp {
    spawn_app_with_auth(AuthConfig::hs256(SecretString::from(TEST_SECRET))).await
}

pub async fn spawn_app_with_auth(auth: AuthConfig) -> TestApp {
    spawn_app_with(auth, |state| state).await
}

/// The API with HS256 auth over a state `configure` finishes (a setting a test needs).
pub async fn spawn_app_configured(configure: impl FnOnce(ApiState) -> ApiState) -> TestApp {
    spawn_app_with(
        AuthConfig::hs256(SecretString::from(TEST_SECRET)),
        configure,
    )
    .await
}

async fn spawn_app_with(auth: AuthConfig, configure: impl FnOnce(ApiState) -> ApiState) -> TestApp {
    let database = warp_testkit::fresh_database().await;
    let state = configure(ApiState::new(database.clone(), auth, PORTAL_ID));
    let address = serve(warp_api::router(state)).await;
    TestApp {
        address,
        client: reqwest::Client::new(),
        database,
    }
}

/// An HS256 token signed with [`TEST_SECRET`].
pub fn token(roles: &[&str]) -> String {
    token_for("test-user", roles)
}

/// An HS256 token signed with [`TEST_SECRET`] for `subject`.
pub fn token_for(subject: &str, roles: &[&str]) -> String {
    warp_api::issue_dev_token(
        &SecretString::from(TEST_SECRET),
        AuthConfig::DEFAULT_ISSUER,
        AuthConfig::DEFAULT_AUDIENCE,
        subject,
        roles,
        Duration::from_secs(300),
    )
    .expect("token")
}

/// An HS256 token acting for the customer `customer_id` only (the `customer_id` claim).
pub fn scoped_token(customer_id: &str, roles: &[&str]) -> String {
    warp_api::issue_dev_token_for(
        &SecretString::from(TEST_SECRET),
        AuthConfig::DEFAULT_ISSUER,
        AuthConfig::DEFAULT_AUDIENCE,
        "owner@customer.example",
        roles,
        Some(uuid::Uuid::parse_str(customer_id).expect("a customer id")),
        Duration::from_secs(300),
    )
    .expect("token")
}

pub fn viewer() -> String {
    token(&["viewer"])
}
pub fn editor() -> String {
    token(&["editor"])
}
pub fn admin() -> String {
    token(&["admin"])
}

/// A minimal valid create body.
pub fn acme() -> Value {
    serde_json::json!({"company_name": "Acme Telecom", "customer_type": "POSTPAID"})
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_customer(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/customers"))
            .bearer_auth(editor())
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// Creates a customer and answers its JSON (panics unless 201).
    pub async fn create(&self, body: &Value) -> Value {
        let response = self.post_customer(body).await;
        assert_eq!(response.status(), 201, "create failed");
        response.json().await.expect("json")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(viewer())
            .send()
            .await
            .expect("GET")
    }

    pub async fn patch(&self, id: &str, body: &Value, if_match: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .patch(self.url(&format!("/v1/customers/{id}")))
            .bearer_auth(editor())
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string());
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        request.send().await.expect("PATCH")
    }

    /// The customer as a viewer reads it (panics unless 200).
    pub async fn customer(&self, id: &str) -> Value {
        let response = self.get(&format!("/v1/customers/{id}")).await;
        assert_eq!(response.status(), 200, "GET /v1/customers/{id}");
        response.json().await.expect("customer JSON")
    }

    /// One number from SQL (count(*) and the like).
    pub async fn scalar(&self, sql: &str) -> i64 {
        self.database.scalar(sql).await
    }

    pub async fn execute(&self, sql: &str) {
        self.database.execute(sql).await
    }
}

/// The field names of a problem document's `errors`, sorted.
pub fn problem_fields(problem: &Value) -> Vec<String> {
    let mut fields: Vec<String> = problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    fields.sort();
    fields
}

/// Asserts a problem+json answer with `status`; returns the document.
pub async fn expect_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let problem: Value = response.json().await.expect("problem json");
    assert_eq!(problem["status"], status);
    assert!(
        problem["type"].is_string()
            && problem["title"].is_string()
            && problem["detail"].is_string()
    );
    problem
}
