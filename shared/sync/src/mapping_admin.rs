//! Changing the field mapping (DESIGN §7), the use case behind the admin route: a change is
//! checked as part of the whole mapping and against HubSpot's description of the property, then
//! stored as the portal's own row in one transaction with the work it causes: a full push of
//! every linked record when what WARP sends changed, a reconciliation when what HubSpot may
//! write changed.

use tokio_postgres::GenericClient;
use uuid::Uuid;
use warp_domain::sync::{
    FieldMap, FieldMapError, FieldMapping, FieldMappingRow, ObjectType, PropertyFacts,
    PropertyMismatch, WarpField, check_property, check_property_kind,
};
use warp_domain::usage::{UsageFigure, UsageMapError};
use warp_hubspot::{HubSpotClient, HubSpotError, Property};
use warp_store::reconciliation_runs;
use warp_store::sync_config::{self, StoredMapping};
use warp_store::usage_properties::{self, UsagePropertySaved};
use warp_store::{Database, StoreError};

/// Why a mapping change was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum MappingChangeError {
    #[error("unknown field {0:?}")]
    UnknownField(String),
    #[error(transparent)]
    Invalid(FieldMapError),
    #[error(transparent)]
    Property(#[from] PropertyMismatch),
    #[error("reading the property from HubSpot: {0}")]
    HubSpot(#[from] HubSpotError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a stored change did.
#[derive(Debug, Clone)]
pub struct MappingChange {
    pub mapping: StoredMapping,
    /// False when the row already said this (nothing stored, nothing queued).
    pub changed: bool,
    /// Customers whose full push was queued (would be, in a dry run).
    pub resync_queued: u64,
    /// Whether HubSpot may write the field now, so its values must be compared again.
    pub reconciliation_needed: bool,
    /// The reconciliation queued so HubSpot's values are compared under the new rules (none
    /// in a dry run).
    pub reconciliation_id: Option<Uuid>,
}

/// Checks `row` and stores it as `portal_id`'s mapping of its field (a `dry_run` checks and
/// counts everything, then keeps nothing); `changed_by` is the
/// token subject recorded with it.
pub async fn change_mapping(
    database: &Database,
    hubspot: &HubSpotClient,
    portal_id: i64,
    object_type: ObjectType,
    row: FieldMappingRow,
    changed_by: &str,
    dry_run: bool,
) -> Result<MappingChange, MappingChangeError> {
    let field: WarpField = row
        .warp_field
        .parse()
        .ok()
        .filter(|field: &WarpField| field.object_type() == object_type)
        .ok_or_else(|| MappingChangeError::UnknownField(row.warp_field.clone()))?;
    let current = sync_config::field_map(database, portal_id, object_type)
        .await
        .map_err(stored_mapping_error)?;
    let proposed = checked(&current, &row)?;
    // The property is read before the transaction: no lock waits on HubSpot.
    let property = hubspot
        .objects(object_type)
        .get_property(&proposed.hubspot_property)
        .await?;
    check_property(&proposed, property.as_ref().map(facts).as_ref())?;

    let mut client = database.client().await.map_err(StoreError::from)?;
    let transaction = client.transaction().await.map_err(StoreError::from)?;
    let tx: &tokio_postgres::Transaction<'_> = &transaction;
    sync_config::lock_for_change(tx, portal_id, object_type).await?;
    // Read again under the lock: a concurrent change may have taken the property meanwhile.
    let rows = sync_config::effective_rows(tx, portal_id, object_type).await?;
    let current = FieldMap::from_rows(rows.iter().map(|stored| stored.row.clone()))
        .map_err(MappingChangeError::Invalid)?;
    let proposed = checked(&current, &row)?;
    let before = current.get(field);
    if before == Some(&proposed) {
        let mapping = rows
            .into_iter()
            .find(|stored| stored.row.warp_field == row.warp_field)
            .ok_or(StoreError::NotFound)?;
        return Ok(MappingChange {
            mapping,
            changed: false,
            resync_queued: 0,
            reconciliation_needed: false,
            reconciliation_id: None,
        });
    }
    let outbound = before.is_some_and(FieldMapping::is_outbound) || proposed.is_outbound();
    let reconciliation_needed = proposed.is_inbound();
    if dry_run {
        // Checked as a save would be; counted, not written (nothing locked, nothing queued).
        let resync_queued = if outbound {
            sync_config::count_resync(tx, portal_id, object_type).await?
        } else {
            0
        };
        let mapping = rows
            .into_iter()
            .find(|stored| stored.row.warp_field == row.warp_field)
            .map(|mut stored| {
                stored.row = row.clone();
                stored
            })
            .ok_or(StoreError::NotFound)?;
        transaction.rollback().await.map_err(StoreError::from)?;
        return Ok(MappingChange {
            mapping,
            changed: true,
            resync_queued,
            reconciliation_needed,
            reconciliation_id: None,
        });
    }
    let mapping =
        sync_config::save_portal_row(tx, portal_id, object_type, &row, changed_by).await?;
    let resync_queued = if outbound {
        sync_config::enqueue_resync(tx, portal_id, object_type).await?
    } else {
        0
    };
    let reconciliation_id = if reconciliation_needed {
        Some(queue_reconciliation(tx, changed_by).await?)
    } else {
        None
    };
    transaction.commit().await.map_err(StoreError::from)?;
    tracing::info!(
        portal_id,
        %object_type,
        field = field.as_str(),
        resync_queued,
        reconciliation = ?reconciliation_id,
        "field mapping changed"
    );
    Ok(MappingChange {
        mapping,
        changed: true,
        resync_queued,
        reconciliation_needed,
        reconciliation_id,
    })
}

/// The mapping `row` would give `field` inside `current`, checked as a whole.
fn checked(current: &FieldMap, row: &FieldMappingRow) -> Result<FieldMapping, MappingChangeError> {
    let field: WarpField = row
        .warp_field
        .parse()
        .ok()
        .filter(|field: &WarpField| field.object_type() == current.object_type())
        .ok_or_else(|| MappingChangeError::UnknownField(row.warp_field.clone()))?;
    // HubSpot's internal names are short ASCII words; anything else cannot name a property
    // and must not reach a request path.
    let name = &row.hubspot_property;
    if name.is_empty()
        || name.len() > 100
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(MappingChangeError::Invalid(
            FieldMapError::InvalidProperty {
                field,
                property: name.clone(),
            },
        ));
    }
    let proposed = current
        .with_row(row.clone())
        .map_err(MappingChangeError::Invalid)?;
    proposed
        .get(field)
        .cloned()
        .ok_or_else(|| MappingChangeError::UnknownField(row.warp_field.clone()))
}

async fn queue_reconciliation(
    client: &impl GenericClient,
    changed_by: &str,
) -> Result<Uuid, StoreError> {
    let requested_by = format!("mapping change by {changed_by}");
    Ok(reconciliation_runs::request(client, false, &requested_by)
        .await?
        .id)
}

fn stored_mapping_error(error: sync_config::SyncConfigError) -> MappingChangeError {
    match error {
        sync_config::SyncConfigError::Store(store) => MappingChangeError::Store(store),
        sync_config::SyncConfigError::Invalid(invalid) => MappingChangeError::Invalid(invalid),
    }
}

/// Why a usage property change was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum UsagePropertyError {
    #[error(transparent)]
    Invalid(#[from] UsageMapError),
    #[error(transparent)]
    Property(#[from] PropertyMismatch),
    #[error("reading the property from HubSpot: {0}")]
    HubSpot(#[from] HubSpotError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Maps a daily usage figure to a company property (or stops writing it): an enabled figure's
/// property must exist in HubSpot, hold the figure's values and take WARP's writes; the map
/// stays one property per figure. Every company is then due for the next usage push.
pub async fn change_usage_property(
    database: &Database,
    hubspot: &HubSpotClient,
    portal_id: i64,
    figure: UsageFigure,
    hubspot_property: &str,
    enabled: bool,
    changed_by: &str,
) -> Result<UsagePropertySaved, UsagePropertyError> {
    let hubspot_property = hubspot_property.trim();
    // A malformed name is never sent to HubSpot (the whole map is checked when stored).
    warp_domain::usage::check_property_name(hubspot_property)?;
    if enabled {
        let property = hubspot
            .objects(ObjectType::Companies)
            .get_property(hubspot_property)
            .await?;
        check_property_kind(
            figure.as_str(),
            figure.value_kind(),
            true,
            hubspot_property,
            property.as_ref().map(facts).as_ref(),
        )?;
    }
    let saved = usage_properties::save(
        database,
        portal_id,
        figure,
        hubspot_property,
        enabled,
        changed_by,
    )
    .await??;
    if saved.changed {
        tracing::info!(
            portal_id,
            figure = figure.as_str(),
            enabled,
            companies_due = saved.companies_due,
            "usage property mapping changed"
        );
    }
    Ok(saved)
}

fn facts(property: &Property) -> PropertyFacts {
    PropertyFacts {
        name: property.name.clone(),
        property_type: property.property_type.clone(),
        options: property
            .options
            .iter()
            .map(|option| option.value.clone())
            .collect(),
        read_only: !property.accepts_writes(),
    }
}
