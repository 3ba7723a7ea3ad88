//! `POST /crm/v3/objects/companies/search`: filter groups, text query, sorts and offset paging,
//! evaluated against a search index that lags writes by `search_index_delay_ms`.

use std::cmp::Ordering;

use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::properties::{OBJECT_ID, PropertyDefinition, PropertyType};
use crate::store::{Record, Store};

/// HubSpot never pages a search past this many results.
pub const MAX_SEARCH_WINDOW: usize = 10_000;
pub const MAX_SEARCH_LIMIT: usize = 200;
const DEFAULT_SEARCH_LIMIT: usize = 10;
const MAX_FILTER_GROUPS: usize = 5;
const MAX_FILTERS: usize = 18;
/// Properties the free-text `query` looks at.
const QUERY_PROPERTIES: [&str; 4] = ["name", "domain", "website", "phone"];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    #[serde(default)]
    pub filter_groups: Vec<FilterGroup>,
    #[serde(default)]
    pub sorts: Vec<Value>,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub properties: Option<Vec<String>>,
    #[serde(default)]
    pub limit: Option<Value>,
    #[serde(default)]
    pub after: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct FilterGroup {
    #[serde(default)]
    pub filters: Vec<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub property_name: String,
    pub operator: String,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default)]
    pub high_value: Option<Value>,
    #[serde(default)]
    pub values: Option<Vec<Value>>,
}

/// A page of matching ids plus the total and the next offset.
pub struct SearchPage {
    pub ids: Vec<u64>,
    pub total: usize,
    pub next_after: Option<usize>,
}

#[derive(Debug)]
enum Operator {
    Eq(String),
    Neq(String),
    Lt(String),
    Lte(String),
    Gt(String),
    Gte(String),
    Between(String, String),
    In(Vec<String>),
    NotIn(Vec<String>),
    HasProperty,
    NotHasProperty,
    ContainsToken(String),
    NotContainsToken(String),
}

struct CompiledFilter<'a> {
    property: &'a str,
    definition: &'a PropertyDefinition,
    operator: Operator,
}

struct Sort<'a> {
    property: &'a str,
    definition: &'a PropertyDefinition,
    descending: bool,
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn parse_offset(value: &Option<Value>, name: &str) -> Result<Option<usize>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => {
            let text = scalar_text(value);
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<usize>()
                .map(Some)
                .map_err(|_| ApiError::validation(format!("Invalid {name}: {text:?}")))
        }
    }
}

fn compile_filter<'a>(
    store: &'a Store,
    filter: &'a Filter,
) -> Result<CompiledFilter<'a>, ApiError> {
    let definition = store.properties.get(&filter.property_name).ok_or_else(|| {
        ApiError::validation(format!(
            "There was a problem with the request: property {:?} does not exist",
            filter.property_name
        ))
    })?;
    let value = || {
        filter.value.as_ref().map(scalar_text).ok_or_else(|| {
            ApiError::validation(format!(
                "Operator {} on {:?} requires a value",
                filter.operator, filter.property_name
            ))
        })
    };
    let values = || {
        filter
            .values
            .as_ref()
            .map(|values| values.iter().map(scalar_text).collect::<Vec<_>>())
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "Operator {} on {:?} requires values",
                    filter.operator, filter.property_name
                ))
            })
    };
    let operator = match filter.operator.as_str() {
        "EQ" => Operator::Eq(value()?),
        "NEQ" => Operator::Neq(value()?),
        "LT" => Operator::Lt(value()?),
        "LTE" => Operator::Lte(value()?),
        "GT" => Operator::Gt(value()?),
        "GTE" => Operator::Gte(value()?),
        "BETWEEN" => {
            let high = filter.high_value.as_ref().map(scalar_text).ok_or_else(|| {
                ApiError::validation("Operator BETWEEN requires value and highValue")
            })?;
            Operator::Between(value()?, high)
        }
        "IN" => Operator::In(values()?),
        "NOT_IN" => Operator::NotIn(values()?),
        "HAS_PROPERTY" => Operator::HasProperty,
        "NOT_HAS_PROPERTY" => Operator::NotHasProperty,
        "CONTAINS_TOKEN" => Operator::ContainsToken(value()?),
        "NOT_CONTAINS_TOKEN" => Operator::NotContainsToken(value()?),
        other => {
            return Err(ApiError::validation(format!(
                "Unknown filter operator {other:?}"
            )));
        }
    };
    Ok(CompiledFilter {
        property: &filter.property_name,
        definition,
        operator,
    })
}

fn parse_sort<'a>(store: &'a Store, sort: &'a Value) -> Result<Sort<'a>, ApiError> {
    let (property, descending) = match sort {
        Value::String(text) => match text.strip_prefix('-') {
            Some(property) => (property, true),
            None => (text.as_str(), false),
        },
        Value::Object(fields) => {
            let property = fields
                .get("propertyName")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::validation("A sort needs a propertyName"))?;
            let descending = fields.get("direction").and_then(Value::as_str) == Some("DESCENDING");
            (property, descending)
        }
        _ => return Err(ApiError::validation("A sort must be a string or an object")),
    };
    let definition = store.properties.get(property).ok_or_else(|| {
        ApiError::validation(format!("Cannot sort by unknown property {property:?}"))
    })?;
    Ok(Sort {
        property,
        definition,
        descending,
    })
}

/// A comparable number for numeric and date properties (dates as epoch milliseconds).
fn numeric(definition: &PropertyDefinition, text: &str) -> Option<f64> {
    let text = text.trim();
    match definition.property_type {
        PropertyType::Number => text.parse::<f64>().ok(),
        PropertyType::Date | PropertyType::Datetime => text
            .parse::<i64>()
            .ok()
            .or_else(|| {
                chrono::DateTime::parse_from_rfc3339(text)
                    .ok()
                    .map(|at| at.timestamp_millis())
            })
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .and_then(|day| day.and_hms_opt(0, 0, 0))
                    .map(|at| at.and_utc().timestamp_millis())
            })
            .map(|ms| ms as f64),
        _ => None,
    }
}

fn compare(definition: &PropertyDefinition, left: &str, right: &str) -> Ordering {
    if definition.is_numeric()
        && let (Some(left), Some(right)) = (numeric(definition, left), numeric(definition, right))
    {
        return left.partial_cmp(&right).unwrap_or(Ordering::Equal);
    }
    left.to_lowercase().cmp(&right.to_lowercase())
}

fn equals(definition: &PropertyDefinition, left: &str, right: &str) -> bool {
    compare(definition, left, right) == Ordering::Equal
}

/// Token match with `*` wildcards, case-insensitive, against the words of the value.
fn contains_token(value: &str, pattern: &str) -> bool {
    let pattern = pattern.to_lowercase();
    let value = value.to_lowercase();
    if pattern.contains('*') {
        return glob(&value, &pattern)
            || value
                .split(|c: char| !c.is_alphanumeric())
                .any(|token| glob(token, &pattern));
    }
    value == pattern
        || value
            .split(|c: char| !c.is_alphanumeric())
            .any(|token| token == pattern)
}

fn glob(text: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (index, part) in parts.iter().enumerate() {
        if index == 0 {
            match rest.strip_prefix(part) {
                Some(after) => rest = after,
                None => return false,
            }
        } else if index == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(position) => rest = &rest[position + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

impl CompiledFilter<'_> {
    fn matches(&self, company: &Record, as_of_ms: i64) -> bool {
        let value = company.value_as_of(self.property, as_of_ms);
        let definition = self.definition;
        let with_value = |test: &dyn Fn(&str) -> bool| value.as_deref().is_some_and(test);
        match &self.operator {
            Operator::Eq(expected) => with_value(&|v| equals(definition, v, expected)),
            Operator::Neq(expected) => !with_value(&|v| equals(definition, v, expected)),
            Operator::Lt(bound) => with_value(&|v| compare(definition, v, bound).is_lt()),
            Operator::Lte(bound) => with_value(&|v| compare(definition, v, bound).is_le()),
            Operator::Gt(bound) => with_value(&|v| compare(definition, v, bound).is_gt()),
            Operator::Gte(bound) => with_value(&|v| compare(definition, v, bound).is_ge()),
            Operator::Between(low, high) => with_value(&|v| {
                compare(definition, v, low).is_ge() && compare(definition, v, high).is_le()
            }),
            Operator::In(options) => {
                with_value(&|v| options.iter().any(|option| equals(definition, v, option)))
            }
            Operator::NotIn(options) => {
                !with_value(&|v| options.iter().any(|option| equals(definition, v, option)))
            }
            Operator::HasProperty => value.is_some(),
            Operator::NotHasProperty => value.is_none(),
            Operator::ContainsToken(pattern) => with_value(&|v| contains_token(v, pattern)),
            Operator::NotContainsToken(pattern) => !with_value(&|v| contains_token(v, pattern)),
        }
    }
}

/// Runs a search as of `as_of_ms` (now minus the index delay).
pub fn search(
    store: &Store,
    request: &SearchRequest,
    as_of_ms: i64,
) -> Result<SearchPage, ApiError> {
    let limit = parse_offset(&request.limit, "limit")?.unwrap_or(DEFAULT_SEARCH_LIMIT);
    if limit > MAX_SEARCH_LIMIT {
        return Err(ApiError::validation(format!(
            "limit must be at most {MAX_SEARCH_LIMIT}, got {limit}"
        )));
    }
    let offset = parse_offset(&request.after, "after")?.unwrap_or(0);
    if offset >= MAX_SEARCH_WINDOW {
        return Err(ApiError::validation(format!(
            "Cannot page past {MAX_SEARCH_WINDOW} results: after={offset}. Narrow the filters instead."
        ))
        .with_sub_category("SEARCH_WINDOW_EXCEEDED"));
    }
    if request.filter_groups.len() > MAX_FILTER_GROUPS {
        return Err(ApiError::validation(format!(
            "At most {MAX_FILTER_GROUPS} filterGroups are allowed"
        )));
    }
    let filter_count: usize = request.filter_groups.iter().map(|g| g.filters.len()).sum();
    if filter_count > MAX_FILTERS {
        return Err(ApiError::validation(format!(
            "At most {MAX_FILTERS} filters are allowed in total"
        )));
    }
    let groups: Vec<Vec<CompiledFilter<'_>>> = request
        .filter_groups
        .iter()
        .map(|group| {
            group
                .filters
                .iter()
                .map(|f| compile_filter(store, f))
                .collect()
        })
        .collect::<Result<_, _>>()?;
    let sorts: Vec<Sort<'_>> = request
        .sorts
        .iter()
        .map(|sort| parse_sort(store, sort))
        .collect::<Result<_, _>>()?;
    let query = request
        .query
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);

    let matches = |company: &Record| {
        company.visible_as_of(as_of_ms)
            && (groups.is_empty()
                || groups
                    .iter()
                    .any(|group| group.iter().all(|filter| filter.matches(company, as_of_ms))))
            && query.as_deref().is_none_or(|query| {
                QUERY_PROPERTIES.iter().any(|property| {
                    company
                        .value_as_of(property, as_of_ms)
                        .is_some_and(|value| value.to_lowercase().contains(query))
                })
            })
    };

    let candidates: Vec<&Record> = match indexed_candidates(store, &groups) {
        Some(ids) => ids.into_iter().filter_map(|id| store.record(id)).collect(),
        None => store.records().collect(),
    };
    let mut found: Vec<&Record> = candidates.into_iter().filter(|c| matches(c)).collect();
    if !sorts.is_empty() {
        let keyed: Vec<(Vec<Option<String>>, &Record)> = found
            .iter()
            .map(|company| {
                (
                    sorts
                        .iter()
                        .map(|sort| company.value_as_of(sort.property, as_of_ms))
                        .collect(),
                    *company,
                )
            })
            .collect();
        let mut keyed = keyed;
        keyed.sort_by(|(left, a), (right, b)| {
            for (index, sort) in sorts.iter().enumerate() {
                let ordering = match (&left[index], &right[index]) {
                    (Some(l), Some(r)) => compare(sort.definition, l, r),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                };
                let ordering = if sort.descending {
                    ordering.reverse()
                } else {
                    ordering
                };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            a.id.cmp(&b.id)
        });
        found = keyed.into_iter().map(|(_, company)| company).collect();
    }
    let total = found.len();
    let ids: Vec<u64> = found
        .iter()
        .skip(offset)
        .take(limit)
        .map(|c| c.id)
        .collect();
    let end = offset + ids.len();
    let next_after = (end < total && !ids.is_empty()).then_some(end);
    Ok(SearchPage {
        ids,
        total,
        next_after,
    })
}

/// With one filter group holding an EQ or IN on a unique property, the unique index gives the
/// only possible matches: no scan of every company.
fn indexed_candidates(store: &Store, groups: &[Vec<CompiledFilter<'_>>]) -> Option<Vec<u64>> {
    let [group] = groups else {
        return None;
    };
    group.iter().find_map(|filter| {
        if filter.property == OBJECT_ID {
            return match &filter.operator {
                Operator::Eq(value) => Some(value.trim().parse::<u64>().ok().into_iter().collect()),
                Operator::In(values) => Some(
                    values
                        .iter()
                        .filter_map(|v| v.trim().parse().ok())
                        .collect(),
                ),
                _ => None,
            };
        }
        if !store.has_unique_index(filter.property) {
            return None;
        }
        match &filter.operator {
            Operator::Eq(value) => Some(
                store
                    .unique_owner(filter.property, value)
                    .into_iter()
                    .collect(),
            ),
            Operator::In(values) => {
                let mut ids: Vec<u64> = values
                    .iter()
                    .filter_map(|value| store.unique_owner(filter.property, value))
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                Some(ids)
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_matching_handles_words_and_wildcards() {
        assert!(contains_token("Acme Widgets Ltd", "widgets"));
        assert!(contains_token("acme.example.com", "example"));
        assert!(contains_token("Acme Widgets", "wid*"));
        assert!(!contains_token("Acme Widgets", "gadget"));
        assert!(glob("widgets", "*dge*"));
        assert!(!glob("widgets", "*xyz*"));
        assert!(glob("widgets", "w*s"));
    }
}
