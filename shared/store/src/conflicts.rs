//! `sync_conflicts`: field changes the rules could not settle (LATEST_WINS with WARP and
//! HubSpot changing a field within the same second), kept with both values and both times
//! until a person resolves them.
//!
//! Resolving applies the chosen value to the customer and queues an outbound push when HubSpot
//! must change, in one transaction with marking the conflict RESOLVED, so a conflict is
//! resolved at most once.

use crate::outbox::{self, OutboxOperation};
use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;
use warp_domain::customer::Customer;
use warp_domain::storable::{storable, storable_opt};
use warp_domain::sync::{
    FieldValues, ObjectType, WarpField, canonical_opt, customer_field_values, user_field_values,
};
use warp_domain::user::User;

use crate::customers::{decode_cursor, page_of};
use crate::field_state::{self, Side};
use crate::inbound::{self, WriteFieldError};
use crate::{Database, StoreError};
use crate::{links, users};

const COLUMNS: &str = "id, portal_id, object_type, local_id, field, warp_value, hubspot_value, warp_changed_at, \
                       hubspot_changed_at, status, resolution, created_at, resolved_at";

/// Whether a person still has to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictStatus {
    Open,
    Resolved,
}

impl ConflictStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictStatus::Open => "OPEN",
            ConflictStatus::Resolved => "RESOLVED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "OPEN" => Some(ConflictStatus::Open),
            "RESOLVED" => Some(ConflictStatus::Resolved),
            _ => None,
        }
    }
}

/// One stored conflict.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConflict {
    pub id: Uuid,
    pub portal_id: i64,
    pub object_type: ObjectType,
    /// The WARP record (a customer for companies, a user for contacts).
    pub local_id: Uuid,
    /// The WARP field name (`company_name`).
    pub field: String,
    pub warp_value: Option<String>,
    pub hubspot_value: Option<String>,
    pub warp_changed_at: Option<DateTime<Utc>>,
    pub hubspot_changed_at: Option<DateTime<Utc>>,
    pub status: ConflictStatus,
    pub resolution: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

fn conflict_from_row(row: &Row) -> Result<SyncConflict, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(SyncConflict {
        id: row.try_get("id")?,
        portal_id: row.try_get("portal_id")?,
        object_type: crate::object_type_column(row.try_get("object_type")?)?,
        local_id: row.try_get("local_id")?,
        field: row.try_get("field")?,
        warp_value: row.try_get("warp_value")?,
        hubspot_value: row.try_get("hubspot_value")?,
        warp_changed_at: row.try_get("warp_changed_at")?,
        hubspot_changed_at: row.try_get("hubspot_changed_at")?,
        status: ConflictStatus::parse(&status)
            .ok_or_else(|| StoreError::Other("stored conflict has an invalid status".into()))?,
        resolution: row.try_get("resolution")?,
        created_at: row.try_get("created_at")?,
        resolved_at: row.try_get("resolved_at")?,
    })
}

/// A conflict to keep, as the inbound decision reported it.
#[derive(Debug, Clone)]
pub struct NewConflict<'a> {
    pub portal_id: i64,
    pub object_type: ObjectType,
    pub local_id: Uuid,
    pub field: WarpField,
    pub warp_value: Option<&'a str>,
    pub hubspot_value: Option<&'a str>,
    pub warp_changed_at: Option<DateTime<Utc>>,
    pub hubspot_changed_at: DateTime<Utc>,
}

/// Inserts an OPEN conflict in the caller's transaction; returns its id (uuid v7).
pub async fn insert(
    client: &impl GenericClient,
    conflict: &NewConflict<'_>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    let field = conflict.field.as_str();
    // HubSpot's value, as reported: a NUL would fail the statement (and the batch it is in).
    let warp_value = storable_opt(conflict.warp_value);
    let hubspot_value = storable_opt(conflict.hubspot_value);
    client
        .execute_typed(
            "INSERT INTO sync_conflicts (id, portal_id, object_type, local_id, field, warp_value, hubspot_value, \
             warp_changed_at, hubspot_changed_at) VALUES ($1, $2, $9, $3, $4, $5, $6, $7, $8)",
            &[
                (&id, Type::UUID),
                (&conflict.portal_id, Type::INT8),
                (&conflict.local_id, Type::UUID),
                (&field, Type::TEXT),
                (&warp_value, Type::TEXT),
                (&hubspot_value, Type::TEXT),
                (&conflict.warp_changed_at, Type::TIMESTAMPTZ),
                (&conflict.hubspot_changed_at, Type::TIMESTAMPTZ),
                (&conflict.object_type.as_str(), Type::TEXT),
            ],
        )
        .await?;
    Ok(id)
}

/// Filters and paging for a list, in id (creation) order.
#[derive(Debug, Clone, Default)]
pub struct ConflictQuery {
    pub status: Option<ConflictStatus>,
    /// 1..=100 (clamped).
    pub limit: u32,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of conflicts.
#[derive(Debug, Clone)]
pub struct ConflictPage {
    pub items: Vec<SyncConflict>,
    pub next_cursor: Option<String>,
}

/// One page of conflicts (of one portal, or of every portal with `None`).
pub async fn list(
    database: &Database,
    portal_id: Option<i64>,
    query: &ConflictQuery,
) -> Result<ConflictPage, StoreError> {
    let limit = i64::from(query.limit.clamp(1, 100));
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let status = query.status.map(ConflictStatus::as_str);
    let fetch = limit + 1;
    let sql = format!(
        "SELECT {COLUMNS} FROM sync_conflicts WHERE ($1::bigint IS NULL OR portal_id = $1) \
         AND ($2::text IS NULL OR status = $2) AND ($3::uuid IS NULL OR id > $3) \
         ORDER BY id LIMIT $4"
    );
    let client = database.client().await?;
    let rows = client
        .query_typed(
            &sql,
            &[
                (&portal_id, Type::INT8),
                (&status, Type::TEXT),
                (&after, Type::UUID),
                (&fetch, Type::INT8),
            ],
        )
        .await?;
    let (items, next_cursor) = page_of(&rows, conflict_from_row, limit, |c| c.id)?;
    Ok(ConflictPage { items, next_cursor })
}

/// One conflict by id.
pub async fn get(database: &Database, id: Uuid) -> Result<SyncConflict, StoreError> {
    let client = database.client().await?;
    let sql = format!("SELECT {COLUMNS} FROM sync_conflicts WHERE id = $1");
    let row = client
        .query_typed_opt(&sql, &[(&id, Type::UUID)])
        .await?
        .ok_or(StoreError::NotFound)?;
    conflict_from_row(&row)
}

/// What a person chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Keep WARP's current value (HubSpot gets it pushed).
    Warp,
    /// Take the value HubSpot reported in the conflicting change.
    HubSpot,
    /// A new value for both sides.
    Value(String),
}

impl Resolution {
    fn describe(&self) -> &'static str {
        match self {
            Resolution::Warp => "warp",
            Resolution::HubSpot => "hubspot",
            Resolution::Value(_) => "value",
        }
    }
}

/// Why a resolution was refused.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no such conflict")]
    NotFound,
    #[error("the conflict is already resolved")]
    AlreadyResolved,
    /// The chosen value is not valid for the field (the reason never echoes the value).
    #[error("{0}")]
    InvalidValue(String),
    #[error("the customer is deleted")]
    CustomerDeleted,
    /// A contact conflict (two WARP users merged into one HubSpot contact) is settled in
    /// HubSpot or in WARP's user API, not by choosing a value.
    #[error("a {0} conflict is settled in HubSpot or through the user API, not by a value")]
    NotByValue(ObjectType),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tokio_postgres::Error> for ResolveError {
    fn from(error: tokio_postgres::Error) -> Self {
        ResolveError::Store(error.into())
    }
}

impl From<crate::DatabaseError> for ResolveError {
    fn from(error: crate::DatabaseError) -> Self {
        ResolveError::Store(error.into())
    }
}

/// A resolved conflict, the customer after it, and the outbox row queued for HubSpot if any
/// (publish it after this returns).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub conflict: SyncConflict,
    /// The record's version after the resolution.
    pub version: i64,
    pub outbox_id: Option<i64>,
}

/// Applies `resolution`: HubSpot's reported value becomes HubSpot's known value (unless a
/// newer one is known), WARP takes the chosen value (a customer write: version + 1, WARP's
/// field state), an outbox row is queued when HubSpot's known value differs from the chosen
/// one, and the conflict is marked RESOLVED, all in one transaction.
pub async fn resolve(
    database: &Database,
    id: Uuid,
    resolution: &Resolution,
    resolved_by: &str,
    actor: Option<&crate::audit::Actor>,
) -> Result<Resolved, ResolveError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    let tx: &tokio_postgres::Transaction<'_> = &transaction;
    let sql = format!("SELECT {COLUMNS} FROM sync_conflicts WHERE id = $1 FOR UPDATE");
    let conflict = match tx.query_typed_opt(&sql, &[(&id, Type::UUID)]).await? {
        Some(row) => conflict_from_row(&row)?,
        None => return Err(ResolveError::NotFound),
    };
    if conflict.status == ConflictStatus::Resolved {
        return Err(ResolveError::AlreadyResolved);
    }
    let field: WarpField = conflict
        .field
        .parse()
        .map_err(|_| StoreError::Other("stored conflict names an unknown field".into()))?;
    // Two WARP users merged into one contact: a person merges or keeps them in WARP.
    if field == WarpField::UserId {
        return Err(ResolveError::NotByValue(conflict.object_type));
    }
    let object_type = conflict.object_type;
    let current = ConflictRecord::lock(tx, object_type, conflict.local_id, conflict.portal_id)
        .await?
        .ok_or(ResolveError::NotFound)?;
    let warp_value = current.values().get(field).flatten().map(str::to_owned);
    let chosen = match resolution {
        Resolution::Warp => warp_value.clone(),
        Resolution::HubSpot => canonical_opt(field, conflict.hubspot_value.as_deref()),
        Resolution::Value(value) => canonical_opt(field, Some(value)),
    };

    if let Some(at) = conflict.hubspot_changed_at {
        inbound::observe_hubspot_values(
            tx,
            conflict.portal_id,
            &[inbound::HubSpotObservation {
                local_id: conflict.local_id,
                field,
                value: conflict.hubspot_value.clone(),
                at,
            }],
        )
        .await?;
    }
    let warp_changes = chosen != warp_value;
    let record = if warp_changes {
        let before = current.audited_fields();
        let updated = current.with_field(tx, field, chosen.as_deref()).await?;
        if let Some(actor) = actor {
            let changes = crate::audit::changes(Some(&before), &updated.audited_fields());
            let (entity, id) = updated.entity();
            crate::audit::record(tx, actor, entity, id, "resolve_conflict", &changes).await?;
        }
        // A person's decision is a WARP change, timed now.
        field_state::record(
            tx,
            conflict.portal_id,
            object_type,
            conflict.local_id,
            Side::Warp,
            &updated.values(),
            updated.updated_at(),
        )
        .await?;
        updated
    } else {
        current
    };

    let states =
        field_state::load(tx, conflict.portal_id, object_type, &[conflict.local_id]).await?;
    let hubspot_known = states
        .get(&conflict.local_id)
        .map(field_state::hubspot_known_values)
        .unwrap_or_default();
    let outbox_id = if hubspot_known.get(field) == Some(chosen.as_deref()) {
        None
    } else {
        let request = if warp_changes {
            OutboxOperation::Update
        } else {
            OutboxOperation::PushBack
        };
        Some(
            outbox::enqueue(
                tx,
                conflict.portal_id,
                object_type,
                conflict.local_id,
                request,
                record.version(),
            )
            .await?,
        )
    };

    let version_key = match object_type {
        ObjectType::Companies => "customer_version",
        ObjectType::Contacts => "user_version",
    };
    let resolution_json = serde_json::json!({
        "winner": resolution.describe(),
        "resolved_by": storable(resolved_by),
        "outbox_id": outbox_id,
        version_key: record.version(),
    });
    let sql = format!(
        "UPDATE sync_conflicts SET status = 'RESOLVED', resolution = $2, resolved_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    let row = tx
        .query_typed_one(&sql, &[(&id, Type::UUID), (&resolution_json, Type::JSONB)])
        .await?;
    let conflict = conflict_from_row(&row)?;
    inbound::log_inbound(
        tx,
        &inbound::InboundLogEntry {
            portal_id: conflict.portal_id,
            object_type,
            local_id: Some(conflict.local_id),
            queue_id: outbox_id,
            operation: "CONFLICT_RESOLUTION",
            status: inbound::InboundLogStatus::Success,
            fields: vec![field.as_str().to_owned()],
            hubspot_id: record.hubspot_id.clone(),
            error: None,
        },
    )
    .await?;
    transaction.commit().await?;
    Ok(Resolved {
        conflict,
        version: record.version(),
        outbox_id,
    })
}

/// The locked WARP record a conflict is about.
struct ConflictRecord {
    local: Local,
    hubspot_id: Option<String>,
}

enum Local {
    Customer(Box<Customer>),
    User(Box<User>),
}

impl ConflictRecord {
    async fn lock(
        tx: &tokio_postgres::Transaction<'_>,
        object_type: ObjectType,
        id: Uuid,
        portal_id: i64,
    ) -> Result<Option<Self>, ResolveError> {
        match object_type {
            ObjectType::Companies => {
                let Some(customer) = inbound::lock_by_id(tx, id).await? else {
                    return Ok(None);
                };
                if customer.is_deleted() {
                    return Err(ResolveError::CustomerDeleted);
                }
                Ok(Some(ConflictRecord {
                    hubspot_id: customer.external_ids.hubspot_company_id.clone(),
                    local: Local::Customer(Box::new(customer)),
                }))
            }
            ObjectType::Contacts => {
                let Some(user) = users::lock(tx, id).await? else {
                    return Ok(None);
                };
                let mut link = links::load(tx, portal_id, object_type, &[id]).await?;
                Ok(Some(ConflictRecord {
                    hubspot_id: link.remove(&id).map(|l| l.hubspot_id),
                    local: Local::User(Box::new(user)),
                }))
            }
        }
    }

    fn values(&self) -> FieldValues {
        match &self.local {
            Local::Customer(customer) => customer_field_values(customer),
            Local::User(user) => user_field_values(user),
        }
    }

    /// What the audit log compares.
    fn audited_fields(&self) -> serde_json::Value {
        match &self.local {
            Local::Customer(customer) => crate::audit::customer_fields(customer),
            Local::User(user) => crate::audit::user_fields(user),
        }
    }

    fn entity(&self) -> (crate::audit::EntityType, Uuid) {
        match &self.local {
            Local::Customer(customer) => (crate::audit::EntityType::Customer, customer.id),
            Local::User(user) => (crate::audit::EntityType::User, user.id),
        }
    }

    fn version(&self) -> i64 {
        match &self.local {
            Local::Customer(customer) => customer.version,
            Local::User(user) => user.version,
        }
    }

    fn updated_at(&self) -> DateTime<Utc> {
        match &self.local {
            Local::Customer(customer) => customer.updated_at,
            Local::User(user) => user.updated_at,
        }
    }

    /// Writes the chosen value as a WARP change (version + 1).
    async fn with_field(
        self,
        tx: &tokio_postgres::Transaction<'_>,
        field: WarpField,
        value: Option<&str>,
    ) -> Result<Self, ResolveError> {
        let invalid = |reason: String| ResolveError::InvalidValue(reason);
        let local = match &self.local {
            Local::Customer(customer) => Local::Customer(Box::new(
                inbound::write_inbound_field(tx, customer, field, value)
                    .await
                    .map_err(|error| match error {
                        WriteFieldError::Invalid(e) => invalid(e.reason),
                        WriteFieldError::Store(store) => ResolveError::Store(store),
                    })?,
            )),
            Local::User(user) => {
                let next =
                    users::user_with_field(user, field, value).map_err(|e| invalid(e.reason))?;
                let mut stored = users::write_inbound(tx, &[next]).await?;
                Local::User(Box::new(stored.pop().ok_or(StoreError::NotFound)?))
            }
        };
        Ok(ConflictRecord { local, ..self })
    }
}
