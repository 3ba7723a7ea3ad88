//! Security checks over the whole API (DESIGN §4.7), driven by the OpenAPI document so that a
//! route added later is covered without touching this file:
//! - every secured route × {no token, malformed, bad signature, expired, wrong issuer, wrong
//!   audience} → 401 problem+json with a Bearer challenge, and × {no role, the role just below
//!   the one its 403 documents} → 403 problem+json, nothing changed by any refused call;
//! - SQL-injection-shaped text in every free-text field, header and query parameter is stored
//!   verbatim and read back equal, or refused as invalid input; never a 500, every table intact.

mod sync_api_support;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use sync_api_support::*;
use warp_tests::*;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(roles: &[&str]) -> Value {
    json!({"sub": "security-test", "iss": "warp-local", "aud": "warp-api",
           "exp": now() + 300, "iat": now(), "roles": roles})
}

/// An HS256 token over `payload` exactly as written: it may repeat a claim, which no JSON
/// serialiser produces.
fn hs256_raw(payload: &str, secret: &str) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let message = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(payload.as_bytes())
    );
    let key = EncodingKey::from_secret(secret.as_bytes());
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
    format!("{message}.{signature}")
}

fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// One documented operation.
#[derive(Debug, Clone)]
struct Operation {
    method: Method,
    /// The path template, e.g. `/v1/customers/{id}`.
    path: String,
    secured: bool,
    /// The role its 403 answer documents ("The admin role is needed"; the first of several).
    role: Option<&'static str>,
    /// Query parameters: name and whether required.
    query: Vec<(String, bool)>,
}

/// Every operation of the API's OpenAPI document.
fn documented_operations() -> Vec<Operation> {
    let document = serde_json::to_value(warp_api::openapi::document()).unwrap();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !operation.is_object() || method == Method::OPTIONS {
                continue;
            }
            let secured = operation["security"]
                .as_array()
                .is_some_and(|requirements| !requirements.is_empty());
            let forbidden = operation["responses"]["403"]["description"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase();
            let role = ["admin", "editor", "viewer", "ingest"]
                .into_iter()
                .find(|role| forbidden.contains(&format!("{role} role")));
            let query = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|parameter| parameter["in"] == "query")
                .map(|parameter| {
                    (
                        parameter["name"].as_str().unwrap().to_owned(),
                        parameter["required"] == true,
                    )
                })
                .collect();
            operations.push(Operation {
                method,
                path: path.clone(),
                secured,
                role,
                query,
            });
        }
    }
    operations
}

/// The role just below `role`; `None` below viewer.
fn weaker(role: &str) -> Option<&'static str> {
    match role {
        "admin" => Some("editor"),
        "editor" => Some("viewer"),
        _ => None,
    }
}

/// The path with its parameters filled in: a real customer's id and BAN, a fresh UUID for
/// any other id.
fn concrete(path: &str, customer_id: &str, ban: &str) -> String {
    let mut out = String::new();
    for segment in path.split('/').skip(1) {
        out.push('/');
        match segment {
            "{id}" if path.starts_with("/v1/customers/") => out.push_str(customer_id),
            "{ban}" => out.push_str(ban),
            s if s.starts_with('{') => out.push_str(&uuid::Uuid::new_v4().to_string()),
            s => out.push_str(s),
        }
    }
    out
}

/// The path with the customer's id or BAN spelled in every non-canonical way a parser might
/// accept: braces, URN, no hyphens, upper case; a lower-case BAN.
fn non_canonical(path: &str, customer_id: &str, ban: &str) -> Vec<String> {
    let ids = [
        format!("{{{customer_id}}}"),
        format!("urn:uuid:{customer_id}"),
        customer_id.replace('-', ""),
        customer_id.to_uppercase(),
    ];
    if path.contains("{ban}") {
        vec![path.replace("{ban}", &ban.to_lowercase())]
    } else if path.starts_with("/v1/customers/{id}") {
        ids.iter().map(|id| path.replace("{id}", id)).collect()
    } else {
        Vec::new()
    }
}

async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    authorization: Option<&str>,
) -> reqwest::Response {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if [Method::POST, Method::PUT, Method::PATCH].contains(method) {
        request = request
            .header("content-type", "application/json")
            .body("{}");
    }
    request.send().await.unwrap()
}

/// An admin's request; writes carry an empty JSON object.
fn send(app: &TestApp, method: &Method, path: &str) -> reqwest::RequestBuilder {
    let request = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(admin());
    if [Method::POST, Method::PUT, Method::PATCH].contains(method) {
        request
            .header("content-type", "application/json")
            .body("{}")
    } else {
        request
    }
}

/// Row counts of every table the API writes: a refused call must change none of them.
async fn table_counts(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "customers",
        "hubspot_sync_queue",
        "hubspot_sync_log",
        "hubspot_field_state",
        "sync_conflicts",
        "idempotency_keys",
        "hubspot_reconciliation_runs",
    ] {
        counts.push(app.scalar(&format!("SELECT count(*) FROM {table}")).await);
    }
    counts
}

#[tokio::test]
async fn every_documented_route_refuses_bad_tokens_and_weak_roles() {
    let s = spawn_sync_app().await;
    let app = &s.app;
    let customer = app.create(&acme()).await;
    let id = customer["id"].as_str().unwrap().to_owned();
    let ban = customer["ban"].as_str().unwrap().to_owned();

    let operations = documented_operations();
    let secured: Vec<&Operation> = operations.iter().filter(|o| o.secured).collect();
    // The document must describe the API: every route the lead's issue lists is in it.
    assert!(
        secured.len() >= 15,
        "only {} secured operations",
        secured.len()
    );
    for (method, path) in [
        (Method::GET, "/v1/customers"),
        (Method::DELETE, "/v1/customers/{id}"),
        (Method::GET, "/v1/sync/status"),
        (Method::GET, "/v1/sync/logs"),
        (Method::GET, "/v1/sync/hubspot/companies/search"),
        (Method::POST, "/v1/customers/{id}/hubspot-link"),
        (Method::GET, "/v1/sync/conflicts"),
    ] {
        assert!(
            secured.iter().any(|o| o.method == method && o.path == path),
            "{method} {path} is not documented as secured"
        );
    }
    // Only the health check, the document itself and HubSpot's OAuth redirect (whose signed,
    // single-use state is the proof) are public.
    let public: Vec<String> = operations
        .iter()
        .filter(|o| !o.secured)
        .map(|o| format!("{} {}", o.method, o.path))
        .collect();
    assert_eq!(
        public,
        [
            "GET /health",
            "GET /v1/hubspot/oauth/callback",
            "GET /v1/openapi.json"
        ]
    );

    let mut expired = claims(&["admin"]);
    expired["exp"] = json!(now() - 3600);
    let mut wrong_audience = claims(&["admin"]);
    wrong_audience["aud"] = json!("another-api");
    let mut wrong_issuer = claims(&["admin"]);
    wrong_issuer["iss"] = json!("someone-else");
    let mut no_expiry = claims(&["admin"]);
    no_expiry.as_object_mut().unwrap().remove("exp");
    let mut not_yet_valid = claims(&["admin"]);
    not_yet_valid["nbf"] = json!(now() + 600);
    let mut issued_in_the_future = claims(&["admin"]);
    issued_in_the_future["iat"] = json!(now() + 600);
    let mut never_expiring = claims(&["admin"]);
    never_expiring["exp"] = json!(u64::MAX);
    let mut too_long = claims(&["admin"]);
    too_long["exp"] = json!(now() + 30 * 86_400);
    // `roles` twice: a last-wins reader would see admin.
    let repeated_roles = format!(
        r#"{{"sub":"security-test","iss":"warp-local","aud":"warp-api","exp":{},"iat":{},"roles":["viewer"],"roles":["admin"]}}"#,
        now() + 300,
        now()
    );
    let unauthenticated = [
        ("no token", None),
        ("basic auth", Some("Basic dXNlcjpwdw==".to_owned())),
        ("malformed", Some("Bearer not-a-jwt".to_owned())),
        (
            "bad signature",
            Some(format!(
                "Bearer {}",
                hs256(&claims(&["admin"]), "another-secret-0123456789abcdef")
            )),
        ),
        (
            "expired",
            Some(format!("Bearer {}", hs256(&expired, TEST_SECRET))),
        ),
        (
            "wrong audience",
            Some(format!("Bearer {}", hs256(&wrong_audience, TEST_SECRET))),
        ),
        (
            "wrong issuer",
            Some(format!("Bearer {}", hs256(&wrong_issuer, TEST_SECRET))),
        ),
        (
            "no expiry",
            Some(format!("Bearer {}", hs256(&no_expiry, TEST_SECRET))),
        ),
        (
            "nbf in the future",
            Some(format!("Bearer {}", hs256(&not_yet_valid, TEST_SECRET))),
        ),
        (
            "iat in the future",
            Some(format!(
                "Bearer {}",
                hs256(&issued_in_the_future, TEST_SECRET)
            )),
        ),
        (
            "exp of 2^64-1",
            Some(format!("Bearer {}", hs256(&never_expiring, TEST_SECRET))),
        ),
        (
            "a lifetime over the maximum",
            Some(format!("Bearer {}", hs256(&too_long, TEST_SECRET))),
        ),
        (
            "roles twice",
            Some(format!(
                "Bearer {}",
                hs256_raw(&repeated_roles, TEST_SECRET)
            )),
        ),
    ];
    let before = table_counts(app).await;
    let mut checked = 0;
    for operation in &secured {
        let path = concrete(&operation.path, &id, &ban);
        let route = format!("{} {}", operation.method, operation.path);
        for (what, authorization) in &unauthenticated {
            let response = call(app, &operation.method, &path, authorization.as_deref()).await;
            assert_eq!(response.status(), 401, "{what} on {route}");
            assert!(
                response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("Bearer")),
                "{what} on {route}: no Bearer challenge"
            );
            expect_problem(response, 401).await;
            checked += 1;
        }
        let role = operation
            .role
            .unwrap_or_else(|| panic!("{route} does not document the role its 403 needs"));
        let mut too_weak = vec![
            format!("Bearer {}", hs256(&claims(&[]), TEST_SECRET)),
            format!("Bearer {}", hs256(&claims(&["superuser"]), TEST_SECRET)),
        ];
        if let Some(weaker) = weaker(role) {
            too_weak.push(format!("Bearer {}", token(&[weaker])));
        }
        // The platform's role stands outside the others: not even admin holds it.
        if role == "ingest" {
            too_weak.push(format!("Bearer {}", token(&["admin"])));
        }
        for authorization in &too_weak {
            let response = call(app, &operation.method, &path, Some(authorization)).await;
            assert_eq!(response.status(), 403, "weak role on {route}");
            expect_problem(response, 403).await;
            checked += 1;
        }
        // The documented role itself is let through (reads only: writes would change tables),
        // and no cache may keep what it reads.
        if operation.method == Method::GET {
            let allowed = format!("Bearer {}", token(&[role]));
            let response = call(app, &operation.method, &path, Some(&allowed)).await;
            assert!(
                !matches!(response.status().as_u16(), 401 | 403),
                "{role} refused on {route}: {}",
                response.status()
            );
            assert_eq!(
                response
                    .headers()
                    .get("cache-control")
                    .map(|v| v.to_str().unwrap()),
                Some("no-store"),
                "{route} may be cached"
            );
        }
        // An id in any spelling but the canonical one names nothing.
        for variant in non_canonical(&operation.path, &id, &ban) {
            let response = call(
                app,
                &operation.method,
                &variant,
                Some(&format!("Bearer {}", admin())),
            )
            .await;
            assert_eq!(response.status(), 404, "{} {variant}", operation.method);
            checked += 1;
        }
    }
    assert!(checked >= secured.len() * 10);
    assert_eq!(
        table_counts(app).await,
        before,
        "a refused call wrote something"
    );
}

/// Text shaped like SQL injection (and LIKE wildcards, quoting and comment tricks).
const INJECTIONS: [&str; 8] = [
    "Robert'); DROP TABLE customers;--",
    "' OR '1'='1",
    "1; DELETE FROM hubspot_sync_queue WHERE 'a'='a",
    "x'||pg_sleep(5)||'",
    "$$; TRUNCATE customers CASCADE; $$",
    "%' OR 1=1 --",
    "\"; DROP TABLE \"hubspot_sync_log\"; --",
    "_\\%_ \\' UNION SELECT * FROM idempotency_keys --",
];

/// The free-text fields of a customer, as JSON pointers into the create body.
const TEXT_FIELDS: [&str; 8] = [
    "/company_name",
    "/contact/name",
    "/address/line1",
    "/address/line2",
    "/address/city",
    "/address/region",
    "/address/postal_code",
    "/address/country",
];

/// Fields with a format (e-mail, phone, domain): injection-shaped text must be refused with
/// the field named, never stored.
const FORMATTED_FIELDS: [&str; 3] = ["/contact/email", "/contact/phone", "/domain"];

fn with_value(pointer: &str, value: &str) -> Value {
    let mut body = json!({"company_name": "Injection Test", "customer_type": "POSTPAID",
                          "contact": {}, "address": {}});
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut body
    } else {
        body.pointer_mut(parent).unwrap()
    };
    target[key] = json!(value);
    body
}

async fn public_tables(app: &TestApp) -> i64 {
    app.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_name IN ('customers', 'hubspot_sync_queue', 'hubspot_sync_log', \
           'hubspot_field_state', 'hubspot_sync_config', 'hubspot_webhook_events', \
           'hubspot_reconciliation_runs', 'sync_conflicts', 'idempotency_keys', \
           'hubspot_rate_limit_budget', 'hubspot_rate_limit_events')",
    )
    .await
}

#[tokio::test]
async fn injection_shaped_text_is_stored_verbatim_and_harmless() {
    let s = spawn_sync_app().await;
    let app = &s.app;
    assert_eq!(public_tables(app).await, 11);
    let mut stored = 0;

    for injection in INJECTIONS {
        for pointer in TEXT_FIELDS {
            let created = app.create(&with_value(pointer, injection)).await;
            stored += 1;
            let id = created["id"].as_str().unwrap();
            let read: Value = app
                .get(&format!("/v1/customers/{id}"))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(read.pointer(pointer).unwrap(), injection, "{pointer}");
        }
        for pointer in FORMATTED_FIELDS {
            let response = app.post_customer(&with_value(pointer, injection)).await;
            let problem = expect_problem(response, 422).await;
            let field = pointer.trim_start_matches('/').replace('/', ".");
            assert_eq!(problem_fields(&problem), [field]);
        }
        // A PATCH and a PUT carry it verbatim too.
        let id = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
        stored += 1;
        let patched = app
            .patch(&id, &json!({"company_name": injection}), Some("*"))
            .await;
        assert_eq!(patched.status(), 200);
        let replaced = app
            .client
            .put(app.url(&format!("/v1/customers/{id}")))
            .bearer_auth(editor())
            .header("if-match", "*")
            .json(&with_value("/address/city", injection))
            .send()
            .await
            .unwrap();
        assert_eq!(replaced.status(), 200);
        let read: Value = app
            .get(&format!("/v1/customers/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(read["address"]["city"], injection);
        assert_eq!(read["company_name"], "Injection Test");
    }

    // The Idempotency-Key header (visible ASCII, so without the spaces): a key, replayed,
    // never interpreted.
    for injection in INJECTIONS {
        let key = injection.replace(' ', "");
        let send = || {
            app.client
                .post(app.url("/v1/customers"))
                .bearer_auth(editor())
                .header("idempotency-key", &key)
                .json(&acme())
                .send()
        };
        let first = send().await.unwrap();
        assert_eq!(first.status(), 201, "{key}");
        stored += 1;
        let first: Value = first.json().await.unwrap();
        let again = send().await.unwrap();
        assert_eq!(again.status(), 201, "{key}");
        let again: Value = again.json().await.unwrap();
        assert_eq!(first["id"], again["id"], "the key replays");
    }

    // Query parameters and path segments: searched for literally, or refused by name.
    let total = app.scalar("SELECT count(*) FROM customers").await;
    assert_eq!(total, stored);
    let operations: Vec<Operation> = documented_operations()
        .into_iter()
        .filter(|o| o.secured)
        .collect();
    let customer = app.create(&acme()).await;
    stored += 1;
    let customer_id = customer["id"].as_str().unwrap().to_owned();
    let customer_ban = customer["ban"].as_str().unwrap().to_owned();
    let mut checked_parameters = 0;
    for injection in INJECTIONS {
        let list: Value = app
            .client
            .get(app.url("/v1/customers"))
            .bearer_auth(viewer())
            .query(&[("q", injection), ("limit", "100")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = list["items"].as_array().unwrap();
        assert!(
            !items.is_empty() && (items.len() as i64) < total,
            "q matches only what contains it literally: {} of {total} for {injection}",
            items.len()
        );
        // Every documented query parameter of every operation: the text is taken as a value
        // (200) or refused with that parameter named (422); required others get a plain value.
        for operation in &operations {
            let path = concrete(&operation.path, &customer_id, &customer_ban);
            for (name, _) in &operation.query {
                let mut query = vec![(name.as_str(), injection)];
                for (other, required) in &operation.query {
                    if *required && other != name {
                        query.push((other.as_str(), "acme"));
                    }
                }
                let response = send(app, &operation.method, &path)
                    .query(&query)
                    .send()
                    .await
                    .unwrap();
                let route = format!("{} {}?{name}", operation.method, operation.path);
                match response.status().as_u16() {
                    200 | 202 => {}
                    422 => {
                        let problem = expect_problem(response, 422).await;
                        assert!(
                            problem_fields(&problem).contains(name),
                            "{route}: {problem}"
                        );
                    }
                    other => panic!("{route}: {other} for {injection:?}"),
                }
                checked_parameters += 1;
            }
        }
        // Every documented path parameter: no such resource.
        let encoded: String = injection.bytes().map(|b| format!("%{b:02X}")).collect();
        for operation in operations.iter().filter(|o| o.path.contains('{')) {
            let mut path = String::new();
            for segment in operation.path.split('/').skip(1) {
                path.push('/');
                path.push_str(if segment.starts_with('{') {
                    &encoded
                } else {
                    segment
                });
            }
            let response = send(app, &operation.method, &path).send().await.unwrap();
            let route = format!("{} {}", operation.method, operation.path);
            assert_eq!(response.status(), 404, "{route} with {injection:?}");
            expect_problem(response, 404).await;
            checked_parameters += 1;
        }
    }
    assert!(
        checked_parameters >= INJECTIONS.len() * 20,
        "{checked_parameters}"
    );

    // A conflict resolved with an injection-shaped value applies it verbatim.
    let id = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    stored += 1;
    open_conflict(
        app,
        "00000000-0000-7000-8000-0000000000c1",
        &id,
        "Acme Telecom",
        "Other",
    )
    .await;
    let resolved = app
        .client
        .post(app.url("/v1/sync/conflicts/00000000-0000-7000-8000-0000000000c1/resolve"))
        .bearer_auth(admin())
        .json(&json!({"value": INJECTIONS[0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 200);
    let read: Value = app
        .get(&format!("/v1/customers/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["company_name"], INJECTIONS[0]);

    // Every table is still there and nothing was deleted.
    assert_eq!(public_tables(app).await, 11);
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, stored);
    assert!(app.scalar("SELECT count(*) FROM hubspot_sync_queue").await >= stored);
}
