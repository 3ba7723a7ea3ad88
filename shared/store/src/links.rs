//! `hubspot_links` (migration V8): which HubSpot record a WARP record is, per portal and object
//! type, and the merge lineage that keeps a merged-away HubSpot id pointing at the survivor.
//! A customer's company link lives in `customers.external_ids` (it is part of the customer
//! API); every other object type links here.

use std::collections::HashMap;

use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::sync::ObjectType;

use crate::StoreError;

/// One record's link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub hubspot_id: String,
    /// The HubSpot record it was last associated with as its primary parent.
    pub parent_hubspot_id: Option<String>,
}

/// The links of these records of `object_type` in `portal_id` (unlinked ones are absent).
pub async fn load(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_ids: &[Uuid],
) -> Result<HashMap<Uuid, Link>, StoreError> {
    let ids = local_ids.to_vec();
    client
        .query_typed(
            "SELECT local_id, hubspot_id, parent_hubspot_id FROM hubspot_links \
             WHERE portal_id = $1 AND object_type = $2 AND local_id = ANY($3) AND unlinked_at IS NULL",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&ids, Type::UUID_ARRAY),
            ],
        )
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                Link {
                    hubspot_id: row.try_get(1)?,
                    parent_hubspot_id: row.try_get(2)?,
                },
            ))
        })
        .collect()
}

/// The records of `object_type` linked to these HubSpot ids (exactly; no lineage), as
/// (HubSpot id, local id).
pub async fn linked_to(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    hubspot_ids: &[String],
) -> Result<Vec<(String, Uuid)>, StoreError> {
    if hubspot_ids.is_empty() {
        return Ok(Vec::new());
    }
    client
        .query_typed(
            "SELECT hubspot_id, local_id FROM hubspot_links \
             WHERE portal_id = $1 AND object_type = $2 AND hubspot_id = ANY($3) AND unlinked_at IS NULL",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&hubspot_ids, Type::TEXT_ARRAY),
            ],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Records the parent each of these linked records is now associated with.
pub async fn set_parents(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    parents: &[(Uuid, String)],
) -> Result<(), StoreError> {
    if parents.is_empty() {
        return Ok(());
    }
    let (locals, parent_ids): (Vec<Uuid>, Vec<String>) = parents.iter().cloned().unzip();
    client
        .execute_typed(
            "UPDATE hubspot_links l SET parent_hubspot_id = u.parent, updated_at = now() \
             FROM unnest($3::uuid[], $4::text[]) AS u(local_id, parent) \
             WHERE l.portal_id = $1 AND l.object_type = $2 AND l.local_id = u.local_id",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&locals, Type::UUID_ARRAY),
                (&parent_ids, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    Ok(())
}

/// The WARP record linked to a HubSpot id, following merge lineage: an id HubSpot merged into
/// another finds the record linked to the survivor.
pub async fn local_of(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    hubspot_id: &str,
) -> Result<Option<Uuid>, StoreError> {
    let row = client
        .query_typed_opt(
            "SELECT l.local_id FROM hubspot_links l \
             WHERE l.portal_id = $1 AND l.object_type = $2 AND l.unlinked_at IS NULL AND l.hubspot_id = coalesce( \
               (SELECT m.into_hubspot_id FROM hubspot_link_merges m \
                 WHERE m.portal_id = $1 AND m.object_type = $2 AND m.merged_hubspot_id = $3), $3)",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&hubspot_id, Type::TEXT),
            ],
        )
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// The WARP record linked to exactly this HubSpot id (no lineage); with `unlinked`, also the
/// record it was linked to before HubSpot deleted it.
pub async fn local_of_exact(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    hubspot_id: &str,
    unlinked: bool,
) -> Result<Option<Uuid>, StoreError> {
    let row = client
        .query_typed_opt(
            "SELECT local_id FROM hubspot_links \
             WHERE portal_id = $1 AND object_type = $2 AND hubspot_id = $3 \
               AND ($4 OR unlinked_at IS NULL)",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&hubspot_id, Type::TEXT),
                (&unlinked, Type::BOOL),
            ],
        )
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// Links records to HubSpot ids (a new link, or a record now held by another HubSpot id).
/// Returns the links not stored because another record already holds that HubSpot id (checked
/// first, so one clash fails alone and the caller's transaction stays usable).
pub async fn link(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    links: &[(Uuid, String)],
) -> Result<Vec<(Uuid, String)>, StoreError> {
    if links.is_empty() {
        return Ok(Vec::new());
    }
    let hubspot_ids: Vec<String> = links.iter().map(|(_, id)| id.clone()).collect();
    let holders: HashMap<String, Uuid> = client
        .query_typed(
            "SELECT hubspot_id, local_id FROM hubspot_links \
             WHERE portal_id = $1 AND object_type = $2 AND hubspot_id = ANY($3) AND unlinked_at IS NULL",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&hubspot_ids, Type::TEXT_ARRAY),
            ],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, StoreError>>()?;
    // A record HubSpot deleted no longer holds its id.
    client
        .execute_typed(
            "DELETE FROM hubspot_links WHERE portal_id = $1 AND object_type = $2 \
             AND hubspot_id = ANY($3) AND unlinked_at IS NOT NULL",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&hubspot_ids, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    let (clashes, free): (Vec<_>, Vec<_>) = links
        .iter()
        .cloned()
        .partition(|(local, hubspot)| holders.get(hubspot).is_some_and(|holder| holder != local));
    if !free.is_empty() {
        let (locals, hubspot_ids): (Vec<Uuid>, Vec<String>) = free.into_iter().unzip();
        client
            .execute_typed(
                "INSERT INTO hubspot_links AS l (portal_id, object_type, local_id, hubspot_id) \
                 SELECT $1, $2, u.local_id, u.hubspot_id FROM unnest($3::uuid[], $4::text[]) AS u(local_id, hubspot_id) \
                 ON CONFLICT (portal_id, object_type, local_id) DO UPDATE \
                   SET hubspot_id = excluded.hubspot_id, parent_hubspot_id = NULL, unlinked_at = NULL, \
                       updated_at = now() \
                 WHERE l.hubspot_id IS DISTINCT FROM excluded.hubspot_id OR l.unlinked_at IS NOT NULL",
                &[
                    (&portal_id, Type::INT8),
                    (&object_type.as_str(), Type::TEXT),
                    (&locals, Type::UUID_ARRAY),
                    (&hubspot_ids, Type::TEXT_ARRAY),
                ],
            )
            .await?;
    }
    Ok(clashes)
}

/// Records that HubSpot merged `merged` into `into` (the lineage row): [`local_of`] then finds
/// the survivor's record from the merged-away id. Moving a record's link is the caller's.
pub async fn record_merge(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    merged: &str,
    into: &str,
) -> Result<(), StoreError> {
    client
        .execute_typed(
            "INSERT INTO hubspot_link_merges (portal_id, object_type, merged_hubspot_id, into_hubspot_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (portal_id, object_type, merged_hubspot_id) \
             DO UPDATE SET into_hubspot_id = excluded.into_hubspot_id, merged_at = now()",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&merged, Type::TEXT),
                (&into, Type::TEXT),
            ],
        )
        .await?;
    Ok(())
}

/// Marks the link of one record unlinked (its HubSpot record is gone); which record it was
/// stays known to [`local_of_exact`] with `unlinked`.
pub async fn unlink(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_id: Uuid,
) -> Result<Option<String>, StoreError> {
    let row = client
        .query_typed_opt(
            "UPDATE hubspot_links SET unlinked_at = now(), parent_hubspot_id = NULL, updated_at = now() \
             WHERE portal_id = $1 AND object_type = $2 AND local_id = $3 AND unlinked_at IS NULL \
             RETURNING hubspot_id",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&local_id, Type::UUID),
            ],
        )
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// Removes the link of `local_id` to `hubspot_id` altogether (a person unlinked them: unlike
/// [`unlink`], which record it was is not kept for a restore). False when it was not linked so.
pub async fn remove(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_id: Uuid,
    hubspot_id: &str,
) -> Result<bool, StoreError> {
    let removed = client
        .execute_typed(
            "DELETE FROM hubspot_links WHERE portal_id = $1 AND object_type = $2 AND local_id = $3 \
             AND hubspot_id = $4 AND unlinked_at IS NULL",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&local_id, Type::UUID),
                (&hubspot_id, Type::TEXT),
            ],
        )
        .await?;
    Ok(removed == 1)
}

/// Forgets the parent a record was last associated with, so its next push associates again.
pub async fn forget_parent(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_id: Uuid,
) -> Result<(), StoreError> {
    client
        .execute_typed(
            "UPDATE hubspot_links SET parent_hubspot_id = NULL, updated_at = now() \
             WHERE portal_id = $1 AND object_type = $2 AND local_id = $3",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&local_id, Type::UUID),
            ],
        )
        .await?;
    Ok(())
}

/// Records that the person behind a record asked HubSpot to delete their data: the record is
/// never sent to that portal again.
pub async fn record_privacy_deletion(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_id: Uuid,
    hubspot_id: &str,
) -> Result<(), StoreError> {
    client
        .execute_typed(
            "INSERT INTO hubspot_privacy_deletions (portal_id, object_type, local_id, hubspot_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&local_id, Type::UUID),
                (&hubspot_id, Type::TEXT),
            ],
        )
        .await?;
    Ok(())
}

/// Which of these records were privacy-deleted in HubSpot.
pub async fn privacy_deleted(
    client: &impl GenericClient,
    portal_id: i64,
    object_type: ObjectType,
    local_ids: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    let ids = local_ids.to_vec();
    client
        .query_typed(
            "SELECT local_id FROM hubspot_privacy_deletions \
             WHERE portal_id = $1 AND object_type = $2 AND local_id = ANY($3)",
            &[
                (&portal_id, Type::INT8),
                (&object_type.as_str(), Type::TEXT),
                (&ids, Type::UUID_ARRAY),
            ],
        )
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}
