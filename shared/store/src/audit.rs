//! `audit_log` (migration V16, issue 23): who changed what through the API. Every customer and
//! user write made through the API records its actor (the JWT subject), the route, the request
//! id, the action and each field that changed with its old and new value, in the write's own
//! transaction (a write is never without its audit row, nor the reverse). Values live here and
//! only here: never in logs. Rows older than the retention period are purged by the
//! reconciler's frequent job.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use warp_domain::customer::Customer;
use warp_domain::storable::{storable, storable_json};
use warp_domain::user::User;

use crate::{Database, StoreError};

/// How long entries are kept unless `AUDIT_RETENTION_DAYS` says otherwise (400 days: a year
/// and a quarter, so last year's annual review still finds its changes).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(400 * 86_400);

/// Who writes, through which route: what an API write is recorded under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The JWT subject.
    pub subject: String,
    /// The route, as `PATCH /v1/customers/{id}`.
    pub route: String,
    pub request_id: Option<String>,
}

/// What an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityType {
    Customer,
    User,
    Trunk,
    Number,
}

impl EntityType {
    pub const ALL: [EntityType; 4] = [
        EntityType::Customer,
        EntityType::User,
        EntityType::Trunk,
        EntityType::Number,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Customer => "customer",
            EntityType::User => "user",
            EntityType::Trunk => "trunk",
            EntityType::Number => "number",
        }
    }
}

/// The audited fields of a customer (everything a client can write, and the deletion).
pub fn customer_fields(customer: &Customer) -> Value {
    json!({
        "company_name": customer.company_name.as_str(),
        "customer_type": customer.customer_type.as_str(),
        "status": customer.status.as_str(),
        "credit_limit": customer.credit_limit.to_string(),
        "current_balance": customer.current_balance.to_string(),
        "domain": customer.domain.as_ref().map(|d| d.as_str()),
        "contact": serde_json::to_value(&customer.contact).unwrap_or(Value::Null),
        "address": serde_json::to_value(&customer.address).unwrap_or(Value::Null),
        "services": serde_json::to_value(&customer.services).unwrap_or(Value::Null),
        "hubspot_company_id": customer.external_ids.hubspot_company_id,
        "deleted_at": customer.deleted_at,
    })
}

/// The audited fields of a user (its customer included: a move is a change of it).
pub fn user_fields(user: &User) -> Value {
    fields_of(user)
}

/// The audited fields of a record: all it holds but its id, version and timestamps of
/// creation and update (the audit entry has its own).
pub fn fields_of(record: &impl serde::Serialize) -> Value {
    let mut fields = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut fields {
        for bookkeeping in ["id", "version", "created_at", "updated_at"] {
            map.remove(bookkeeping);
        }
    }
    fields
}

/// Each top-level field whose value differs, as `{"field": {"old": …, "new": …}}`; `before`
/// `None` (a creation) lists every field set.
pub fn changes(before: Option<&Value>, after: &Value) -> Value {
    let empty = Map::new();
    let old = before.and_then(Value::as_object).unwrap_or(&empty);
    let new = after.as_object().unwrap_or(&empty);
    let mut changed = Map::new();
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (was, is) = (
            old.get(name).unwrap_or(&Value::Null),
            new.get(name).unwrap_or(&Value::Null),
        );
        if was != is {
            changed.insert(name.clone(), json!({"old": was, "new": is}));
        }
    }
    Value::Object(changed)
}

/// Records a write of `after` (`before` it: `None` for a creation) under `actor`, when the store
/// has one, with the fields `fields` reads.
#[allow(clippy::too_many_arguments)] // one call per write path, every argument named there
pub(crate) async fn record_change<T>(
    client: &impl GenericClient,
    actor: Option<&Actor>,
    entity: EntityType,
    entity_id: uuid::Uuid,
    action: &str,
    before: Option<&T>,
    after: &T,
    fields: fn(&T) -> Value,
) -> Result<(), StoreError> {
    let Some(actor) = actor else {
        return Ok(());
    };
    let before = before.map(fields);
    let changes = changes(before.as_ref(), &fields(after));
    record(client, actor, entity, entity_id, action, &changes).await
}

/// Records one write in the caller's transaction (nothing when nothing changed).
pub async fn record(
    client: &impl GenericClient,
    actor: &Actor,
    entity: EntityType,
    entity_id: uuid::Uuid,
    action: &str,
    changes: &Value,
) -> Result<(), StoreError> {
    if changes.as_object().is_some_and(Map::is_empty) {
        return Ok(());
    }
    let (subject, route) = (storable(&actor.subject), storable(&actor.route));
    let request_id = actor.request_id.as_deref().map(storable);
    let mut changes = changes.clone();
    storable_json(&mut changes);
    client
        .execute_typed(
            "INSERT INTO audit_log (actor, route, request_id, entity_type, entity_id, action, changes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                (&subject, Type::TEXT),
                (&route, Type::TEXT),
                (&request_id, Type::TEXT),
                (&entity.as_str(), Type::TEXT),
                (&entity_id, Type::UUID),
                (&action, Type::TEXT),
                (&changes, Type::JSONB),
            ],
        )
        .await?;
    Ok(())
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub route: String,
    pub request_id: Option<String>,
    pub entity_type: String,
    pub entity_id: uuid::Uuid,
    pub action: String,
    pub changes: Value,
}

/// What `GET /v1/audit` filters by.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub entity_type: Option<EntityType>,
    pub entity_id: Option<uuid::Uuid>,
    pub actor: Option<String>,
    /// Entries with an id below this one (a cursor).
    pub before: Option<i64>,
    pub limit: u32,
}

/// Entries newest first.
pub async fn list(database: &Database, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
    let client = database.client().await?;
    let limit = i64::from(query.limit.clamp(1, 100));
    let entity_type = query.entity_type.map(EntityType::as_str);
    client
        .query_typed(
            "SELECT id, at, actor, route, request_id, entity_type, entity_id, action, changes \
             FROM audit_log WHERE ($1::text IS NULL OR entity_type = $1) \
               AND ($2::uuid IS NULL OR entity_id = $2) AND ($3::text IS NULL OR actor = $3) \
               AND ($4::int8 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
            &[
                (&entity_type, Type::TEXT),
                (&query.entity_id, Type::UUID),
                (&query.actor, Type::TEXT),
                (&query.before, Type::INT8),
                (&limit, Type::INT8),
            ],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(AuditEntry {
                id: row.try_get(0)?,
                at: row.try_get(1)?,
                actor: row.try_get(2)?,
                route: row.try_get(3)?,
                request_id: row.try_get(4)?,
                entity_type: row.try_get(5)?,
                entity_id: row.try_get(6)?,
                action: row.try_get(7)?,
                changes: row.try_get(8)?,
            })
        })
        .collect()
}

/// Deletes entries older than `retention`, at most `batch` of them (the frequent job calls it
/// each run, so a large backlog is purged in steps); returns how many.
pub async fn purge(
    database: &Database,
    retention: Duration,
    batch: i64,
) -> Result<u64, StoreError> {
    let client = database.client().await?;
    Ok(client
        .execute_typed(
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log \
               WHERE at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2)",
            &[
                (&retention.as_secs_f64(), Type::FLOAT8),
                (&batch, Type::INT8),
            ],
        )
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_each_differing_field_with_both_values() {
        let before = json!({"name": "A", "limit": "10.00", "contact": {"email": "a@x.example"}});
        let after = json!({"name": "B", "limit": "10.00", "contact": {"email": "b@x.example"}, "domain": "x.example"});
        assert_eq!(
            changes(Some(&before), &after),
            json!({
                "contact": {"old": {"email": "a@x.example"}, "new": {"email": "b@x.example"}},
                "domain": {"old": null, "new": "x.example"},
                "name": {"old": "A", "new": "B"},
            })
        );
        assert_eq!(changes(Some(&after), &after), json!({}));
        assert_eq!(
            changes(None, &json!({"name": "A", "domain": null})),
            json!({"name": {"old": null, "new": "A"}})
        );
    }
}
