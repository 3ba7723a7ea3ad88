//! Which company property carries each daily usage figure (migration V36): portal 0's rows are
//! the defaults, a portal's own row replaces its figure's. A change is checked as a whole map
//! and makes every company due for the next usage push, under the new names.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use warp_domain::usage::{UsageFigure, UsageMapError, UsagePropertyMap};

use crate::{Database, StoreError};

/// One figure's row as in force for a portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUsageProperty {
    pub figure: UsageFigure,
    pub hubspot_property: String,
    pub enabled: bool,
    /// The portal's own row (else the default).
    pub portal_specific: bool,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

/// What a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePropertySaved {
    pub property: StoredUsageProperty,
    /// False when the row already said this (nothing stored).
    pub changed: bool,
    /// Companies whose figures the next push writes again, under the new map.
    pub companies_due: u64,
}

/// Every figure's row in force for `portal_id`, in the figures' order.
pub async fn rows(
    client: &impl GenericClient,
    portal_id: i64,
) -> Result<Vec<StoredUsageProperty>, StoreError> {
    let rows = client
        .query_typed(
            "SELECT DISTINCT ON (figure) figure, hubspot_property, enabled, portal_id <> 0, \
               updated_at, updated_by \
             FROM usage_property_map WHERE portal_id IN (0, $1) \
             ORDER BY figure, portal_id DESC",
            &[(&portal_id, Type::INT8)],
        )
        .await?;
    let mut stored = rows
        .iter()
        .map(|row| {
            let figure: String = row.try_get(0)?;
            Ok(StoredUsageProperty {
                figure: UsageFigure::parse(&figure)
                    .map_err(|_| StoreError::Other(format!("unknown usage figure {figure:?}")))?,
                hubspot_property: row.try_get(1)?,
                enabled: row.try_get(2)?,
                portal_specific: row.try_get(3)?,
                updated_at: row.try_get(4)?,
                updated_by: row.try_get(5)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    stored.sort_by_key(|row| UsageFigure::ALL.iter().position(|f| *f == row.figure));
    Ok(stored)
}

/// The map in force for `portal_id`; rows broken by hand are an error (the push does not write
/// under a map it cannot trust).
pub async fn map(database: &Database, portal_id: i64) -> Result<UsagePropertyMap, StoreError> {
    let client = database.client().await?;
    let rows = rows(&**client, portal_id).await?;
    map_of(&rows).map_err(|error| StoreError::Other(format!("usage_property_map: {error}")))
}

fn map_of(rows: &[StoredUsageProperty]) -> Result<UsagePropertyMap, UsageMapError> {
    UsagePropertyMap::with_rows(
        rows.iter()
            .map(|row| (row.figure, row.hubspot_property.clone(), row.enabled)),
    )
}

/// Stores `portal_id`'s row for `figure` when the whole map stays valid; every company is then
/// due for the next push. `Ok(Err(_))`: refused, nothing stored.
pub async fn save(
    database: &Database,
    portal_id: i64,
    figure: UsageFigure,
    hubspot_property: &str,
    enabled: bool,
    changed_by: &str,
) -> Result<Result<UsagePropertySaved, UsageMapError>, StoreError> {
    let mut client = database.client().await?;
    let transaction = client.transaction().await?;
    // Two changes at once are checked one after the other (one property per figure).
    transaction
        .query_typed(
            "SELECT 1 FROM usage_property_map WHERE portal_id = 0 FOR UPDATE",
            &[],
        )
        .await?;
    let current = rows(&*transaction, portal_id).await?;
    let mut proposed: Vec<(UsageFigure, String, bool)> = current
        .iter()
        .map(|row| (row.figure, row.hubspot_property.clone(), row.enabled))
        .collect();
    for row in proposed.iter_mut().filter(|row| row.0 == figure) {
        row.1 = hubspot_property.to_owned();
        row.2 = enabled;
    }
    if let Err(refused) = UsagePropertyMap::with_rows(proposed) {
        return Ok(Err(refused));
    }
    let before = current
        .iter()
        .find(|row| row.figure == figure)
        .ok_or(StoreError::NotFound)?;
    if before.hubspot_property == hubspot_property && before.enabled == enabled {
        return Ok(Ok(UsagePropertySaved {
            property: before.clone(),
            changed: false,
            companies_due: 0,
        }));
    }
    let figure_text = figure.as_str();
    // A token's subject is outside text: stored as every other (a NUL replaced).
    let changed_by = warp_domain::storable::storable(changed_by);
    let changed_by: &str = &changed_by;
    let row = transaction
        .query_typed_one(
            "INSERT INTO usage_property_map (portal_id, figure, hubspot_property, enabled, updated_by) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (portal_id, figure) DO UPDATE SET hubspot_property = $3, enabled = $4, \
               updated_at = now(), updated_by = $5 \
             RETURNING updated_at",
            &[
                (&portal_id, Type::INT8),
                (&figure_text, Type::TEXT),
                (&hubspot_property, Type::TEXT),
                (&enabled, Type::BOOL),
                (&changed_by, Type::TEXT),
            ],
        )
        .await?;
    // What was pushed says nothing of the new property: every company is written again.
    let companies_due = transaction
        .execute_typed("DELETE FROM usage_pushed", &[])
        .await?;
    transaction.commit().await?;
    Ok(Ok(UsagePropertySaved {
        property: StoredUsageProperty {
            figure,
            hubspot_property: hubspot_property.to_owned(),
            enabled,
            portal_specific: true,
            updated_at: row.try_get(0)?,
            updated_by: Some(changed_by.to_owned()),
        },
        changed: true,
        companies_due,
    }))
}
