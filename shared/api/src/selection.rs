//! The body of a bulk action on failed things (retry, dismiss): `{"ids": [12, 13]}` or
//! `{"all": true, <filters>}`, every mistake named.

use serde_json::{Map, Value};
use warp_domain::customer::FieldError;

use crate::Problem;

/// Most ids one request names.
pub(crate) const MAX_IDS: usize = 1_000;

/// What a bulk action applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection<F> {
    Ids(Vec<i64>),
    /// Everything matching the filters.
    All(F),
}

/// Exactly one of `ids` (1 to 1,000 positive integers) and `all: true`; the members named in
/// `filters` only with `all`, read by `read_filters` (which names its own mistakes).
pub(crate) fn parse<F>(
    body: &Value,
    filters: &[&str],
    read_filters: impl FnOnce(&Map<String, Value>, &mut Vec<FieldError>) -> F,
) -> Result<Selection<F>, Problem> {
    let Some(object) = body.as_object() else {
        return Err(Problem::invalid_field(
            "body",
            "must be an object such as {\"ids\": [12]} or {\"all\": true}",
        ));
    };
    let mut errors = Vec::new();
    for unknown in object
        .keys()
        .filter(|key| !matches!(key.as_str(), "ids" | "all") && !filters.contains(&key.as_str()))
    {
        errors.push(FieldError::new(unknown, "is not a known field"));
    }
    let ids = object.get("ids").filter(|v| !v.is_null()).map(|value| {
        value
            .as_array()
            .filter(|ids| (1..=MAX_IDS).contains(&ids.len()))
            .and_then(|ids| {
                ids.iter()
                    .map(|id| id.as_i64().filter(|id| *id > 0))
                    .collect::<Option<Vec<i64>>>()
            })
    });
    let all = match object.get("all") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(all)) => *all,
        Some(_) => {
            errors.push(FieldError::new("all", "must be true or false"));
            false
        }
    };
    let filtered: Vec<&str> = filters
        .iter()
        .copied()
        .filter(|name| object.get(*name).is_some_and(|v| !v.is_null()))
        .collect();
    let read = read_filters(object, &mut errors);
    let selection = match (ids, all) {
        (Some(Some(ids)), false) if filtered.is_empty() => Some(Selection::Ids(ids)),
        (Some(Some(_)), false) => {
            for name in filtered {
                errors.push(FieldError::new(name, "goes with all, not with ids"));
            }
            None
        }
        (Some(None), _) => {
            errors.push(FieldError::new(
                "ids",
                "must be 1 to 1,000 positive integer ids",
            ));
            None
        }
        (None, true) => Some(Selection::All(read)),
        (Some(_), true) => {
            errors.push(FieldError::new("all", "give ids or all, not both"));
            None
        }
        (None, false) => {
            errors.push(FieldError::new("ids", "give ids, or all: true"));
            None
        }
    };
    match selection {
        Some(selection) if errors.is_empty() => Ok(selection),
        _ => Err(Problem::invalid(errors)),
    }
}

/// The body's schema, exactly as [`parse`] reads it: `{"ids": [...]}` (`all` false or absent,
/// no filter), or `{"all": true}` with the `filters` (name, schema; each may also be null).
pub(crate) fn body_schema(
    filters: &[(&str, Value)],
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use serde_json::json;
    let null = json!({"type": "null"});
    let mut by_ids = Map::new();
    by_ids.insert(
        "ids".to_owned(),
        serde_json::to_value(crate::conventions::id_list_schema()).unwrap_or_default(),
    );
    by_ids.insert(
        "all".to_owned(),
        json!({"type": ["boolean", "null"], "enum": [false, null]}),
    );
    let mut by_all = Map::new();
    by_all.insert("ids".to_owned(), null.clone());
    by_all.insert("all".to_owned(), json!({"type": "boolean", "enum": [true]}));
    for (name, schema) in filters {
        by_ids.insert((*name).to_owned(), null.clone());
        let mut nullable = schema.clone();
        if let Some(kind) = nullable["type"].as_str().map(str::to_owned) {
            nullable["type"] = json!([kind, "null"]);
        }
        by_all.insert((*name).to_owned(), nullable);
    }
    let closed = |properties: Map<String, Value>, required: &str| {
        json!({"type": "object", "properties": properties, "required": [required],
               "additionalProperties": false})
    };
    serde_json::from_value(json!({"oneOf": [closed(by_ids, "ids"), closed(by_all, "all")]}))
        .unwrap_or_else(|_| utoipa::openapi::RefOr::T(Default::default()))
}

/// An optional positive integer member (`null` is absent).
pub(crate) fn positive_id(
    object: &Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    match object.get(name) {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_i64().filter(|id| *id > 0) {
            Some(id) => Some(id),
            None => {
                errors.push(FieldError::new(name, "must be a positive integer"));
                None
            }
        },
    }
}
