//! Customer writes that come from HubSpot (webhook events, conflict resolutions): finding and
//! locking the customer linked to a company, writing one mapped field parsed into its domain
//! type, linking and unlinking companies, recording what HubSpot is known to hold, and the
//! inbound rows of the outbox and the sync log.
//!
//! Every function takes the caller's client or transaction: the inbound processor applies an
//! event, records the field state, queues a push-back and marks the event in one transaction,
//! so an event's effect commits exactly once with its PROCESSED mark.
//!
//! Field-state times, and why:
//! - HubSpot's side moves only forward ([`observe_hubspot_value`]): an event older than what is
//!   already known must not overwrite a newer value (out-of-order delivery is normal).
//! - An applied HubSpot value updates WARP's *value* but keeps WARP's change time
//!   ([`write_inbound_field`] + [`record_warp_value`]): `warp_changed_at` stays "when WARP itself
//!   last changed the field", which is what LATEST_WINS compares a later HubSpot edit with. If
//!   the applied value took a fresh WARP time, two quick HubSpot edits would look like a
//!   simultaneous WARP/HubSpot conflict.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;
use warp_domain::customer::{
    Ban, CompanyName, CreditLimit, Customer, CustomerType, Domain, Email, Money, NewCustomer,
    Phone, Status,
};
use warp_domain::storable::storable_opt;
use warp_domain::sync::{ObjectType, WarpField};

use crate::StoreError;
use crate::customers::{COLUMNS, customer_from_row, to_json};

/// The `external_ids` key that keeps a deleted company's id, so a restore can relink it and
/// the sync state can say "unlinked".
pub const UNLINKED_KEY: &str = "unlinked_hubspot_company_id";

/// A HubSpot value that is not a valid value of the WARP field. The reason never contains the
/// value (it may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HubSpot's value is not a valid {field}: {reason}")]
pub struct InvalidFieldValue {
    pub field: WarpField,
    pub reason: String,
}

/// Why writing one field failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteFieldError {
    #[error(transparent)]
    Invalid(#[from] InvalidFieldValue),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tokio_postgres::Error> for WriteFieldError {
    fn from(error: tokio_postgres::Error) -> Self {
        WriteFieldError::Store(error.into())
    }
}

/// The writable fields of `current` with `field` set to `value` (canonical text, `None` for no
/// value), parsed into the field's domain type.
pub fn with_field_value(
    current: &Customer,
    field: WarpField,
    value: Option<&str>,
) -> Result<NewCustomer, InvalidFieldValue> {
    let mut fields = current.writable();
    set_field_value(&mut fields, field, value)?;
    Ok(fields)
}

/// Sets `field` of `fields` to `value` (canonical text, `None` for no value), parsed into the
/// field's domain type; `fields` is unchanged when the value is invalid.
pub fn set_field_value(
    fields: &mut NewCustomer,
    field: WarpField,
    value: Option<&str>,
) -> Result<(), InvalidFieldValue> {
    let invalid = |reason: &str| InvalidFieldValue {
        field,
        reason: reason.to_owned(),
    };
    let required = || value.ok_or_else(|| invalid("a value is required"));
    match field {
        WarpField::Ban => return Err(invalid("the BAN is set by WARP and never changes")),
        WarpField::CompanyName => {
            fields.company_name = CompanyName::parse(required()?).map_err(|e| invalid(e.0))?;
        }
        WarpField::Domain => {
            fields.domain = value
                .map(Domain::parse)
                .transpose()
                .map_err(|e| invalid(e.0))?;
        }
        WarpField::Status => {
            fields.status = Status::parse(required()?).map_err(|e| invalid(e.0))?;
        }
        WarpField::CustomerType => {
            fields.customer_type = CustomerType::parse(required()?).map_err(|e| invalid(e.0))?;
        }
        WarpField::CreditLimit => {
            let money = Money::parse(required()?).map_err(|e| invalid(&e.to_string()))?;
            fields.credit_limit = CreditLimit::new(money).map_err(|e| invalid(&e.to_string()))?;
        }
        WarpField::CurrentBalance => {
            fields.current_balance =
                Money::parse(required()?).map_err(|e| invalid(&e.to_string()))?;
        }
        WarpField::ServicesVoice | WarpField::ServicesMessaging | WarpField::ServicesData => {
            let enabled = match value {
                Some("true") => true,
                Some("false") | None => false,
                Some(_) => return Err(invalid("must be true or false")),
            };
            let flags = match field {
                WarpField::ServicesVoice => &mut fields.services.voice,
                WarpField::ServicesMessaging => &mut fields.services.messaging,
                _ => &mut fields.services.data,
            };
            flags.enabled = enabled;
        }
        WarpField::ContactEmail => {
            fields.contact.email = value
                .map(Email::parse)
                .transpose()
                .map_err(|e| invalid(e.0))?;
        }
        WarpField::ContactPhone => {
            fields.contact.phone = value
                .map(Phone::parse)
                .transpose()
                .map_err(|e| invalid(e.0))?;
        }
        other => {
            debug_assert_ne!(other.object_type(), ObjectType::Companies);
            return Err(invalid("not a customer field"));
        }
    }
    Ok(())
}

/// `current` with `field` set to `value` (canonical text, `None` for no value) as its next
/// version: what [`write_inbound_customers`] then stores. Pure, so a batch of events can be
/// decided in memory and written at once.
pub fn customer_with_field(
    current: &Customer,
    field: WarpField,
    value: Option<&str>,
) -> Result<Customer, InvalidFieldValue> {
    let fields = with_field_value(current, field, value)?;
    Ok(Customer {
        company_name: fields.company_name,
        customer_type: fields.customer_type,
        status: fields.status,
        credit_limit: fields.credit_limit,
        current_balance: fields.current_balance,
        domain: fields.domain,
        contact: fields.contact,
        services: fields.services,
        version: current.version + 1,
        updated_at: Utc::now(),
        ..current.clone()
    })
}

/// Writes `field` = `value` into the (locked) customer: one UPDATE, version + 1, `updated_at`.
/// Records nothing in the field state and queues nothing: the caller decides both.
pub async fn write_inbound_field(
    client: &impl GenericClient,
    current: &Customer,
    field: WarpField,
    value: Option<&str>,
) -> Result<Customer, WriteFieldError> {
    let next = customer_with_field(current, field, value)?;
    write_inbound_customers(client, std::slice::from_ref(&next))
        .await?
        .pop()
        .ok_or(WriteFieldError::Store(StoreError::NotFound))
}

/// Stores the fields HubSpot can write (name, type, status, money, domain, contact, services)
/// and the version of these customers, which the caller holds locked, in one statement; returns
/// them as stored.
pub async fn write_inbound_customers(
    client: &impl GenericClient,
    customers: &[Customer],
) -> Result<Vec<Customer>, StoreError> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = Vec::with_capacity(customers.len());
    let mut names = Vec::with_capacity(customers.len());
    let mut types = Vec::with_capacity(customers.len());
    let mut statuses = Vec::with_capacity(customers.len());
    let mut credit_limits = Vec::with_capacity(customers.len());
    let mut balances = Vec::with_capacity(customers.len());
    let mut domains = Vec::with_capacity(customers.len());
    let mut contacts = Vec::with_capacity(customers.len());
    let mut services = Vec::with_capacity(customers.len());
    let mut versions = Vec::with_capacity(customers.len());
    for customer in customers {
        ids.push(customer.id);
        names.push(customer.company_name.as_str());
        types.push(customer.customer_type.as_str());
        statuses.push(customer.status.as_str());
        credit_limits.push(customer.credit_limit.as_decimal());
        balances.push(customer.current_balance.as_decimal());
        domains.push(customer.domain.as_ref().map(|d| d.as_str()));
        contacts.push(to_json(&customer.contact)?);
        services.push(to_json(&customer.services)?);
        versions.push(customer.version);
    }
    let returning = crate::qualified(COLUMNS, "c");
    let sql = format!(
        "UPDATE customers c SET company_name = u.company_name, customer_type = u.customer_type, \
         status = u.status, credit_limit = u.credit_limit, current_balance = u.current_balance, \
         domain = u.domain, contact = u.contact, services = u.services, version = u.version, \
         updated_at = now() \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::numeric[], \
                     $7::text[], $8::jsonb[], $9::jsonb[], $10::int8[]) \
           AS u(id, company_name, customer_type, status, credit_limit, current_balance, domain, \
                contact, services, version) \
         WHERE c.id = u.id RETURNING {returning}"
    );
    let params: [(&(dyn ToSql + Sync), Type); 10] = [
        (&ids, Type::UUID_ARRAY),
        (&names, Type::TEXT_ARRAY),
        (&types, Type::TEXT_ARRAY),
        (&statuses, Type::TEXT_ARRAY),
        (&credit_limits, Type::NUMERIC_ARRAY),
        (&balances, Type::NUMERIC_ARRAY),
        (&domains, Type::TEXT_ARRAY),
        (&contacts, Type::JSONB_ARRAY),
        (&services, Type::JSONB_ARRAY),
        (&versions, Type::INT8_ARRAY),
    ];
    client
        .query_typed(&sql, &params)
        .await?
        .iter()
        .map(customer_from_row)
        .collect()
}

async fn lock_one(
    client: &impl GenericClient,
    condition: &str,
    value: &str,
) -> Result<Option<Customer>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE {condition} LIMIT 1 FOR UPDATE");
    client
        .query_typed_opt(&sql, &[(&value, Type::TEXT)])
        .await?
        .as_ref()
        .map(customer_from_row)
        .transpose()
}

/// Locks the customer linked to this HubSpot company (through the unique index on
/// `external_ids->>'hubspot_company_id'`), deleted or not.
pub async fn lock_by_hubspot_company(
    client: &impl GenericClient,
    company_id: &str,
) -> Result<Option<Customer>, StoreError> {
    lock_one(
        client,
        // `?` first: it lets the planner use the partial unique index (else a sequential scan).
        "external_ids ? 'hubspot_company_id' AND external_ids->>'hubspot_company_id' = $1",
        company_id,
    )
    .await
}

/// Locks a customer whose link to this company was removed by a deletion and that has no
/// other link now (the most recently updated one if several).
pub async fn lock_by_unlinked_hubspot_company(
    client: &impl GenericClient,
    company_id: &str,
) -> Result<Option<Customer>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM customers WHERE external_ids->>'{UNLINKED_KEY}' = $1 \
         AND NOT external_ids ? 'hubspot_company_id' ORDER BY updated_at DESC LIMIT 1 FOR UPDATE"
    );
    client
        .query_typed_opt(&sql, &[(&company_id, Type::TEXT)])
        .await?
        .as_ref()
        .map(customer_from_row)
        .transpose()
}

/// Locks the customers linked to these HubSpot companies (in id order, so concurrent batches
/// cannot deadlock), deleted or not.
pub async fn lock_by_hubspot_companies(
    client: &impl GenericClient,
    company_ids: &[String],
) -> Result<Vec<Customer>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM customers WHERE external_ids ? 'hubspot_company_id' \
           AND external_ids->>'hubspot_company_id' = ANY($1) \
         ORDER BY id FOR UPDATE"
    );
    client
        .query_typed(&sql, &[(&company_ids, Type::TEXT_ARRAY)])
        .await?
        .iter()
        .map(customer_from_row)
        .collect()
}

/// Which of these HubSpot companies some customer is linked to (no lock taken).
pub async fn linked_companies(
    client: &impl GenericClient,
    company_ids: &[String],
) -> Result<std::collections::HashSet<String>, StoreError> {
    if company_ids.is_empty() {
        return Ok(Default::default());
    }
    client
        .query_typed(
            "SELECT external_ids->>'hubspot_company_id' FROM customers \
             WHERE external_ids ? 'hubspot_company_id' AND external_ids->>'hubspot_company_id' = ANY($1)",
            &[(&company_ids, Type::TEXT_ARRAY)],
        )
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

/// Locks the customer with this BAN, deleted or not.
pub async fn lock_by_ban(
    client: &impl GenericClient,
    ban: &Ban,
) -> Result<Option<Customer>, StoreError> {
    lock_one(client, "ban = $1", ban.as_str()).await
}

/// Locks a customer by id.
pub async fn lock_by_id(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<Customer>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = $1 FOR UPDATE");
    client
        .query_typed_opt(&sql, &[(&id, Type::UUID)])
        .await?
        .as_ref()
        .map(customer_from_row)
        .transpose()
}

/// Links the customer to a HubSpot company (version + 1); forgets an earlier unlinked id. A
/// company already linked to another customer is a `StoreError::Conflict` (unique index).
pub async fn link_company(
    client: &impl GenericClient,
    customer_id: Uuid,
    company_id: &str,
) -> Result<Customer, StoreError> {
    let sql = format!(
        "UPDATE customers SET external_ids = (external_ids - '{UNLINKED_KEY}') \
         || jsonb_build_object('hubspot_company_id', $2::text), \
         version = version + 1, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    );
    let row = client
        .query_typed_one(
            &sql,
            &[(&customer_id, Type::UUID), (&company_id, Type::TEXT)],
        )
        .await?;
    customer_from_row(&row)
}

/// [`link_company`] for many customers in one statement (an import's page); returns each
/// linked customer's new version. The caller has locked them and checked the links are free.
pub async fn link_companies_many(
    client: &impl GenericClient,
    links: &[(Uuid, String)],
) -> Result<Vec<(Uuid, i64)>, StoreError> {
    if links.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, companies): (Vec<Uuid>, Vec<String>) = links.iter().cloned().unzip();
    let sql = format!(
        "UPDATE customers c SET external_ids = (c.external_ids - '{UNLINKED_KEY}') \
         || jsonb_build_object('hubspot_company_id', l.company), \
         version = c.version + 1, updated_at = now() \
         FROM unnest($1::uuid[], $2::text[]) AS l(id, company) WHERE c.id = l.id \
         RETURNING c.id, c.version"
    );
    client
        .query_typed(
            &sql,
            &[(&ids, Type::UUID_ARRAY), (&companies, Type::TEXT_ARRAY)],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Locks these customers, deleted or not, in id order (so two lockers cannot deadlock).
pub async fn lock_by_ids(
    client: &impl GenericClient,
    ids: &[Uuid],
) -> Result<Vec<Customer>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = ANY($1) ORDER BY id FOR UPDATE");
    client
        .query_typed(&sql, &[(&ids, Type::UUID_ARRAY)])
        .await?
        .iter()
        .map(customer_from_row)
        .collect()
}

/// Removes the customer's link (version + 1), keeping the old id under [`UNLINKED_KEY`].
pub async fn unlink_company(
    client: &impl GenericClient,
    customer_id: Uuid,
) -> Result<Customer, StoreError> {
    let kept = format!("jsonb_build_object('{UNLINKED_KEY}', external_ids->>'hubspot_company_id')");
    set_external_ids(
        client,
        customer_id,
        &format!("(external_ids - 'hubspot_company_id') || {kept}"),
    )
    .await
}

/// Removes the customer's link (version + 1) for good: a person unlinked it, so no restore of
/// that company may bring it back (the old id is not kept, and a kept one is dropped).
pub async fn forget_company(
    client: &impl GenericClient,
    customer_id: Uuid,
) -> Result<Customer, StoreError> {
    let without = format!("external_ids - 'hubspot_company_id' - '{UNLINKED_KEY}'");
    set_external_ids(client, customer_id, &without).await
}

/// Sets a linked customer's `external_ids` to `expression` (SQL over the current value);
/// `NotFound` when it is not linked.
async fn set_external_ids(
    client: &impl GenericClient,
    customer_id: Uuid,
    expression: &str,
) -> Result<Customer, StoreError> {
    let sql = format!(
        "UPDATE customers SET external_ids = {expression}, version = version + 1, updated_at = now() \
         WHERE id = $1 AND external_ids ? 'hubspot_company_id' RETURNING {COLUMNS}"
    );
    match client
        .query_typed_opt(&sql, &[(&customer_id, Type::UUID)])
        .await?
    {
        Some(row) => customer_from_row(&row),
        None => Err(StoreError::NotFound),
    }
}

/// What HubSpot holds for one field of one record, as seen at `at` (an event's occurredAt);
/// the field names the object type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSpotObservation {
    pub local_id: Uuid,
    pub field: WarpField,
    pub value: Option<String>,
    pub at: DateTime<Utc>,
}

/// Records what HubSpot holds for one field, as seen at `at`. Moves only forward: a row
/// already holding a newer HubSpot time is left alone. Returns whether it was recorded.
pub async fn observe_hubspot_value(
    client: &impl GenericClient,
    portal_id: i64,
    customer_id: Uuid,
    field: WarpField,
    value: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let observation = HubSpotObservation {
        local_id: customer_id,
        field,
        value: value.map(str::to_owned),
        at,
    };
    Ok(observe_hubspot_values(client, portal_id, &[observation]).await? > 0)
}

/// [`observe_hubspot_value`] for many fields in one statement. At most one observation per
/// customer and field (Postgres cannot update a row twice in one upsert); returns how many
/// were recorded.
pub async fn observe_hubspot_values(
    client: &impl GenericClient,
    portal_id: i64,
    observations: &[HubSpotObservation],
) -> Result<u64, StoreError> {
    if observations.is_empty() {
        return Ok(0);
    }
    let customers: Vec<Uuid> = observations.iter().map(|o| o.local_id).collect();
    let fields: Vec<&str> = observations.iter().map(|o| o.field.as_str()).collect();
    let object_types: Vec<&str> = observations
        .iter()
        .map(|o| o.field.object_type().as_str())
        .collect();
    // HubSpot's text: a NUL would fail the statement and every observation it carries.
    let values: Vec<Option<Cow<'_, str>>> = observations
        .iter()
        .map(|o| storable_opt(o.value.as_deref()))
        .collect();
    let times: Vec<DateTime<Utc>> = observations.iter().map(|o| o.at).collect();
    Ok(client
        .execute_typed(
            "INSERT INTO hubspot_field_state AS s (portal_id, object_type, local_id, field, hubspot_value, hubspot_changed_at) \
             SELECT $1, y, c, f, v, t FROM unnest($2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::text[]) AS u(c, f, v, t, y) \
             ON CONFLICT (portal_id, object_type, local_id, field) DO UPDATE SET \
               hubspot_value = excluded.hubspot_value, \
               hubspot_changed_at = excluded.hubspot_changed_at, updated_at = now() \
             WHERE s.hubspot_changed_at IS NULL OR s.hubspot_changed_at <= excluded.hubspot_changed_at",
            &[
                (&portal_id, Type::INT8),
                (&customers, Type::UUID_ARRAY),
                (&fields, Type::TEXT_ARRAY),
                (&values, Type::TEXT_ARRAY),
                (&times, Type::TIMESTAMPTZ_ARRAY),
                (&object_types, Type::TEXT_ARRAY),
            ],
        )
        .await?)
}

/// Records WARP's new value of one field after an applied HubSpot change, keeping WARP's own
/// change time (see the module doc).
pub async fn record_warp_value(
    client: &impl GenericClient,
    portal_id: i64,
    customer_id: Uuid,
    field: WarpField,
    value: Option<&str>,
) -> Result<(), StoreError> {
    record_warp_values(
        client,
        portal_id,
        &[(customer_id, field, value.map(str::to_owned))],
    )
    .await
}

/// [`record_warp_value`] for many fields in one statement, at most one per customer and field.
pub async fn record_warp_values(
    client: &impl GenericClient,
    portal_id: i64,
    values: &[(Uuid, WarpField, Option<String>)],
) -> Result<(), StoreError> {
    if values.is_empty() {
        return Ok(());
    }
    let customers: Vec<Uuid> = values.iter().map(|(id, _, _)| *id).collect();
    let fields: Vec<&str> = values.iter().map(|(_, field, _)| field.as_str()).collect();
    let object_types: Vec<&str> = values
        .iter()
        .map(|(_, field, _)| field.object_type().as_str())
        .collect();
    let texts: Vec<Option<&str>> = values
        .iter()
        .map(|(_, _, value)| value.as_deref())
        .collect();
    client
        .execute_typed(
            "INSERT INTO hubspot_field_state AS s (portal_id, object_type, local_id, field, warp_value) \
             SELECT $1, y, c, f, v FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) AS u(c, f, v, y) \
             ON CONFLICT (portal_id, object_type, local_id, field) DO UPDATE SET \
               warp_value = excluded.warp_value, updated_at = now()",
            &[
                (&portal_id, Type::INT8),
                (&customers, Type::UUID_ARRAY),
                (&fields, Type::TEXT_ARRAY),
                (&texts, Type::TEXT_ARRAY),
                (&object_types, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    Ok(())
}

/// The outcome of one inbound sync attempt, as `hubspot_sync_log` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundLogStatus {
    Success,
    Failed,
    Skipped,
    Overridden,
    Conflict,
}

impl InboundLogStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InboundLogStatus::Success => "SUCCESS",
            InboundLogStatus::Failed => "FAILED",
            InboundLogStatus::Skipped => "SKIPPED",
            InboundLogStatus::Overridden => "OVERRIDDEN",
            InboundLogStatus::Conflict => "CONFLICT",
        }
    }
}

/// One inbound row of the sync log: ids and field names only, never values.
#[derive(Debug, Clone)]
pub struct InboundLogEntry<'a> {
    pub portal_id: i64,
    pub object_type: ObjectType,
    /// The WARP record the event was about, when one is linked.
    pub local_id: Option<Uuid>,
    /// The outbox row this attempt queued (a push-back), if any.
    pub queue_id: Option<i64>,
    /// PROPERTY_CHANGE, CREATION, DELETION, RESTORE, MERGE, CONFLICT_RESOLUTION.
    pub operation: &'a str,
    pub status: InboundLogStatus,
    pub fields: Vec<String>,
    pub hubspot_id: Option<String>,
    pub error: Option<String>,
}

/// Appends an INBOUND row to `hubspot_sync_log` (completed now).
pub async fn log_inbound(
    client: &impl GenericClient,
    entry: &InboundLogEntry<'_>,
) -> Result<(), StoreError> {
    log_inbound_many(client, std::slice::from_ref(entry)).await
}

/// [`log_inbound`] for many entries in one statement.
pub async fn log_inbound_many(
    client: &impl GenericClient,
    entries: &[InboundLogEntry<'_>],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let portals: Vec<i64> = entries.iter().map(|e| e.portal_id).collect();
    let queue_ids: Vec<Option<i64>> = entries.iter().map(|e| e.queue_id).collect();
    let object_types: Vec<&str> = entries.iter().map(|e| e.object_type.as_str()).collect();
    let local_ids: Vec<Option<Uuid>> = entries.iter().map(|e| e.local_id).collect();
    let operations: Vec<&str> = entries.iter().map(|e| e.operation).collect();
    let statuses: Vec<&str> = entries.iter().map(|e| e.status.as_str()).collect();
    // text[] per row cannot be unnested from a 2-D array (rows differ in length), so each row's
    // field names travel as one comma-joined text (field names never contain commas).
    let fields: Vec<String> = entries.iter().map(|e| e.fields.join(",")).collect();
    let hubspot_ids: Vec<Option<Cow<'_, str>>> = entries
        .iter()
        .map(|e| storable_opt(e.hubspot_id.as_deref()))
        .collect();
    // Error texts may quote HubSpot's messages.
    let errors: Vec<Option<Cow<'_, str>>> = entries
        .iter()
        .map(|e| storable_opt(e.error.as_deref()))
        .collect();
    client
        .execute_typed(
            "INSERT INTO hubspot_sync_log (portal_id, object_type, queue_id, local_id, direction, operation, status, \
             fields_synced, hubspot_id, error, completed_at) \
             SELECT p, y, q, c, 'INBOUND', o, s, \
                    CASE WHEN f = '' THEN '{}'::text[] ELSE string_to_array(f, ',') END, h, e, now() \
             FROM unnest($1::int8[], $2::int8[], $3::uuid[], $4::text[], $5::text[], $6::text[], \
                         $7::text[], $8::text[], $9::text[]) AS u(p, q, c, o, s, f, h, e, y)",
            &[
                (&portals, Type::INT8_ARRAY),
                (&queue_ids, Type::INT8_ARRAY),
                (&local_ids, Type::UUID_ARRAY),
                (&operations, Type::TEXT_ARRAY),
                (&statuses, Type::TEXT_ARRAY),
                (&fields, Type::TEXT_ARRAY),
                (&hubspot_ids, Type::TEXT_ARRAY),
                (&errors, Type::TEXT_ARRAY),
                (&object_types, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp_domain::customer::{CompanyName, CustomerType, NewCustomer};

    fn customer() -> Customer {
        let new = NewCustomer::new(CompanyName::parse("Acme").unwrap(), CustomerType::Postpaid);
        let now = Utc::now();
        Customer {
            id: Uuid::nil(),
            ban: Ban::parse("ZT-487392012").unwrap(),
            company_name: new.company_name,
            customer_type: new.customer_type,
            status: new.status,
            credit_limit: new.credit_limit,
            current_balance: new.current_balance,
            domain: new.domain,
            contact: new.contact,
            address: new.address,
            services: new.services,
            external_ids: new.external_ids,
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    #[test]
    fn valid_hubspot_values_parse_into_domain_types() {
        let current = customer();
        let fields = with_field_value(&current, WarpField::CreditLimit, Some("2500.00")).unwrap();
        assert_eq!(fields.credit_limit.to_string(), "2500.00");
        let fields = with_field_value(&current, WarpField::Domain, Some("acme.example")).unwrap();
        assert_eq!(fields.domain.unwrap().as_str(), "acme.example");
        let fields = with_field_value(&current, WarpField::Domain, None).unwrap();
        assert!(fields.domain.is_none());
        let fields = with_field_value(&current, WarpField::ServicesData, Some("true")).unwrap();
        assert!(fields.services.data.enabled);
        let fields = with_field_value(&current, WarpField::Status, Some("SUSPENDED")).unwrap();
        assert_eq!(fields.status, Status::Suspended);
    }

    #[test]
    fn no_field_takes_a_value_with_a_nul_character() {
        let current = customer();
        for field in WarpField::COMPANY {
            for value in [
                "Acme\0Ltd",
                "acme\0.example",
                "25\0",
                "true\0",
                "+1415555\u{0}0100",
            ] {
                assert!(
                    with_field_value(&current, field, Some(value)).is_err(),
                    "{field}: {value:?}"
                );
            }
        }
    }

    #[test]
    fn invalid_hubspot_values_are_refused_without_echoing_the_value() {
        let current = customer();
        for (field, value) in [
            (WarpField::CreditLimit, Some("-100.00")),
            (WarpField::CreditLimit, None),
            (WarpField::CompanyName, None),
            (WarpField::Status, Some("SECRET-VALUE")),
            (WarpField::ServicesVoice, Some("SECRET-VALUE")),
            (WarpField::Ban, Some("ZT-000000001")),
        ] {
            let error = with_field_value(&current, field, value).unwrap_err();
            assert_eq!(error.field, field);
            assert!(!error.to_string().contains("SECRET"), "{error}");
            assert!(!error.to_string().contains("-100"), "{error}");
        }
    }
}
