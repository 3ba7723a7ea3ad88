//! The OpenAPI 3 document, generated from the handlers' annotations and the DTO schemas.

use crate::dto::{
    AddressInput, AddressResponse, ContactInput, ContactResponse, CustomerInput, CustomerList,
    CustomerPatchInput, CustomerResponse, CustomerTypeSchema, ExternalIdsInput,
    ExternalIdsResponse, Health, MoneyInput, ServiceFlagsInput, ServiceFlagsResponse,
    ServicesInput, ServicesResponse, StatusSchema,
};
use crate::problem::{Problem, ProblemField};
use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(title = "WARP customer API", description = "Customers (billing accounts) of WARP, synchronised with HubSpot."),
    paths(
        crate::customers::create_customer,
        crate::customers::list_customers,
        crate::customers::get_customer,
        crate::customers::get_customer_by_ban,
        crate::customers::patch_customer,
        crate::customers::replace_customer,
        crate::customers::delete_customer,
        crate::health,
        crate::openapi_json,
    ),
    components(schemas(
        CustomerResponse, ContactResponse, AddressResponse, ServicesResponse, ServiceFlagsResponse, ExternalIdsResponse,
        CustomerTypeSchema, StatusSchema, CustomerList, Health, MoneyInput, crate::dto::NonNegativeMoneyInput, crate::dto::NonNegativeMoneyText, crate::dto::NonNegativeMoneyNumber, ContactInput, AddressInput, ServiceFlagsInput,
        ServicesInput, ExternalIdsInput, CustomerInput, CustomerPatchInput, Problem, ProblemField,
    )),
    modifiers(&BearerJwt),
    tags((name = "customers", description = "Customer accounts"), (name = "operations", description = "Health and documents"))
)]
pub struct ApiDoc;

/// The whole document: the customer routes plus the sync operation routes, each module
/// contributing its own paths and schemas.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.merge(crate::sync_operations::Doc::openapi());
    document.merge(crate::conflicts::Doc::openapi());
    document.merge(crate::reconciliations::Doc::openapi());
    document.merge(crate::sync_status::Doc::openapi());
    document.merge(crate::hubspot_links::Doc::openapi());
    document.merge(crate::contact_links::Doc::openapi());
    document.merge(crate::sync_mappings::Doc::openapi());
    document.merge(crate::users::Doc::openapi());
    document.merge(crate::trunks::Doc::openapi());
    document.merge(crate::numbers::Doc::openapi());
    document.merge(crate::usage::Doc::openapi());
    document.merge(crate::usage_properties::Doc::openapi());
    document.merge(crate::deals::Doc::openapi());
    document.merge(crate::calls::Doc::openapi());
    document.merge(crate::support_tickets::Doc::openapi());
    document.merge(crate::onboardings::Doc::openapi());
    document.merge(crate::imports::Doc::openapi());
    document.merge(crate::audit::Doc::openapi());
    document.merge(crate::webhook_events::Doc::openapi());
    document.merge(crate::failed_records::Doc::openapi());
    document.merge(crate::activity::Doc::openapi());
    document.merge(crate::company_adoption::Doc::openapi());
    document.merge(crate::installations::Doc::openapi());
    close_request_bodies(document)
}

/// Every request body's object schema says `additionalProperties: false`: the handlers refuse
/// members they do not know (a misspelt field is a 422 naming it, never silently ignored), and
/// the document says so instead of promising more than the API takes.
fn close_request_bodies(document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let Ok(mut value) = serde_json::to_value(&document) else {
        return document;
    };
    patch_bodies_require_nothing(&mut value);
    let mut bodies = Vec::new();
    if let Some(paths) = value["paths"].as_object() {
        for operation in paths
            .values()
            .filter_map(|item| item.as_object())
            .flat_map(|item| item.values())
        {
            let Some(content) = operation["requestBody"]["content"].as_object() else {
                continue;
            };
            for media in content.values() {
                if let Some(name) = media["schema"]["$ref"]
                    .as_str()
                    .and_then(|reference| reference.strip_prefix("#/components/schemas/"))
                {
                    bodies.push(name.to_owned());
                }
            }
        }
    }
    for name in bodies {
        let schema = &mut value["components"]["schemas"][name.as_str()];
        if let Some(object) = schema.as_object_mut()
            && object.get("type").and_then(serde_json::Value::as_str) == Some("object")
        {
            object
                .entry("additionalProperties")
                .or_insert(serde_json::Value::Bool(false));
        }
    }
    describe_service_settings(&mut value);
    serde_json::from_value(value).unwrap_or(document)
}

/// A merge-patch body changes the members it names and keeps the rest (RFC 7396): none is
/// required, even where the same members are required on create. A body schema shared with a
/// create is copied as `<name>Patch` without `required` for the merge-patch operations (a body
/// made for one patch route alone says itself what it requires).
fn patch_bodies_require_nothing(document: &mut serde_json::Value) {
    let schemas = document["components"]["schemas"].clone();
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    // Schemas some operation takes as a whole (a create): only those are copied; a body made
    // for the patch alone keeps what it requires.
    let whole: std::collections::BTreeSet<String> = paths
        .values()
        .filter_map(|item| item.as_object())
        .flat_map(|item| item.values())
        .filter_map(|operation| {
            operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
        })
        .map(str::to_owned)
        .collect();
    let mut copies = Vec::new();
    for operation in paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
    {
        let schema =
            &mut operation["requestBody"]["content"]["application/merge-patch+json"]["schema"];
        let Some(name) = schema["$ref"]
            .as_str()
            .filter(|reference| whole.contains(*reference))
            .and_then(|reference| reference.strip_prefix("#/components/schemas/"))
            .filter(|name| schemas[*name].get("required").is_some())
            .map(str::to_owned)
        else {
            continue;
        };
        let patch = format!("{name}Patch");
        schema["$ref"] = serde_json::Value::String(format!("#/components/schemas/{patch}"));
        copies.push((name, patch));
    }
    for (name, patch) in copies {
        let mut copy = schemas[name.as_str()].clone();
        if let Some(object) = copy.as_object_mut() {
            object.remove("required");
        }
        document["components"]["schemas"][patch.as_str()] = copy;
    }
}

/// A service's free-form settings are kept as given, any JSON but the NUL character (which
/// PostgreSQL cannot store), in a string or a member name: a recursive schema says exactly that.
fn describe_service_settings(document: &mut serde_json::Value) {
    use serde_json::json;
    let setting = json!({"$ref": "#/components/schemas/ServiceSetting"});
    let no_nul = json!({"type": "string", "pattern": "^[^\\u0000]*$"});
    let schemas = &mut document["components"]["schemas"];
    if schemas.get("ServiceFlagsInput").is_none() {
        return;
    }
    schemas["ServiceSetting"] = json!({
        "description": "A service setting: any JSON value without the NUL character",
        "anyOf": [
            no_nul,
            {"type": ["number", "boolean", "null"]},
            {"type": "array", "items": setting},
            {"type": "object", "propertyNames": no_nul, "additionalProperties": setting},
        ]
    });
    schemas["ServiceFlagsInput"]["propertyNames"] = no_nul;
    schemas["ServiceFlagsInput"]["additionalProperties"] = setting;
}

struct BearerJwt;

impl Modify for BearerJwt {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer_jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Schemathesis sends every value a parameter's schema allows and expects it taken, and
    /// every other value and expects it refused: a text parameter without a pattern, enum,
    /// format or length would promise that any text, the empty one too, is a filter.
    #[test]
    fn every_text_query_parameter_says_which_values_it_takes() {
        let document = serde_json::to_value(document()).unwrap();
        let mut loose = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    let schema = &parameter["schema"];
                    let text = schema["type"] == "string"
                        || schema["type"]
                            .as_array()
                            .is_some_and(|types| types.contains(&serde_json::json!("string")));
                    let said = ["pattern", "enum", "format", "maxLength"]
                        .iter()
                        .any(|key| schema.get(key).is_some())
                        || schema["minLength"].as_u64().unwrap_or(0) > 0;
                    if parameter["in"] == "query" && text && !said {
                        loose.push(format!("{method} {path} {}", parameter["name"]));
                    }
                }
            }
        }
        assert!(loose.is_empty(), "{loose:#?}");
    }

    #[test]
    fn request_bodies_refuse_members_they_do_not_know() {
        let document = serde_json::to_value(document()).unwrap();
        let schemas = &document["components"]["schemas"];
        for name in [
            "CustomerInput",
            "UserInput",
            "ImportInput",
            "FieldMappingInput",
        ] {
            assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
        }
        // A merge-patch of a user names what it changes: nothing is required.
        assert!(schemas["UserInput"]["required"].is_array());
        assert!(schemas["UserInputPatch"].get("required").is_none());
        assert_eq!(
            document["paths"]["/v1/users/{id}"]["patch"]["requestBody"]["content"]["application/merge-patch+json"]
                ["schema"]["$ref"],
            "#/components/schemas/UserInputPatch"
        );
        // The bulk retries take ids or all, never both, never neither.
        for name in ["WebhookEventRetryInput", "FailedRetryInput"] {
            let shapes = schemas[name]["oneOf"].as_array().expect(name);
            assert_eq!(shapes.len(), 2, "{name}");
            assert_eq!(shapes[0]["required"], serde_json::json!(["ids"]));
            assert_eq!(shapes[1]["required"], serde_json::json!(["all"]));
            assert!(
                shapes
                    .iter()
                    .all(|shape| shape["additionalProperties"] == false)
            );
        }
    }
}
