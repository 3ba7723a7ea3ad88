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
    field_map(database, portal_id, ObjectType::Companies).await
}

/// The mapping of `object_type` in force for `portal_id`.
pub async fn field_map(
    database: &Database,
    portal_id: i64,
    object_type: ObjectType,
) -> Result<FieldMap, SyncConfigError> {
    let client = database.client().await.map_err(StoreError::from)?;
    let rows = effective_rows(&**client, portal_id, object_type).await?;
    Ok(FieldMap::from_rows(rows.into_iter().map(|m| m.row))?)
}

/// Every object type's mapping in force for `portal_id`.
async fn field_maps(database: &Database, portal_id: i64) -> Result<FieldMaps, SyncConfigError> {
    let mut maps = FieldMaps::new();
    for object_type in ObjectType::ALL {
        maps.insert(
            object_type,
            Arc::new(field_map(database, portal_id, object_type).await?),
        );
    }
    Ok(maps)
}

type FieldMaps = std::collections::BTreeMap<ObjectType, Arc<FieldMap>>;

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

/// Queues a full push (RESYNC) of every linked record of `object_type` (every customer with
/// a company, every user with a contact) in `portal_id`; returns how many.
pub async fn enqueue_resync(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
) -> Result<u64, StoreError> {
    let sql = format!(
        "INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, direction, status, local_version) \
         SELECT $1, $2, r.id, 'RESYNC', 'OUTBOUND', 'PENDING', r.version FROM ({}) r",
        linked_records(object_type)
    );
    Ok(client
        .execute_typed(
            &sql,
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
            ],
        )
        .await?)
}

/// How many records [`enqueue_resync`] would queue, queuing nothing (a dry run's answer).
pub async fn count_resync(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
) -> Result<u64, StoreError> {
    let sql = format!(
        "SELECT count(*) FROM ({}) r WHERE $2::text IS NOT NULL",
        linked_records(object_type)
    );
    let row = client
        .query_typed_one(
            &sql,
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
            ],
        )
        .await?;
    let count: i64 = row.try_get(0)?;
    Ok(u64::try_from(count).unwrap_or_default())
}

/// The linked records of an object type a full push covers (`id`, `version`; `$1` the portal).
fn linked_records(object_type: ObjectType) -> &'static str {
    match object_type {
        ObjectType::Companies => {
            "SELECT id, version FROM customers \
              WHERE deleted_at IS NULL AND external_ids ? 'hubspot_company_id' AND $1::int8 IS NOT NULL"
        }
        ObjectType::Contacts => {
            "SELECT u.id, u.version FROM users u JOIN hubspot_links l \
               ON l.local_id = u.id AND l.object_type = 'contacts' AND l.portal_id = $1"
        }
    }
}

/// The mappings a process syncs by, one per object type: loaded at start, re-read when older
/// than their maximum age. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct MappingSource {
    inner: Arc<SourceInner>,
}

struct SourceInner {
    loader: Option<Loader>,
    current: RwLock<Arc<FieldMaps>>,
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
    /// A mapping that never changes (benchmarks, and unit tests of pure paths); the other
    /// object types keep their seeded defaults.
    pub fn fixed(map: FieldMap) -> Self {
        let mut maps: FieldMaps = ObjectType::ALL
            .into_iter()
            .map(|object_type| (object_type, Arc::new(FieldMap::default_for(object_type))))
            .collect();
        maps.insert(map.object_type(), Arc::new(map));
        Self::with(maps, None)
    }

    /// Reads every mapping of `portal_id` now; fails when one cannot be read or is not valid,
    /// so a process never starts syncing by a mapping it has not seen.
    pub async fn load(
        database: Database,
        portal_id: i64,
        max_age: Duration,
    ) -> Result<Self, SyncConfigError> {
        let maps = field_maps(&database, portal_id).await?;
        Ok(Self::with(
            maps,
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

    fn with(maps: FieldMaps, loader: Option<Loader>) -> Self {
        MappingSource {
            inner: Arc::new(SourceInner {
                loader,
                current: RwLock::new(Arc::new(maps)),
                loaded_at: Mutex::new(Instant::now()),
                reloading: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The company mapping in use now, without waiting for a reload.
    pub fn current(&self) -> Arc<FieldMap> {
        self.current_for(ObjectType::Companies)
    }

    /// The mapping of `object_type` in use now, without waiting for a reload.
    pub fn current_for(&self, object_type: ObjectType) -> Arc<FieldMap> {
        let maps = self.current_maps();
        maps.get(&object_type)
            .cloned()
            .unwrap_or_else(|| Arc::new(FieldMap::default_for(object_type)))
    }

    fn current_maps(&self) -> Arc<FieldMaps> {
        Arc::clone(
            &self
                .inner
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The company mapping to use for the next batch (see [`MappingSource::fresh_for`]).
    pub async fn fresh(&self) -> Arc<FieldMap> {
        self.fresh_for(ObjectType::Companies).await
    }

    /// The mapping of `object_type` to use for the next batch: re-read first when older than
    /// the maximum age. A failed re-read keeps the mapping in use (logged) and is tried again
    /// after another maximum age, so a database blip or a hand-broken row never stops the sync.
    pub async fn fresh_for(&self, object_type: ObjectType) -> Arc<FieldMap> {
        self.reload_if_stale().await;
        self.current_for(object_type)
    }

    async fn reload_if_stale(&self) {
        let Some(loader) = &self.inner.loader else {
            return;
        };
        if !self.is_stale(loader.max_age) {
            return;
        }
        let Ok(_reloading) = self.inner.reloading.try_lock() else {
            return;
        };
        if !self.is_stale(loader.max_age) {
            return;
        }
        match field_maps(&loader.database, loader.portal_id).await {
            Ok(map) => {
                if *self.current_maps() != map {
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
