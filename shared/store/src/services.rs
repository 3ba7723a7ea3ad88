//! What a customer has in service (its SIP trunks and phone numbers, migration V29): one
//! repository shape for both. Creates honour an Idempotency-Key; updates and releases are
//! guarded by the version (If-Match); a released item is kept, read-only, for history. Every
//! write is audited in its own transaction. Each kind says only what differs: its columns,
//! its checks and what must hold before a release.

use tokio_postgres::types::Type;
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;

use crate::audit::{Actor, EntityType};
use crate::customers::page_of;
use crate::idempotency::{self, Claim, IdempotentRequest, StoredResponse};
use crate::{Database, StoreError};

/// One kind of item in service.
pub trait ServiceItem: Clone + Send + Sync + Sized + 'static {
    /// The body of a create.
    type New: Sync;
    /// The fields a client may change (an update that leaves them equal writes nothing).
    type Settings: PartialEq + Sync;
    const TABLE: &'static str;
    const COLUMNS: &'static str;
    const ENTITY: EntityType;
    /// The column a list may be narrowed by besides the status (the numbers' trunk).
    const REFERENCE_COLUMN: Option<&'static str>;

    fn from_row(row: &Row) -> Result<Self, StoreError>;
    fn id(&self) -> Uuid;
    fn customer_id(&self) -> Uuid;
    fn version(&self) -> i64;
    fn is_released(&self) -> bool;
    fn settings(&self) -> Self::Settings;
    fn audited(&self) -> serde_json::Value;

    /// Refuses settings that name what the customer does not have (a trunk of another).
    fn check(
        transaction: &Transaction<'_>,
        customer_id: Uuid,
        settings: &Self::Settings,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
    /// The settings a create starts with.
    fn new_settings(new: &Self::New) -> &Self::Settings;
    fn insert(
        transaction: &Transaction<'_>,
        id: Uuid,
        customer_id: Uuid,
        new: &Self::New,
    ) -> impl std::future::Future<Output = Result<Self, StoreError>> + Send;
    /// Writes `settings` (version + 1).
    fn write(
        transaction: &Transaction<'_>,
        id: Uuid,
        settings: &Self::Settings,
    ) -> impl std::future::Future<Output = Result<Self, StoreError>> + Send;
    /// Refuses a release that would leave something pointing at a released item.
    fn before_release(
        transaction: &Transaction<'_>,
        item: &Self,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

/// What a create did: a new item (with the answer kept for replays), or the replay of the
/// first request with the same Idempotency-Key.
#[derive(Debug)]
pub enum CreatedItem<T> {
    New(Box<T>, Option<StoredResponse>),
    Replayed(StoredResponse),
}

/// Renders the answer a create keeps for its key's replays.
pub type Render<T> = dyn Fn(&T) -> StoredResponse + Sync;

/// Which of a customer's items to list.
#[derive(Debug, Clone, Default)]
pub struct ItemQuery {
    /// `active`, `suspended` or `released`: as the kind's statuses are written.
    pub status: Option<&'static str>,
    /// Only items whose [`ServiceItem::REFERENCE_COLUMN`] is this id.
    pub reference: Option<Uuid>,
    /// Only items with an id above this one (a decoded cursor).
    pub after: Option<Uuid>,
    pub limit: u32,
}

/// One page of items, by id.
#[derive(Debug)]
pub struct ItemPage<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The repository of one kind of item.
#[derive(Debug, Clone)]
pub struct ServiceStore<T> {
    database: Database,
    /// Who writes through this store: each write is recorded in the audit log under it.
    actor: Option<Actor>,
    kind: std::marker::PhantomData<fn() -> T>,
}

impl<T: ServiceItem> ServiceStore<T> {
    pub fn new(database: Database) -> Self {
        ServiceStore {
            database,
            actor: None,
            kind: std::marker::PhantomData,
        }
    }

    /// This store with its writes audited under `actor` (the API's writes).
    pub fn with_actor(&self, actor: Actor) -> Self {
        ServiceStore {
            database: self.database.clone(),
            actor: Some(actor),
            kind: std::marker::PhantomData,
        }
    }

    /// Creates an item of `customer_id`: `NotFound` when there is no such customer, a
    /// conflict when it is deleted.
    pub async fn create(
        &self,
        customer_id: Uuid,
        new: &T::New,
        idempotency: Option<(&IdempotentRequest, &Render<T>)>,
    ) -> Result<CreatedItem<T>, StoreError> {
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        if let Some((request, _)) = idempotency
            && let Claim::Replay(stored) = idempotency::claim(&transaction, request).await?
        {
            return Ok(CreatedItem::Replayed(stored));
        }
        crate::customers::lock_live(&*transaction, customer_id).await?;
        T::check(&transaction, customer_id, T::new_settings(new)).await?;
        let item = T::insert(&transaction, Uuid::now_v7(), customer_id, new).await?;
        self.audit(&transaction, "create", None, &item).await?;
        let stored = match idempotency {
            Some((request, render)) => {
                let response = render(&item);
                idempotency::complete(&transaction, request, &response).await?;
                Some(response)
            }
            None => None,
        };
        transaction.commit().await?;
        Ok(CreatedItem::New(Box::new(item), stored))
    }

    /// One of the customer's items (`NotFound` for an item of another customer).
    pub async fn get(&self, customer_id: Uuid, id: Uuid) -> Result<T, StoreError> {
        let client = self.database.client().await?;
        find(&**client, customer_id, id, "")
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// A page of the customer's items by id; `NotFound` when the customer does not exist.
    pub async fn list(
        &self,
        customer_id: Uuid,
        query: &ItemQuery,
    ) -> Result<ItemPage<T>, StoreError> {
        let client = self.database.client().await?;
        crate::customers::ensure_exists(&**client, customer_id).await?;
        let limit = i64::from(query.limit.clamp(1, 100));
        let fetch = limit + 1;
        let reference = match T::REFERENCE_COLUMN {
            Some(column) => format!("AND ($3::uuid IS NULL OR {column} = $3)"),
            None => "AND $3::uuid IS NULL".to_owned(),
        };
        let sql = format!(
            "SELECT {} FROM {} WHERE customer_id = $1 AND ($2::text IS NULL OR status = $2) {reference} \
               AND ($4::uuid IS NULL OR id > $4) ORDER BY id LIMIT $5",
            T::COLUMNS,
            T::TABLE,
        );
        let rows = client
            .query_typed(
                &sql,
                &[
                    (&customer_id, Type::UUID),
                    (&query.status, Type::TEXT),
                    (&query.reference, Type::UUID),
                    (&query.after, Type::UUID),
                    (&fetch, Type::INT8),
                ],
            )
            .await?;
        let (items, next_cursor) = page_of(&rows, T::from_row, limit, T::id)?;
        Ok(ItemPage { items, next_cursor })
    }

    /// Applies `change` to the stored settings when `expected_version` (If-Match) is the stored
    /// one or absent; a released item is a conflict; an unchanged one keeps its version.
    pub async fn update(
        &self,
        customer_id: Uuid,
        id: Uuid,
        expected_version: Option<i64>,
        change: impl FnOnce(&T) -> T::Settings,
    ) -> Result<T, StoreError> {
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        let current = lock_expecting::<T>(&transaction, customer_id, id, expected_version).await?;
        if current.is_released() {
            return Err(StoreError::Conflict(
                "it is released: a released item cannot change".into(),
            ));
        }
        let after = change(&current);
        if after == current.settings() {
            return Ok(current);
        }
        T::check(&transaction, customer_id, &after).await?;
        let item = T::write(&transaction, id, &after).await?;
        self.audit(&transaction, "update", Some(&current), &item)
            .await?;
        transaction.commit().await?;
        Ok(item)
    }

    /// Releases the item (final); releasing a released item changes nothing.
    pub async fn release(
        &self,
        customer_id: Uuid,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<T, StoreError> {
        let mut client = self.database.client().await?;
        let transaction = client.transaction().await?;
        let current = lock_expecting::<T>(&transaction, customer_id, id, expected_version).await?;
        if current.is_released() {
            return Ok(current);
        }
        T::before_release(&transaction, &current).await?;
        let sql = format!(
            "UPDATE {} SET status = 'released', released_at = now(), version = version + 1, \
             updated_at = now() WHERE id = $1 RETURNING {}",
            T::TABLE,
            T::COLUMNS,
        );
        let row = transaction
            .query_typed_one(&sql, &[(&id, Type::UUID)])
            .await?;
        let item = T::from_row(&row)?;
        self.audit(&transaction, "release", Some(&current), &item)
            .await?;
        transaction.commit().await?;
        Ok(item)
    }

    async fn audit(
        &self,
        transaction: &Transaction<'_>,
        action: &str,
        before: Option<&T>,
        after: &T,
    ) -> Result<(), StoreError> {
        crate::audit::record_change(
            transaction,
            self.actor.as_ref(),
            T::ENTITY,
            after.id(),
            action,
            before,
            after,
            T::audited,
        )
        .await
    }
}

/// One item of the customer, read on `client` (`lock` is "" or " FOR UPDATE").
async fn find<T: ServiceItem>(
    client: &impl GenericClient,
    customer_id: Uuid,
    id: Uuid,
    lock: &str,
) -> Result<Option<T>, StoreError> {
    let sql = format!(
        "SELECT {} FROM {} WHERE id = $1 AND customer_id = $2{lock}",
        T::COLUMNS,
        T::TABLE
    );
    client
        .query_typed_opt(&sql, &[(&id, Type::UUID), (&customer_id, Type::UUID)])
        .await?
        .map(|row| T::from_row(&row))
        .transpose()
}

/// Locks the item for a write; `VersionMismatch` when it is not at `expected_version`.
async fn lock_expecting<T: ServiceItem>(
    transaction: &Transaction<'_>,
    customer_id: Uuid,
    id: Uuid,
    expected_version: Option<i64>,
) -> Result<T, StoreError> {
    let current = find::<T>(transaction, customer_id, id, " FOR UPDATE")
        .await?
        .ok_or(StoreError::NotFound)?;
    match expected_version {
        Some(expected) if expected != current.version() => Err(StoreError::VersionMismatch {
            current: current.version(),
        }),
        _ => Ok(current),
    }
}

/// A stored row's column that no longer parses.
pub(crate) fn corrupt(table: &str, column: &str) -> StoreError {
    StoreError::Other(format!("a stored row of {table} has an invalid {column}"))
}
