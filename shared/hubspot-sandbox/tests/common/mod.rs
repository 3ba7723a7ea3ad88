//! Shared test helpers: a sandbox on port 0, a small HTTP client, and a checker of answers
//! against HubSpot's OpenAPI response schemas.
#![allow(dead_code)]

use std::path::PathBuf;

use hubspot_sandbox::{SandboxConfig, SandboxHandle, spawn};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const APP_TOKEN: &str = "sandbox-app-token";
pub const USER_TOKEN: &str = "sandbox-user-token";

pub async fn start(config: SandboxConfig) -> SandboxHandle {
    spawn(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

/// A config with limits high enough that tests not about limits never hit them.
pub fn roomy() -> SandboxConfig {
    SandboxConfig {
        rate_limit_max: 100_000,
        search_per_second: 10_000,
        ..SandboxConfig::default()
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Api {
    pub fn new(handle: &SandboxHandle, token: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: handle.base_url(),
            token: Some(token.to_owned()),
        }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Answer {
        self.call(reqwest::Method::DELETE, path, None).await
    }
}

/// Creates the unique `warp_ban` property (and its group) used by upsert tests.
pub async fn create_warp_properties(api: &Api) {
    let group = api
        .post(
            "/crm/v3/properties/companies/groups",
            json!({"name": "warp", "label": "WARP", "displayOrder": -1}),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    let ban = api
        .post(
            "/crm/v3/properties/companies",
            json!({"name": "warp_ban", "label": "BAN", "type": "string", "fieldType": "text",
                   "groupName": "warp", "hasUniqueValue": true}),
        )
        .await;
    assert_eq!(ban.status, StatusCode::CREATED, "{}", ban.body);
    let limit = api
        .post(
            "/crm/v3/properties/companies",
            json!({"name": "warp_credit_limit", "label": "Credit limit", "type": "number",
                   "fieldType": "number", "groupName": "warp"}),
        )
        .await;
    assert_eq!(limit.status, StatusCode::CREATED, "{}", limit.body);
    let status = api
        .post(
            "/crm/v3/properties/companies",
            json!({"name": "warp_status", "label": "Status", "type": "enumeration",
                   "fieldType": "select", "groupName": "warp", "options": [
                       {"label": "Active", "value": "ACTIVE", "hidden": false},
                       {"label": "Suspended", "value": "SUSPENDED", "hidden": false}]}),
        )
        .await;
    assert_eq!(status.status, StatusCode::CREATED, "{}", status.body);
}

// ----- OpenAPI schema checking -----

pub fn spec(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../vendor/hubspot-specs")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read spec {}: {error}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            let target = spec
                .pointer(pointer)
                .unwrap_or_else(|| panic!("unresolved $ref {reference}"));
            resolve(spec, target)
        }
        None => schema,
    }
}

/// The response schema of an operation for a status (falls back to `default`).
pub fn response_schema(spec: &Value, path: &str, method: &str, status: u16) -> Value {
    let responses = &spec["paths"][path][method]["responses"];
    assert!(
        responses.is_object(),
        "no operation {method} {path} in spec"
    );
    let response = responses
        .get(status.to_string())
        .unwrap_or(&responses["default"]);
    let response = resolve(spec, response);
    let content = &response["content"];
    let media = content
        .get("application/json")
        .or_else(|| content.get("*/*"))
        .unwrap_or_else(|| panic!("no JSON content for {method} {path} {status}"));
    media["schema"].clone()
}

/// Checks `value` against `schema`: types, required fields, enums, nested objects and arrays.
pub fn schema_errors(spec: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = resolve(spec, schema);
    let mut errors = Vec::new();
    if value.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) {
            errors.push(format!("{at}: null where the schema does not allow it"));
        }
        return errors;
    }
    for key in ["allOf"] {
        if let Some(parts) = schema.get(key).and_then(Value::as_array) {
            for part in parts {
                errors.extend(schema_errors(spec, part, value, at));
            }
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(parts) = schema.get(key).and_then(Value::as_array)
            && !parts
                .iter()
                .any(|part| schema_errors(spec, part, value, at).is_empty())
        {
            errors.push(format!("{at}: matches none of {key}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} not in enum {allowed:?}"));
    }
    let type_ok = match schema.get("type").and_then(Value::as_str) {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(other) => panic!("unknown schema type {other}"),
    };
    if !type_ok {
        errors.push(format!("{at}: {value} is not of type {}", schema["type"]));
        return errors;
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && let Some(text) = value.as_str()
        && !(text.len() >= 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T')
    {
        errors.push(format!("{at}: {text:?} is not an ISO 8601 date-time"));
    }
    if let Some(object) = value.as_object() {
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = required.as_str().unwrap();
            if !object.contains_key(name) {
                errors.push(format!("{at}: missing required field {name}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, field) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => errors.extend(schema_errors(
                    spec,
                    field_schema,
                    field,
                    &format!("{at}.{name}"),
                )),
                None => {
                    if let Some(extra) = schema.get("additionalProperties")
                        && extra.is_object()
                    {
                        errors.extend(schema_errors(spec, extra, field, &format!("{at}.{name}")));
                    }
                }
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            errors.extend(schema_errors(spec, items, item, &format!("{at}[{index}]")));
        }
    }
    errors
}

/// Asserts that an answer fits the spec's response schema of the operation.
pub fn assert_fits(spec: &Value, path: &str, method: &str, answer: &Answer) {
    let schema = response_schema(spec, path, method, answer.status.as_u16());
    let errors = schema_errors(spec, &schema, &answer.body, "$");
    assert!(
        errors.is_empty(),
        "{method} {path} ({}) does not fit its schema:\n{}\nbody: {}",
        answer.status,
        errors.join("\n"),
        answer.body
    );
}
