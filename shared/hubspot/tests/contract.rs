//! Contract: the JSON bodies the client puts on the wire validate against the request schemas
//! of HubSpot's published OpenAPI specs (read at test time from vendor/hubspot-specs). A local
//! server captures what the client really sends; a small validator walks the schema.

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use warp_hubspot::{AssociationInput, ObjectType, type_ids};
use warp_hubspot::{
    BatchCreateInput, BatchUpdateInput, BatchUpsertInput, Filter, FilterGroup, HubSpotClient,
    HubSpotClientConfig, HubSpotId, InProcessRateBudget, Operator, RateLimitSettings, ReadOptions,
    SearchRequest, warp_property_definitions,
};

type Captured = Arc<Mutex<Vec<(Method, String, Value)>>>;

fn specs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../vendor/hubspot-specs")
}

fn load_spec(file: &str) -> Value {
    let path = specs_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn company_json(id: &str) -> Value {
    json!({"id": id, "properties": {}, "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z", "archived": false})
}

/// Minimal answers the client can read, per endpoint.
fn answer_for(method: &Method, path: &str) -> (StatusCode, Value) {
    match (method.as_str(), path) {
        ("POST", p) if p.starts_with("/crm/objects/2026-09/") && p.ends_with("/search") => {
            (StatusCode::OK, json!({"total": 0, "results": []}))
        }
        ("POST", p)
            if (p.starts_with("/crm/objects/2026-09/")
                || p.starts_with("/crm/associations/2026-09/"))
                && p.contains("/batch/") =>
        {
            (StatusCode::OK, json!({"status": "COMPLETE", "results": []}))
        }
        ("POST", p)
            if p.starts_with("/crm/objects/2026-09/")
                && (p.ends_with("/merge") || p.split('/').count() == 5) =>
        {
            (StatusCode::CREATED, company_json("1"))
        }
        ("POST", p) if p.starts_with("/crm/properties/2026-09/") && p.ends_with("/groups") => (
            StatusCode::CREATED,
            json!({"name": "warp", "label": "WARP", "displayOrder": -1, "archived": false}),
        ),
        ("POST", p) if p.starts_with("/crm/properties/2026-09/") => (
            StatusCode::CREATED,
            json!({"name": "x", "label": "X", "type": "string", "fieldType": "text", "groupName": "warp"}),
        ),
        ("PATCH", _) => (StatusCode::OK, company_json("1")),
        _ => (
            StatusCode::NOT_FOUND,
            json!({"status": "error", "message": "not found", "category": "OBJECT_NOT_FOUND"}),
        ),
    }
}

async fn capturing_server() -> (String, Captured) {
    let captured: Captured = Arc::default();
    let sink = Arc::clone(&captured);
    let app = Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
        let sink = Arc::clone(&sink);
        async move {
            let parsed = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body).unwrap()
            };
            sink.lock()
                .unwrap()
                .push((method.clone(), uri.path().to_owned(), parsed));
            let (status, answer) = answer_for(&method, uri.path());
            (status, axum::Json(answer)).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, captured)
}

/// Finds the operation whose path template matches `path` and returns its request schema.
fn request_schema<'a>(spec: &'a Value, method: &Method, path: &str) -> Option<&'a Value> {
    let wanted: Vec<&str> = path.trim_matches('/').split('/').collect();
    let paths = spec["paths"].as_object()?;
    // Prefer templates with fewer placeholders (`/batch/upsert` over `/{companyId}`).
    let mut candidates: Vec<(&String, &Value)> = paths
        .iter()
        .filter(|(template, _)| {
            let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
            parts.len() == wanted.len()
                && parts
                    .iter()
                    .zip(&wanted)
                    .all(|(t, w)| (t.starts_with('{') && t.ends_with('}')) || t == w)
        })
        .collect();
    candidates.sort_by_key(|(template, _)| template.matches('{').count());
    let (_, operation) = candidates.first()?;
    operation[method.as_str().to_lowercase()]["requestBody"]["content"]["application/json"]
        .get("schema")
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(
                spec,
                spec.pointer(pointer)
                    .unwrap_or_else(|| panic!("unresolved {reference}")),
            )
        }
        None => schema,
    }
}

/// Checks `value` against an OpenAPI 3.0 schema: types, required fields, enums, items,
/// additionalProperties, and (stricter than JSON Schema) no fields the schema does not name.
fn validate(spec: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    if value.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        problems.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let type_ok = match schema.get("type").and_then(Value::as_str) {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        problems.push(format!("{at}: {value} is not of type {}", schema["type"]));
        return;
    }
    if let Some(object) = value.as_object() {
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = required.as_str()
                && !object.contains_key(name)
            {
                problems.push(format!("{at}: required field {name} is missing"));
            }
        }
        let declared = schema.get("properties").and_then(Value::as_object);
        for (name, field) in object {
            let path = format!("{at}.{name}");
            match (
                declared.and_then(|d| d.get(name)),
                schema.get("additionalProperties"),
            ) {
                (Some(field_schema), _) => validate(spec, field_schema, field, &path, problems),
                (None, Some(additional)) if additional.is_object() => {
                    validate(spec, additional, field, &path, problems)
                }
                (None, Some(Value::Bool(true))) => {}
                (None, _) if declared.is_some() => {
                    problems.push(format!("{path}: not a field of the schema"))
                }
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            validate(spec, items, item, &format!("{at}[{index}]"), problems);
        }
    }
}

fn client_for(url: &str) -> HubSpotClient {
    let base_url = warp_hubspot::config::parse_base_url(url).unwrap();
    let config = HubSpotClientConfig::new(base_url, secrecy::SecretString::from("pat-test"), 1);
    let budget = Arc::new(InProcessRateBudget::new(&RateLimitSettings::default()));
    HubSpotClient::new(&config, budget).unwrap()
}

#[test]
fn the_validator_catches_what_it_should() {
    let spec = load_spec("crm-companies-v3.json");
    let schema = request_schema(
        &spec,
        &Method::POST,
        "/crm/v3/objects/companies/batch/upsert",
    )
    .unwrap();
    let mut problems = Vec::new();
    let bad = json!({"inputs": [{"id": 5, "idproperty": "warp_ban", "properties": {"name": 1}}]});
    validate(&spec, schema, &bad, "$", &mut problems);
    assert_eq!(problems.len(), 3, "{problems:?}"); // id type, unknown idproperty, property value type
    let mut none = Vec::new();
    validate(
        &spec,
        schema,
        &json!({"inputs": [{"id": "a", "properties": {}}]}),
        "$",
        &mut none,
    );
    assert!(none.is_empty(), "{none:?}");
}

#[tokio::test]
async fn bodies_the_client_sends_validate_against_hubspots_request_schemas() {
    let (url, captured) = capturing_server().await;
    let client = client_for(&url);
    let props = common::properties(&[("name", "Acme"), ("warp_status", "ACTIVE")]);

    let upserts: Vec<BatchUpsertInput> = (0..3)
        .map(|n| BatchUpsertInput::new("warp_ban", common::ban(n), props.clone()))
        .collect();
    assert!(
        client
            .companies()
            .batch_upsert(&upserts)
            .await
            .is_complete()
    );
    let creates = vec![BatchCreateInput {
        properties: props.clone(),
        object_write_trace_id: Some("t1".into()),
    }];
    assert!(
        client
            .companies()
            .batch_create(&creates)
            .await
            .is_complete()
    );
    let updates = vec![BatchUpdateInput {
        id: HubSpotId::from(5),
        properties: props.clone(),
        object_write_trace_id: None,
    }];
    assert!(
        client
            .companies()
            .batch_update(&updates)
            .await
            .is_complete()
    );
    let options = ReadOptions {
        properties_with_history: vec!["name".into()],
        ..ReadOptions::properties(["name"])
    };
    assert!(
        client
            .companies()
            .batch_read(&[common::ban(1)], Some("warp_ban"), &options)
            .await
            .is_complete()
    );
    assert!(
        client
            .companies()
            .batch_archive(&[HubSpotId::from(9)])
            .await
            .is_complete()
    );
    client.companies().create(&props).await.unwrap();
    client
        .companies()
        .merge(&HubSpotId::from(1), &HubSpotId::from(2))
        .await
        .unwrap();

    let search = SearchRequest {
        filter_groups: vec![FilterGroup {
            filters: vec![
                Filter::eq("warp_status", "ACTIVE"),
                Filter::in_values(
                    "warp_customer_type",
                    vec!["PREPAID".into(), "RESELLER".into()],
                ),
                Filter {
                    high_value: Some("500".into()),
                    ..Filter::new("warp_credit_limit", Operator::Between, "100")
                },
            ],
        }],
        query: Some("acme".into()),
        properties: vec!["warp_ban".into()],
        limit: 200,
        ..Default::default()
    };
    client.companies().search_page(&search).await.unwrap();
    // The windowed form too (sorted by hs_object_id, restarted with a GT filter).
    let _ = futures::TryStreamExt::try_collect::<Vec<_>>(
        client.companies().search_all(search).unwrap(),
    )
    .await
    .unwrap();

    for definition in warp_property_definitions() {
        client
            .companies()
            .create_property(&definition)
            .await
            .unwrap();
    }
    client
        .companies()
        .create_property_group(&warp_hubspot::PropertyGroupCreate {
            name: "warp".into(),
            label: "WARP".into(),
            display_order: Some(-1),
        })
        .await
        .unwrap();

    // Contacts go through the same object API, on their own path.
    let contacts_api = client.contacts();
    let contact = common::properties(&[("email", "ada@example.test"), ("firstname", "Ada")]);
    let upserts = vec![BatchUpsertInput::new(
        "warp_user_id",
        "u-1",
        contact.clone(),
    )];
    assert!(contacts_api.batch_upsert(&upserts).await.is_complete());
    contacts_api.create(&contact).await.unwrap();
    contacts_api
        .merge(&HubSpotId::from(3), &HubSpotId::from(4))
        .await
        .unwrap();

    // Associations between them, by type id.
    let to_companies = client.associations(ObjectType::Contacts, ObjectType::Companies);
    let pairs = vec![AssociationInput::new(
        HubSpotId::from(3),
        HubSpotId::from(1),
        &[type_ids::CONTACT_TO_COMPANY_PRIMARY],
    )];
    assert!(to_companies.batch_create(&pairs).await.is_complete());
    assert!(
        to_companies
            .batch_read(&[HubSpotId::from(3)])
            .await
            .is_complete()
    );

    let companies = load_spec("crm-companies-2026-09.json");
    let associations = load_spec("crm-associations-2026-09.json");
    let contacts = load_spec("crm-contacts-2026-09.json");
    let properties = load_spec("crm-properties-2026-09.json");
    let captured = captured.lock().unwrap().clone();
    let mut checked = 0;
    let mut problems = Vec::new();
    for (method, path, body) in &captured {
        if body.is_null() {
            continue;
        }
        assert!(
            path.contains(&format!("/{}/", warp_hubspot::API_VERSION)),
            "{method} {path} is not on the dated paths"
        );
        let spec = if path.starts_with("/crm/properties/") {
            &properties
        } else if path.starts_with("/crm/associations/") {
            &associations
        } else if path.starts_with("/crm/objects/2026-09/contacts") {
            &contacts
        } else {
            &companies
        };
        let schema = request_schema(spec, method, path)
            .unwrap_or_else(|| panic!("no schema for {method} {path}"));
        validate(
            spec,
            schema,
            body,
            &format!("{method} {path}"),
            &mut problems,
        );
        checked += 1;
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // 7 company calls + 2 searches + 18 properties + 1 group, 3 contact calls, 2 associations.
    assert_eq!(checked, 33, "{captured:#?}");
    let search_body = &captured
        .iter()
        .find(|(_, p, _)| p.ends_with("/search"))
        .unwrap()
        .2;
    assert_eq!(search_body["after"], "0");
}
