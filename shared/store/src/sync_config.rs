//! The field mapping as data (`hubspot_sync_config`, DESIGN §7): rows per portal and object
//! type, where portal 0 holds the defaults every portal starts from and a portal's own row for
//! a field replaces the default one. [`MappingSource`] is what the engine reads: the mapping
//! loaded once at start and re-read when older than its maximum age, so a change made through
//! the admin API reaches every running process without a deploy.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use warp_domain::storable::storable;
use warp_domain::sync::{FieldMap, FieldMapError, FieldMappingRow, ObjectType};

use crate::{Database, StoreError};

/// The portal id whose rows are every portal's defaults.
pub const DEFAULT_PORTAL: i64 = 0;

/// One effective mapping row of a portal, with where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMapping {
    pub row: FieldMappingRow,
    /// `true` when the portal's own row is in force, `false` for the default row.
    pub portal_specific: bool,
    pub updated_at: DateTime<Utc>,
    /// The subject of the token that made the change; `None` for seeded rows.
    pub updated_by: Option<String>,
}

/// Why the stored mapping cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SyncConfigError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The rows do not form a valid mapping (changed by hand past the admin API's checks).
    #[error("hubspot_sync_config holds an invalid mapping: {0}")]
    Invalid(#[from] FieldMapError),
}

/// The effective rows of `portal_id` for `object_type`, in field order: each field's portal
/// row when there is one, else its default row.
pub async fn effective_rows(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
) -> Result<Vec<StoredMapping>, StoreError> {
    let rows = client
        .query_typed(
            "SELECT DISTINCT ON (warp_field) warp_field, hubspot_property, direction, conflict_rule, \
                    enabled, never_overwrite_with_empty, portal_id <> 0, updated_at, updated_by \
               FROM hubspot_sync_config \
              WHERE object_type = $2 AND portal_id IN (0, $1) \
              ORDER BY warp_field, portal_id DESC",
            &[(&portal_id, Type::INT8), (&object_type.as_str(), Type::TEXT)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredMapping {
                row: FieldMappingRow {
                    warp_field: row.try_get(0)?,
                    hubspot_property: row.try_get(1)?,
                    direction: row.try_get(2)?,
                    conflict_rule: row.try_get(3)?,
                    enabled: row.try_get(4)?,
                    never_overwrite_with_empty: row.try_get(5)?,
                },
                portal_specific: row.try_get(6)?,
                updated_at: row.try_get(7)?,
                updated_by: row.try_get(8)?,
            })
        })
        .collect()
}

/// The company mapping in force for `portal_id`.
pub async fn company_field_map(
    database: &Database,
    portal_id: i64,
) -> Result<FieldMap, SyncConfigError> {
    let client = database.client().await.map_err(StoreError::from)?;
    let rows = effective_rows(&**client, portal_id, ObjectType::Companies).await?;
    Ok(FieldMap::from_rows(rows.into_iter().map(|m| m.row))?)
}

/// Stores `row` as the portal's own mapping of its field (the defaults stay as they are) and
/// locks the portal's rows of `object_type` first, so two concurrent changes are checked one
/// after the other. The caller has validated `row` against the whole mapping.
pub async fn save_portal_row(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    row: &FieldMappingRow,
    updated_by: &str,
) -> Result<StoredMapping, StoreError> {
    let updated_by = storable(updated_by);
    let saved = client
        .query_typed_one(
            "INSERT INTO hubspot_sync_config AS c \
                 (portal_id, object_type, warp_field, hubspot_property, direction, conflict_rule, \
                  enabled, never_overwrite_with_empty, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now()) \
             ON CONFLICT (portal_id, object_type, warp_field) DO UPDATE SET \
                 hubspot_property = EXCLUDED.hubspot_property, direction = EXCLUDED.direction, \
                 conflict_rule = EXCLUDED.conflict_rule, enabled = EXCLUDED.enabled, \
                 never_overwrite_with_empty = EXCLUDED.never_overwrite_with_empty, \
                 updated_by = EXCLUDED.updated_by, updated_at = now() \
             RETURNING updated_at",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&row.warp_field, Type::TEXT),
                (&row.hubspot_property, Type::TEXT),
                (&row.direction, Type::TEXT),
                (&row.conflict_rule, Type::TEXT),
                (&row.enabled, Type::BOOL),
                (&row.never_overwrite_with_empty, Type::BOOL),
                (&updated_by.as_ref(), Type::TEXT),
            ],
        )
        .await?;
    Ok(StoredMapping {
        row: row.clone(),
        portal_specific: true,
        updated_at: saved.try_get(0)?,
        updated_by: Some(updated_by.into_owned()),
    })
}

/// Serialises mapping changes of one portal and object type until the transaction ends.
pub async fn lock_for_change(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
) -> Result<(), StoreError> {
    let key = format!("hubspot_sync_config:{portal_id}:{object_type}");
    client
        .query_typed(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[(&key, Type::TEXT)],
        )
        .await?;
    Ok(())
}

/// Queues a full push of every linked, not deleted customer of `portal_id` (a changed
/// outbound mapping must reach the companies already in HubSpot); returns how many.
pub async fn enqueue_company_resync(
    client: &impl GenericClient,
    portal_id: i64,
) -> Result<u64, StoreError> {
    Ok(client
        .execute_typed(
            "INSERT INTO hubspot_sync_queue (portal_id, customer_id, operation, direction, status, customer_version) \
             SELECT $1, id, 'RESYNC', 'OUTBOUND', 'PENDING', version FROM customers \
              WHERE deleted_at IS NULL AND external_ids ? 'hubspot_company_id'",
            &[(&portal_id, Type::INT8)],
        )
        .await?)
}

/// The company mapping a process syncs by: loaded at start, re-read when older than its
/// maximum age. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct MappingSource {
    inner: Arc<SourceInner>,
}

struct SourceInner {
    loader: Option<Loader>,
    current: RwLock<Arc<FieldMap>>,
    loaded_at: Mutex<Instant>,
    /// One reload at a time; the others keep using the current mapping meanwhile.
    reloading: tokio::sync::Mutex<()>,
}

struct Loader {
    database: Database,
    portal_id: i64,
    max_age: Duration,
}

impl std::fmt::Debug for MappingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappingSource")
            .field("from_database", &self.inner.loader.is_some())
            .finish()
    }
}

impl MappingSource {
    /// A mapping that never changes (benchmarks, and unit tests of pure paths).
    pub fn fixed(map: FieldMap) -> Self {
        Self::with(map, None)
    }

    /// Reads the company mapping of `portal_id` now; fails when it cannot be read or is not
    /// valid, so a process never starts syncing by a mapping it has not seen.
    pub async fn load(
        database: Database,
        portal_id: i64,
        max_age: Duration,
    ) -> Result<Self, SyncConfigError> {
        let map = company_field_map(&database, portal_id).await?;
        Ok(Self::with(
            map,
            Some(Loader {
                database,
                portal_id,
                max_age,
            }),
        ))
    }

    /// [`MappingSource::load`] re-reading the table before every batch: for tests and
    /// one-shot tools, where a change must show at once and the extra query does not matter.
    pub async fn read_every_time(
        database: Database,
        portal_id: i64,
    ) -> Result<Self, SyncConfigError> {
        Self::load(database, portal_id, Duration::ZERO).await
    }

    fn with(map: FieldMap, loader: Option<Loader>) -> Self {
        MappingSource {
            inner: Arc::new(SourceInner {
                loader,
                current: RwLock::new(Arc::new(map)),
                loaded_at: Mutex::new(Instant::now()),
                reloading: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The mapping in use now, without waiting for a reload.
    pub fn current(&self) -> Arc<FieldMap> {
        Arc::clone(
            &self
                .inner
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The mapping to use for the next batch: re-read first when older than the maximum age.
    /// A failed re-read keeps the mapping in use (logged) and is tried again after another
    /// maximum age, so a database blip or a hand-broken row never stops the sync.
    pub async fn fresh(&self) -> Arc<FieldMap> {
        let Some(loader) = &self.inner.loader else {
            return self.current();
        };
        if !self.is_stale(loader.max_age) {
            return self.current();
        }
        let Ok(_reloading) = self.inner.reloading.try_lock() else {
            return self.current();
        };
        if !self.is_stale(loader.max_age) {
            return self.current();
        }
        match company_field_map(&loader.database, loader.portal_id).await {
            Ok(map) => {
                if *self.current() != map {
                    tracing::info!(
                        portal_id = loader.portal_id,
                        "field mapping changed; using the new one"
                    );
                }
                *self
                    .inner
                    .current
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Arc::new(map);
            }
            Err(error) => {
                tracing::error!(portal_id = loader.portal_id, %error, "field mapping not re-read; the one in use stays");
            }
        }
        *self
            .inner
            .loaded_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.current()
    }

    fn is_stale(&self, max_age: Duration) -> bool {
        self.inner
            .loaded_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
            >= max_age
    }
}
