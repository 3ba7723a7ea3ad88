//! The customer repository: create (collision-safe BANs), read, list with filters and cursor
//! paging, version-guarded update and soft delete. Every write inserts its outbox row in the
//! same transaction and returns the outbox id for the caller to publish after commit.

use crate::field_state;
use crate::idempotency::{self, Claim, IdempotentRequest, StoredResponse};
use crate::outbox::{self, OutboxOperation};
use crate::{Database, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;
use warp_domain::customer::{
    Ban, CompanyName, CreditLimit, Customer, CustomerPatch, CustomerType, Domain, Money,
    NewCustomer, Status,
};
use warp_domain::sync::{FieldValues, ObjectType, customer_field_values};

pub(crate) const COLUMNS: &str = "id, ban, company_name, customer_type, status, credit_limit, current_balance, domain, \
                       contact, address, services, external_ids, version, created_at, updated_at, deleted_at";

/// How a single customer is looked up.
#[derive(Debug, Clone, Copy)]
pub enum CustomerKey<'a> {
    Id(Uuid),
    Ban(&'a Ban),
}

/// How many fresh BANs a create tries before giving up (a collision is already rare: 6.8e11 BANs).
const BAN_ATTEMPTS: usize = 16;

/// A write's result and the id of the outbox row written with it.
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub value: T,
    /// None when nothing was written (deleting an already deleted customer).
    pub outbox_id: Option<i64>,
}

/// A create's outcome: a new customer, or the stored answer to an earlier identical request.
#[derive(Debug, Clone)]
pub enum Created {
    /// Boxed: a customer is much larger than a stored answer.
    New(Box<Written<Customer>>, Option<StoredResponse>),
    Replayed(StoredResponse),
}

/// Makes the answer stored with an idempotency key from the created customer.
pub type RenderResponse = dyn Fn(&Customer) -> StoredResponse + Sync;

/// The company a pre-commit step wrote in HubSpot for a new customer: linked to it and its
/// values recorded as HubSpot's known values, in the create's own transaction.
#[derive(Debug, Clone)]
pub struct LinkedCompany {
    pub company_id: String,
    /// The values HubSpot holds now (so the CREATE outbox row later finds nothing to send).
    pub values: FieldValues,
    /// HubSpot's own time of the write.
    pub written_at: chrono::DateTime<chrono::Utc>,
}

/// Why a pre-commit step refused a create: a description and the HubSpot properties at fault
/// (names only, never values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreCommitRefusal {
    pub detail: String,
    pub fields: Vec<String>,
}

pub type PreCommitFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<LinkedCompany, PreCommitRefusal>> + Send + 'a>,
>;

/// A step run inside the create's transaction, after the insert and before the commit (the
/// strict create mode pushes the company to HubSpot here). A refusal rolls the create back.
pub trait PreCommit: Send + Sync {
    fn before_commit<'a>(&'a self, customer: &'a Customer) -> PreCommitFuture<'a>;
}

/// The body field holding the HubSpot link, which customer writes may not change.
pub const LINK_FIELD: &str = "external_ids.hubspot_company_id";

/// A full replace (PUT) or a partial update (PATCH).
#[derive(Debug, Clone)]
pub enum Update {
    Patch(CustomerPatch),
    /// `keep_external_ids`: the body had no `external_ids`, so the sync links stay.
    Replace {
        fields: NewCustomer,
        keep_external_ids: bool,
    },
}

/// Filters and paging for a list. Soft-deleted customers are listed only when
/// `status = CLOSED` is asked for (they are CLOSED): a plain list shows live accounts.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Partial, case-insensitive match on name, contact e-mail and domain; exact BAN.
    pub q: Option<String>,
    pub status: Option<Status>,
    pub customer_type: Option<CustomerType>,
    /// 1..=100 (clamped).
    pub limit: u32,
    /// Only ids after this one (the cursor).
    pub after: Option<Uuid>,
}

/// One page of a list, in id order (uuid v7: creation order).
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Customer>,
    /// The cursor for the next page, when there may be one.
    pub next_cursor: Option<String>,
}

/// The opaque cursor for "after this id": URL-safe base64 of the id's bytes.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// `NotFound` unless the customer exists (deleted or not): a customer's sub-list of an unknown
/// customer is a 404, not an empty page.
pub(crate) async fn ensure_exists(
    client: &impl tokio_postgres::GenericClient,
    id: Uuid,
) -> Result<(), StoreError> {
    client
        .query_typed_opt(
            "SELECT 1 FROM customers WHERE id = $1",
            &[(&id, Type::UUID)],
        )
        .await?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

/// `NotFound` unless the customer exists (deleted or not).
pub async fn exists(database: &Database, id: Uuid) -> Result<(), StoreError> {
    let client = database.client().await?;
    ensure_exists(&**client, id).await
}

/// Holds the customer against deletion until the caller's transaction ends (FOR SHARE: a
/// concurrent delete waits for it, or it waits for the delete): `NotFound` when there is no
/// such customer, a conflict when it is deleted.
pub(crate) async fn lock_live(
    client: &impl tokio_postgres::GenericClient,
    id: Uuid,
) -> Result<(), StoreError> {
    let deleted: Option<chrono::DateTime<chrono::Utc>> = client
        .query_typed_opt(
            "SELECT deleted_at FROM customers WHERE id = $1 FOR SHARE",
            &[(&id, Type::UUID)],
        )
        .await?
        .ok_or(StoreError::NotFound)?
        .try_get(0)?;
    match deleted {
        Some(_) => Err(StoreError::Conflict("the customer is deleted".into())),
        None => Ok(()),
    }
}

/// One page of a list read `limit + 1` rows deep: the first `limit` rows, and the cursor
/// after the last of them when the extra row shows more remain.
pub(crate) fn page_of<T>(
    rows: &[tokio_postgres::Row],
    from_row: impl Fn(&tokio_postgres::Row) -> Result<T, StoreError>,
    limit: i64,
    id: impl Fn(&T) -> Uuid,
) -> Result<(Vec<T>, Option<String>), StoreError> {
    let mut items = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let more = items.len() as i64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = more
        .then(|| items.last().map(|item| encode_cursor(id(item))))
        .flatten();
    Ok((items, next_cursor))
}

pub fn decode_cursor(cursor: &str) -> Result<Uuid, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    Uuid::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)
}

/// Customers of one HubSpot portal's deployment.
#[derive(Debug, Clone)]
pub struct CustomerStore {
    database: Database,
    portal_id: i64,
    /// Who writes through this store: each write is recorded in the audit log under it.
    actor: Option<crate::audit::Actor>,
}

impl CustomerStore {
    pub fn new(database: Database, portal_id: i64) -> Self {
        CustomerStore {
            database,
            portal_id,
            actor: None,
        }
    }

    /// This store with its writes audited under `actor` (the API's writes).
    pub fn with_actor(&self, actor: crate::audit::Actor) -> Self {
        CustomerStore {
            actor: Some(actor),
            ..self.clone()
        }
    }

    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Inserts a customer with a fresh BAN and its CREATE outbox row. With `idempotency`, the
    /// key is claimed in the same transaction and `render` makes the answer stored with it.
    pub async fn create(
        &self,
        new: &NewCustomer,
        idempotency: Option<(&IdempotentRequest, &RenderResponse)>,
    ) -> Result<Created, StoreError> {
        self.create_with_bans(new, idempotency, || Ban::generate(&mut rand::rng()))
            .await
    }

    /// As [`CustomerStore::create`], trying the BANs `next_ban` gives until one is free (tests
    /// use it to force a collision).
    pub async fn create_with_bans(
        &self,
        new: &NewCustomer,
        idempotency: Option<(&IdempotentRequest, &RenderResponse)>,
        next_ban: impl FnMut() -> Ban + Send,
    ) -> Result<Created, StoreError> {
        self.create_inner(new, idempotency, next_ban, None).await
    }

    /// As [`CustomerStore::create`], running `hook` after the insert and before the commit:
    /// its refusal rolls everything back ([`StoreError::Refused`]); its company is linked.
    pub async fn create_with_hook(
        &self,
        new: &NewCustomer,
        idempotency: Option<(&IdempotentRequest, &RenderResponse)>,
        hook: &dyn PreCommit,
    ) -> Result<Created, StoreError> {
        self.create_inner(
            new,
            idempotency,
            || Ban::generate(&mut rand::rng()),
            Some(hook),
        )
        .await
    }

    async fn create_inner(
        &self,
        new: &NewCustomer,
        idempotency: Option<(&IdempotentRequest, &RenderResponse)>,
        mut next_ban: impl FnMut() -> Ban + Send,
        hook: Option<&dyn PreCommit>,
    ) -> Result<Created, StoreError> {
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        if let Some((request, _)) = idempotency
            && let Claim::Replay(stored) = idempotency::claim(&transaction, request).await?
        {
            return Ok(Created::Replayed(stored));
        }
        let mut inserted = None;
        for _ in 0..BAN_ATTEMPTS {
            if let Some(customer) = insert(&*transaction, new, &next_ban(), TakenWhen::Ban).await? {
                inserted = Some(customer);
                break;
            }
            tracing::info!("BAN collision on create; retrying with a new BAN");
        }
        let mut customer =
            inserted.ok_or_else(|| StoreError::Conflict("no free BAN found".into()))?;
        if let Some(hook) = hook {
            // Dropping the transaction on a refusal rolls the insert back.
            let linked =
                hook.before_commit(&customer)
                    .await
                    .map_err(|refusal| StoreError::Refused {
                        detail: refusal.detail,
                        fields: refusal.fields,
                    })?;
            customer = link_company(&transaction, customer.id, &linked.company_id).await?;
            let connection: &tokio_postgres::Transaction<'_> = &transaction;
            field_state::record(
                connection,
                self.portal_id,
                ObjectType::Companies,
                customer.id,
                field_state::Side::HubSpot,
                &linked.values,
                linked.written_at,
            )
            .await?;
        }
        crate::audit::record_change(
            &*transaction,
            self.actor.as_ref(),
            crate::audit::EntityType::Customer,
            customer.id,
            "create",
            None,
            &customer,
            crate::audit::customer_fields,
        )
        .await?;
        let outbox_id = record_write(
            &transaction,
            self.portal_id,
            &customer,
            OutboxOperation::Create,
        )
        .await?;
        let stored = match idempotency {
            Some((request, render)) => {
                let response = render(&customer);
                idempotency::complete(&transaction, request, &response).await?;
                Some(response)
            }
            None => None,
        };
        transaction.commit().await?;
        Ok(Created::New(
            Box::new(Written {
                value: customer,
                outbox_id: Some(outbox_id),
            }),
            stored,
        ))
    }

    /// The customer with this id, deleted or not.
    pub async fn get(&self, id: Uuid) -> Result<Customer, StoreError> {
        let client = self.database.client().await?;
        let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = $1");
        let row = client
            .query_typed_opt(&sql, &[(&id, Type::UUID)])
            .await?
            .ok_or(StoreError::NotFound)?;
        customer_from_row(&row)
    }

    /// The customer and where its HubSpot sync stands, in one query: by id, or by BAN.
    pub async fn get_with_sync_state(
        &self,
        key: CustomerKey<'_>,
    ) -> Result<(Customer, crate::sync_log::CustomerSyncState), StoreError> {
        let client = self.database.client().await?;
        // customer_read* (migration V4): the join is planned once per connection, in PL/pgSQL.
        let row = match key {
            CustomerKey::Id(id) => {
                client
                    .query_typed_opt("SELECT * FROM customer_read($1)", &[(&id, Type::UUID)])
                    .await?
            }
            CustomerKey::Ban(ban) => {
                client
                    .query_typed_opt(
                        "SELECT * FROM customer_read_by_ban($1)",
                        &[(&ban.as_str(), Type::TEXT)],
                    )
                    .await?
            }
        }
        .ok_or(StoreError::NotFound)?;
        Ok((
            customer_from_row(&row)?,
            crate::sync_log::sync_state_from_row(&row)?,
        ))
    }

    /// The customer with this BAN, deleted or not.
    pub async fn get_by_ban(&self, ban: &Ban) -> Result<Customer, StoreError> {
        let client = self.database.client().await?;
        let sql = format!("SELECT {COLUMNS} FROM customers WHERE ban = $1");
        let ban = ban.as_str();
        let row = client
            .query_typed_opt(&sql, &[(&ban, Type::TEXT)])
            .await?
            .ok_or(StoreError::NotFound)?;
        customer_from_row(&row)
    }

    /// One page of customers matching the filters, ordered by id.
    pub async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let limit = i64::from(query.limit.clamp(1, 100));
        let fetch = limit + 1;
        let status = query.status.map(|s| s.as_str());
        let customer_type = query.customer_type.map(|t| t.as_str());
        let pattern = query
            .q
            .as_deref()
            .map(|q| format!("%{}%", crate::escape_like(&q.to_lowercase())));
        let ban = query.q.as_deref().map(|q| q.trim().to_uppercase());

        let mut conditions: Vec<String> = Vec::new();
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = Vec::new();
        fn next<'a>(
            params: &mut Vec<(&'a (dyn ToSql + Sync), Type)>,
            value: &'a (dyn ToSql + Sync),
            ty: Type,
        ) -> String {
            params.push((value, ty));
            format!("${}", params.len())
        }
        if let Some(after) = &query.after {
            conditions.push(format!("id > {}", next(&mut params, after, Type::UUID)));
        }
        match &status {
            Some(status) => conditions.push(format!(
                "status = {}",
                next(&mut params, status, Type::TEXT)
            )),
            None => conditions.push("deleted_at IS NULL".into()),
        }
        if status.is_some_and(|s| s != "CLOSED") {
            conditions.push("deleted_at IS NULL".into());
        }
        if let Some(customer_type) = &customer_type {
            conditions.push(format!(
                "customer_type = {}",
                next(&mut params, customer_type, Type::TEXT)
            ));
        }
        if let (Some(pattern), Some(ban)) = (&pattern, &ban) {
            let p = next(&mut params, pattern, Type::TEXT);
            let b = next(&mut params, ban, Type::TEXT);
            conditions.push(format!(
                "(lower(company_name) LIKE {p} ESCAPE '\\' OR lower(contact->>'email') LIKE {p} ESCAPE '\\' \
                 OR lower(domain) LIKE {p} ESCAPE '\\' OR ban = {b})"
            ));
        }
        let limit_param = next(&mut params, &fetch, Type::INT8);
        let sql = format!(
            "SELECT {COLUMNS} FROM customers WHERE {} ORDER BY id LIMIT {limit_param}",
            conditions.join(" AND ")
        );
        let client = self.database.client().await?;
        let rows = client.query_typed(&sql, &params).await?;
        let (items, next_cursor) = page_of(&rows, customer_from_row, limit, |c| c.id)?;
        Ok(Page { items, next_cursor })
    }

    /// Applies a PATCH or PUT when `expected_version` (If-Match) is the stored version or absent.
    /// The row is locked first, so of two concurrent updates with the same version one wins and
    /// the other gets `VersionMismatch`.
    pub async fn update(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        update: &Update,
    ) -> Result<Written<Customer>, StoreError> {
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        let current = lock(&transaction, id).await?;
        check_version(&current, expected_version)?;
        if current.is_deleted() {
            return Err(StoreError::Conflict("the customer is deleted".into()));
        }
        let fields = match update {
            Update::Patch(patch) => patch.apply_to(&current.writable()),
            Update::Replace {
                fields,
                keep_external_ids,
            } => {
                let mut fields = fields.clone();
                if *keep_external_ids {
                    fields.external_ids = current.external_ids.clone();
                }
                fields
            }
        };
        // The HubSpot link changes only through the link route, which checks the company in
        // HubSpot and stamps its BAN; a link written here would be swapped for a new company
        // by the next push. Sending back the value read is fine (GET, edit, PUT).
        if fields.external_ids.hubspot_company_id != current.external_ids.hubspot_company_id {
            return Err(StoreError::ReadOnlyField(LINK_FIELD));
        }
        let contact = to_json(&fields.contact)?;
        let address = to_json(&fields.address)?;
        let services = to_json(&fields.services)?;
        let external_ids = to_json(&fields.external_ids)?;
        let credit_limit = fields.credit_limit.as_decimal();
        let current_balance = fields.current_balance.as_decimal();
        let domain = fields.domain.as_ref().map(|d| d.as_str());
        // The typed external ids model only the link. Without a link, keys kept beside it (the
        // id of a company deleted in HubSpot, for a restore to relink) survive the write; a new
        // link replaces them, as linking does.
        let sql = format!(
            "UPDATE customers SET company_name = $2, customer_type = $3, status = $4, credit_limit = $5, \
             current_balance = $6, domain = $7, contact = $8, address = $9, services = $10, \
             external_ids = CASE WHEN $11::jsonb ? 'hubspot_company_id' THEN $11::jsonb \
                                 ELSE (external_ids - 'hubspot_company_id') || $11::jsonb END, \
             version = version + 1, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
        );
        let row = transaction
            .query_typed_one(
                &sql,
                &[
                    (&id, Type::UUID),
                    (&fields.company_name.as_str(), Type::TEXT),
                    (&fields.customer_type.as_str(), Type::TEXT),
                    (&fields.status.as_str(), Type::TEXT),
                    (&credit_limit, Type::NUMERIC),
                    (&current_balance, Type::NUMERIC),
                    (&domain, Type::TEXT),
                    (&contact, Type::JSONB),
                    (&address, Type::JSONB),
                    (&services, Type::JSONB),
                    (&external_ids, Type::JSONB),
                ],
            )
            .await?;
        let customer = customer_from_row(&row)?;
        crate::audit::record_change(
            &*transaction,
            self.actor.as_ref(),
            crate::audit::EntityType::Customer,
            customer.id,
            "update",
            Some(&current),
            &customer,
            crate::audit::customer_fields,
        )
        .await?;
        let outbox_id = record_write(
            &transaction,
            self.portal_id,
            &customer,
            OutboxOperation::Update,
        )
        .await?;
        transaction.commit().await?;
        Ok(Written {
            value: customer,
            outbox_id: Some(outbox_id),
        })
    }

    /// Soft delete: status CLOSED, `deleted_at` set, version + 1, a DELETE outbox row.
    /// Deleting a deleted customer changes nothing (and writes no outbox row).
    pub async fn soft_delete(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<Written<Customer>, StoreError> {
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        let current = lock(&transaction, id).await?;
        check_version(&current, expected_version)?;
        if current.is_deleted() {
            return Ok(Written {
                value: current,
                outbox_id: None,
            });
        }
        let sql = format!(
            "UPDATE customers SET status = 'CLOSED', deleted_at = now(), version = version + 1, updated_at = now() \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let row = transaction
            .query_typed_one(&sql, &[(&id, Type::UUID)])
            .await?;
        let customer = customer_from_row(&row)?;
        crate::audit::record_change(
            &*transaction,
            self.actor.as_ref(),
            crate::audit::EntityType::Customer,
            customer.id,
            "delete",
            Some(&current),
            &customer,
            crate::audit::customer_fields,
        )
        .await?;
        let outbox_id = record_write(
            &transaction,
            self.portal_id,
            &customer,
            OutboxOperation::Delete,
        )
        .await?;
        transaction.commit().await?;
        Ok(Written {
            value: customer,
            outbox_id: Some(outbox_id),
        })
    }
}

/// What makes an insert insert nothing (anything else fails it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TakenWhen {
    /// The BAN is taken.
    Ban,
    /// The BAN, or the HubSpot company in the external ids, is taken.
    BanOrCompany,
}

/// Inserts a customer with this BAN; `None` when it is taken (see [`TakenWhen`]) or reserved
/// for another company's onboarding. Nothing is inserted then and the transaction stays usable.
pub(crate) async fn insert(
    client: &impl tokio_postgres::GenericClient,
    new: &NewCustomer,
    ban: &Ban,
    taken_when: TakenWhen,
) -> Result<Option<Customer>, StoreError> {
    let contact = to_json(&new.contact)?;
    let address = to_json(&new.address)?;
    let services = to_json(&new.services)?;
    let external_ids = to_json(&new.external_ids)?;
    let credit_limit = new.credit_limit.as_decimal();
    let current_balance = new.current_balance.as_decimal();
    let domain = new.domain.as_ref().map(|d| d.as_str());
    let id = Uuid::now_v7();
    let conflict = match taken_when {
        TakenWhen::Ban => "ON CONFLICT (ban) DO NOTHING",
        TakenWhen::BanOrCompany => "ON CONFLICT DO NOTHING",
    };
    let sql = format!(
        "INSERT INTO customers (id, ban, company_name, customer_type, status, credit_limit, current_balance, \
         domain, contact, address, services, external_ids) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
         WHERE NOT EXISTS (SELECT 1 FROM onboarding_company_bans r WHERE r.ban = $2 \
                             AND r.hubspot_company_id IS DISTINCT FROM $12::jsonb->>'hubspot_company_id') \
         {conflict} RETURNING {COLUMNS}"
    );
    let params: [(&(dyn ToSql + Sync), Type); 12] = [
        (&id, Type::UUID),
        (&ban.as_str(), Type::TEXT),
        (&new.company_name.as_str(), Type::TEXT),
        (&new.customer_type.as_str(), Type::TEXT),
        (&new.status.as_str(), Type::TEXT),
        (&credit_limit, Type::NUMERIC),
        (&current_balance, Type::NUMERIC),
        (&domain, Type::TEXT),
        (&contact, Type::JSONB),
        (&address, Type::JSONB),
        (&services, Type::JSONB),
        (&external_ids, Type::JSONB),
    ];
    client
        .query_typed_opt(&sql, &params)
        .await?
        .map(|row| customer_from_row(&row))
        .transpose()
}

/// What every customer write adds in its own transaction (guarantee 1): WARP's side of the
/// field state (see [`field_state`]) and the outbox row; returns the outbox id.
pub(crate) async fn record_write(
    transaction: &tokio_postgres::Transaction<'_>,
    portal_id: i64,
    customer: &Customer,
    operation: OutboxOperation,
) -> Result<i64, StoreError> {
    field_state::record(
        transaction,
        portal_id,
        ObjectType::Companies,
        customer.id,
        field_state::Side::Warp,
        &customer_field_values(customer),
        customer.updated_at,
    )
    .await?;
    outbox::enqueue(
        transaction,
        portal_id,
        ObjectType::Companies,
        customer.id,
        operation,
        customer.version,
    )
    .await
}

/// Links a new customer to its HubSpot company (no version change: it is the same create).
async fn link_company(
    transaction: &tokio_postgres::Transaction<'_>,
    id: Uuid,
    company_id: &str,
) -> Result<Customer, StoreError> {
    let sql = format!(
        "UPDATE customers SET external_ids = jsonb_set(external_ids, '{{hubspot_company_id}}', to_jsonb($2::text)) \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    let row = transaction
        .query_typed_one(&sql, &[(&id, Type::UUID), (&company_id, Type::TEXT)])
        .await?;
    customer_from_row(&row)
}

async fn lock(
    transaction: &tokio_postgres::Transaction<'_>,
    id: Uuid,
) -> Result<Customer, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = $1 FOR UPDATE");
    let row = transaction
        .query_typed_opt(&sql, &[(&id, Type::UUID)])
        .await?
        .ok_or(StoreError::NotFound)?;
    customer_from_row(&row)
}

fn check_version(current: &Customer, expected: Option<i64>) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != current.version => Err(StoreError::VersionMismatch {
            current: current.version,
        }),
        _ => Ok(()),
    }
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::Other(e.to_string()))
}

fn corrupt(column: &str) -> StoreError {
    StoreError::Other(format!("stored customer has an invalid {column}"))
}

pub(crate) fn customer_from_row(row: &Row) -> Result<Customer, StoreError> {
    fn json<T: serde::de::DeserializeOwned>(row: &Row, column: &str) -> Result<T, StoreError> {
        let value: serde_json::Value = row.try_get(column)?;
        serde_json::from_value(value).map_err(|_| corrupt(column))
    }
    let text =
        |column: &str| -> Result<String, StoreError> { Ok(row.try_get::<_, String>(column)?) };
    let money = |column: &str| -> Result<Money, StoreError> {
        Money::from_decimal(row.try_get(column)?).map_err(|_| corrupt(column))
    };
    let domain: Option<String> = row.try_get("domain")?;
    Ok(Customer {
        id: row.try_get("id")?,
        ban: Ban::parse(&text("ban")?).map_err(|_| corrupt("ban"))?,
        company_name: CompanyName::parse(&text("company_name")?)
            .map_err(|_| corrupt("company_name"))?,
        customer_type: CustomerType::parse(&text("customer_type")?)
            .map_err(|_| corrupt("customer_type"))?,
        status: Status::parse(&text("status")?).map_err(|_| corrupt("status"))?,
        credit_limit: CreditLimit::new(money("credit_limit")?)
            .map_err(|_| corrupt("credit_limit"))?,
        current_balance: money("current_balance")?,
        domain: domain
            .map(|d| Domain::parse(&d))
            .transpose()
            .map_err(|_| corrupt("domain"))?,
        contact: json(row, "contact")?,
        address: json(row, "address")?,
        services: json(row, "services")?,
        external_ids: json(row, "external_ids")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

/// These customers, deleted or not, in one query (the worker loads every customer of a batch).
pub async fn load(
    client: &impl tokio_postgres::GenericClient,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Customer>, StoreError> {
    let ids = ids.to_vec();
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = ANY($1)");
    let rows = client
        .query_typed(&sql, &[(&ids, Type::UUID_ARRAY)])
        .await?;
    rows.iter()
        .map(|row| {
            let customer = customer_from_row(row)?;
            Ok((customer.id, customer))
        })
        .collect()
}

/// The customers (deleted or not) linked to these HubSpot companies, as (company id,
/// customer id).
pub async fn linked_to_companies(
    client: &impl tokio_postgres::GenericClient,
    company_ids: &[String],
) -> Result<Vec<(String, Uuid)>, StoreError> {
    if company_ids.is_empty() {
        return Ok(Vec::new());
    }
    client
        .query_typed(
            // `?` lets the planner use the partial unique index on the company id.
            "SELECT external_ids->>'hubspot_company_id', id FROM customers \
             WHERE external_ids ? 'hubspot_company_id' AND external_ids->>'hubspot_company_id' = ANY($1)",
            &[(&company_ids, Type::TEXT_ARRAY)],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Links customers to their HubSpot companies (`external_ids.hubspot_company_id`) after a
/// push. Not a customer write: the version stays, no outbox row, no WARP-side field state.
/// Returns the links not stored because another customer already holds that company id
/// (checked first, so one clash fails alone and the caller's transaction stays usable).
pub async fn link_companies(
    client: &impl tokio_postgres::GenericClient,
    links: &[(Uuid, String)],
) -> Result<Vec<(Uuid, String)>, StoreError> {
    if links.is_empty() {
        return Ok(Vec::new());
    }
    let companies: Vec<String> = links.iter().map(|(_, company)| company.clone()).collect();
    let holders: std::collections::HashMap<String, Uuid> = linked_to_companies(client, &companies)
        .await?
        .into_iter()
        .collect();
    let (clashes, free): (Vec<_>, Vec<_>) =
        links.iter().cloned().partition(|(customer, company)| {
            holders
                .get(company)
                .is_some_and(|holder| holder != customer)
        });
    if !free.is_empty() {
        let (customers, companies): (Vec<Uuid>, Vec<String>) = free.into_iter().unzip();
        client
            .execute_typed(
                "UPDATE customers c SET external_ids = jsonb_set(c.external_ids, '{hubspot_company_id}', to_jsonb(l.company_id)) \
                 FROM unnest($1::uuid[], $2::text[]) AS l(customer_id, company_id) \
                 WHERE c.id = l.customer_id AND c.external_ids->>'hubspot_company_id' IS DISTINCT FROM l.company_id",
                &[(&customers, Type::UUID_ARRAY), (&companies, Type::TEXT_ARRAY)],
            )
            .await?;
    }
    Ok(clashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(crate::escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        assert!(matches!(
            decode_cursor("not base64!"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_cursor("AAAA"),
            Err(StoreError::InvalidCursor)
        ));
    }
}
