//! `deals` and `hubspot_pipeline_stages`: the HubSpot deals WARP mirrors, and what each
//! pipeline stage means. Written by the inbound processor (webhooks) from HubSpot's reads;
//! read by the API. A deal's customer is the one linked to its company, joined on read.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use uuid::Uuid;
use warp_domain::deal::{DealSnapshot, StageOutcome};
use warp_domain::storable::{storable, storable_opt};

use crate::StoreError;
use crate::customers::page_of;

/// A deal as HubSpot holds it, with what its stage means and its primary company.
#[derive(Debug, Clone, PartialEq)]
pub struct MirroredDeal {
    pub snapshot: DealSnapshot,
    pub outcome: StageOutcome,
    pub company_id: Option<String>,
}

/// A stored deal, as the API answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Deal {
    pub id: Uuid,
    pub hubspot_id: String,
    pub name: Option<String>,
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub pipeline_id: Option<String>,
    pub pipeline_label: Option<String>,
    pub stage_id: Option<String>,
    pub stage_label: Option<String>,
    /// What the stage means now (the stored stages), else when the deal was read.
    pub stage_outcome: String,
    pub close_date: Option<DateTime<Utc>>,
    pub owner_id: Option<String>,
    pub probability: Option<Decimal>,
    pub hubspot_company_id: Option<String>,
    pub customer_id: Option<Uuid>,
    pub archived: bool,
    pub merged_into_hubspot_id: Option<String>,
    pub hubspot_modified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What `GET /v1/deals` filters by; every filter optional.
#[derive(Debug, Clone, Default)]
pub struct DealQuery {
    pub customer_id: Option<Uuid>,
    pub pipeline_id: Option<String>,
    pub stage_id: Option<String>,
    pub outcome: Option<StageOutcome>,
    /// Deals deleted or merged in HubSpot are left out unless asked for.
    pub include_archived: bool,
    /// Only deals with an id above this one (a decoded cursor).
    pub after: Option<Uuid>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DealPage {
    pub items: Vec<Deal>,
    pub next_cursor: Option<String>,
}

/// Outside text as stored: any NUL replaced.
fn owned(text: Option<&str>) -> Option<String> {
    storable_opt(text).map(std::borrow::Cow::into_owned)
}

/// Stores each deal unless the stored one is newer (HubSpot's `hs_lastmodifieddate`): a read
/// that raced a later change, or a reordered event, never rolls a deal back. A deal stored as
/// deleted comes back when HubSpot shows it again (restored). Returns the rows written.
pub async fn upsert_many(
    client: &impl GenericClient,
    portal_id: i64,
    deals: &[MirroredDeal],
) -> Result<u64, StoreError> {
    if deals.is_empty() {
        return Ok(0);
    }
    let column = |read: &dyn Fn(&MirroredDeal) -> Option<String>| -> Vec<Option<String>> {
        deals.iter().map(read).collect()
    };
    let hubspot_ids: Vec<String> = deals
        .iter()
        .map(|d| storable(&d.snapshot.hubspot_id).into_owned())
        .collect();
    let names = column(&|d| owned(d.snapshot.name.as_deref()));
    let currencies = column(&|d| owned(d.snapshot.currency.as_deref()));
    let pipelines = column(&|d| owned(d.snapshot.pipeline_id.as_deref()));
    let stages = column(&|d| owned(d.snapshot.stage_id.as_deref()));
    let owners = column(&|d| owned(d.snapshot.owner_id.as_deref()));
    let companies = column(&|d| owned(d.company_id.as_deref()));
    let outcomes: Vec<&str> = deals.iter().map(|d| d.outcome.as_str()).collect();
    let amounts: Vec<Option<Decimal>> = deals.iter().map(|d| d.snapshot.amount).collect();
    let probabilities: Vec<Option<Decimal>> =
        deals.iter().map(|d| d.snapshot.probability).collect();
    let close_dates: Vec<Option<DateTime<Utc>>> =
        deals.iter().map(|d| d.snapshot.close_date).collect();
    let modified: Vec<Option<DateTime<Utc>>> =
        deals.iter().map(|d| d.snapshot.modified_at).collect();
    Ok(client
        .execute_typed(
            "INSERT INTO deals AS d (portal_id, hubspot_id, name, amount, currency, pipeline_id, stage_id, \
               stage_outcome, close_date, owner_id, probability, hubspot_company_id, hubspot_modified_at) \
             SELECT $1, h, n, a, c, p, s, o, cd, ow, pr, co, m \
             FROM unnest($2::text[], $3::text[], $4::numeric[], $5::text[], $6::text[], $7::text[], \
                         $8::text[], $9::timestamptz[], $10::text[], $11::numeric[], $12::text[], \
                         $13::timestamptz[]) AS x(h, n, a, c, p, s, o, cd, ow, pr, co, m) \
             ON CONFLICT (portal_id, hubspot_id) DO UPDATE SET \
               name = excluded.name, amount = excluded.amount, currency = excluded.currency, \
               pipeline_id = excluded.pipeline_id, stage_id = excluded.stage_id, \
               stage_outcome = excluded.stage_outcome, close_date = excluded.close_date, \
               owner_id = excluded.owner_id, probability = excluded.probability, \
               hubspot_company_id = excluded.hubspot_company_id, \
               hubspot_modified_at = excluded.hubspot_modified_at, \
               archived_at = NULL, merged_into_hubspot_id = NULL, updated_at = now() \
             WHERE d.hubspot_modified_at IS NULL OR excluded.hubspot_modified_at IS NULL \
                OR excluded.hubspot_modified_at >= d.hubspot_modified_at \
                OR d.archived_at IS NOT NULL",
            &[
                (&portal_id, Type::INT8),
                (&hubspot_ids, Type::TEXT_ARRAY),
                (&names, Type::TEXT_ARRAY),
                (&amounts, Type::NUMERIC_ARRAY),
                (&currencies, Type::TEXT_ARRAY),
                (&pipelines, Type::TEXT_ARRAY),
                (&stages, Type::TEXT_ARRAY),
                (&outcomes, Type::TEXT_ARRAY),
                (&close_dates, Type::TIMESTAMPTZ_ARRAY),
                (&owners, Type::TEXT_ARRAY),
                (&probabilities, Type::NUMERIC_ARRAY),
                (&companies, Type::TEXT_ARRAY),
                (&modified, Type::TIMESTAMPTZ_ARRAY),
            ],
        )
        .await?)
}

/// Locks the rows of these deals (made, unseen and archived, for a deal never stored: the
/// caller's transaction fills them in before anyone sees them), in id order; returns how many
/// were made. Held from before
/// HubSpot is read until the claim commits, so a processor reading a deal after another always
/// stores after it: a deletion read late cannot bring back a deal, nor a stale read undo a
/// restore. Row locks, not advisory ones, which would pin an RDS Proxy connection.
pub async fn lock_many(
    client: &impl GenericClient,
    portal_id: i64,
    hubspot_ids: &[String],
) -> Result<u64, StoreError> {
    if hubspot_ids.is_empty() {
        return Ok(0);
    }
    let mut ids: Vec<String> = hubspot_ids
        .iter()
        .map(|id| storable(id).into_owned())
        .collect();
    ids.sort();
    ids.dedup();
    // xmax is 0 on a row this statement inserted (not on one it locked by the update).
    let rows = client
        .query_typed(
            "INSERT INTO deals AS d (portal_id, hubspot_id, archived_at) \
             SELECT $1, h, now() FROM unnest($2::text[]) AS x(h) ORDER BY h \
             ON CONFLICT (portal_id, hubspot_id) DO UPDATE SET updated_at = d.updated_at \
             RETURNING (xmax = 0)",
            &[(&portal_id, Type::INT8), (&ids, Type::TEXT_ARRAY)],
        )
        .await?;
    let mut inserted = 0;
    for row in &rows {
        if row.try_get::<_, bool>(0)? {
            inserted += 1;
        }
    }
    Ok(inserted)
}

/// How many of these deals are stored (archived or not): what a dry-run import would find
/// known.
pub async fn count_known(
    client: &impl GenericClient,
    portal_id: i64,
    hubspot_ids: &[String],
) -> Result<i64, StoreError> {
    Ok(client
        .query_typed_one(
            "SELECT count(*) FROM deals WHERE portal_id = $1 AND hubspot_id = ANY($2)",
            &[(&portal_id, Type::INT8), (&hubspot_ids, Type::TEXT_ARRAY)],
        )
        .await?
        .try_get(0)?)
}

/// Marks deals HubSpot no longer shows as archived, each `(HubSpot id, merged into)`; a deal
/// never seen before is recorded as archived, so a late creation event cannot bring it back
/// without HubSpot showing it. Returns the rows written.
pub async fn archive_many(
    client: &impl GenericClient,
    portal_id: i64,
    gone: &[(String, Option<String>)],
) -> Result<u64, StoreError> {
    if gone.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = gone
        .iter()
        .map(|(id, _)| storable(id).into_owned())
        .collect();
    let merged: Vec<Option<String>> = gone
        .iter()
        .map(|(_, into)| owned(into.as_deref()))
        .collect();
    Ok(client
        .execute_typed(
            "INSERT INTO deals AS d (portal_id, hubspot_id, archived_at, merged_into_hubspot_id) \
             SELECT $1, h, now(), m FROM unnest($2::text[], $3::text[]) AS x(h, m) \
             ON CONFLICT (portal_id, hubspot_id) DO UPDATE SET \
               archived_at = coalesce(d.archived_at, now()), \
               merged_into_hubspot_id = coalesce(excluded.merged_into_hubspot_id, d.merged_into_hubspot_id), \
               updated_at = now() \
             WHERE d.archived_at IS NULL \
                OR d.merged_into_hubspot_id IS DISTINCT FROM coalesce(excluded.merged_into_hubspot_id, d.merged_into_hubspot_id)",
            &[
                (&portal_id, Type::INT8),
                (&ids, Type::TEXT_ARRAY),
                (&merged, Type::TEXT_ARRAY),
            ],
        )
        .await?)
}

/// One pipeline stage as HubSpot describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineStage {
    pub pipeline_id: String,
    pub pipeline_label: String,
    pub stage_id: String,
    pub stage_label: String,
    pub display_order: i32,
    pub outcome: StageOutcome,
}

/// The stored stages of a portal's deal pipelines by (pipeline, stage), and when the copy was
/// last refreshed (`None`: never).
pub async fn deal_stages(
    client: &impl GenericClient,
    portal_id: i64,
) -> Result<
    (
        HashMap<(String, String), StageOutcome>,
        Option<DateTime<Utc>>,
    ),
    StoreError,
> {
    let rows = client
        .query_typed(
            "SELECT pipeline_id, stage_id, outcome, refreshed_at FROM hubspot_pipeline_stages \
             WHERE portal_id = $1 AND object_type = 'deals'",
            &[(&portal_id, Type::INT8)],
        )
        .await?;
    let mut stages = HashMap::with_capacity(rows.len());
    let mut refreshed: Option<DateTime<Utc>> = None;
    for row in rows {
        let outcome: String = row.try_get(2)?;
        let outcome = match outcome.as_str() {
            "won" => StageOutcome::Won,
            "lost" => StageOutcome::Lost,
            _ => StageOutcome::Open,
        };
        stages.insert((row.try_get(0)?, row.try_get(1)?), outcome);
        let at: DateTime<Utc> = row.try_get(3)?;
        refreshed = Some(refreshed.map_or(at, |seen| seen.min(at)));
    }
    Ok((stages, refreshed))
}

/// Replaces the portal's deal stages with HubSpot's answer (stages gone from HubSpot go here).
pub async fn replace_deal_stages(
    client: &impl GenericClient,
    portal_id: i64,
    stages: &[PipelineStage],
) -> Result<(), StoreError> {
    let text = |read: &dyn Fn(&PipelineStage) -> &str| -> Vec<String> {
        stages
            .iter()
            .map(|s| storable(read(s)).into_owned())
            .collect()
    };
    let pipeline_ids = text(&|s| s.pipeline_id.as_str());
    let pipeline_labels = text(&|s| s.pipeline_label.as_str());
    let stage_ids = text(&|s| s.stage_id.as_str());
    let stage_labels = text(&|s| s.stage_label.as_str());
    let orders: Vec<i32> = stages.iter().map(|s| s.display_order).collect();
    let outcomes: Vec<&str> = stages.iter().map(|s| s.outcome.as_str()).collect();
    client
        .execute_typed(
            "WITH fresh AS ( \
               SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::text[]) \
                 AS x(pipeline_id, pipeline_label, stage_id, stage_label, display_order, outcome)), \
             gone AS ( \
               DELETE FROM hubspot_pipeline_stages s WHERE s.portal_id = $1 AND s.object_type = 'deals' \
                 AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.pipeline_id = s.pipeline_id AND f.stage_id = s.stage_id)) \
             INSERT INTO hubspot_pipeline_stages (portal_id, object_type, pipeline_id, pipeline_label, stage_id, \
               stage_label, display_order, outcome, refreshed_at) \
             SELECT $1, 'deals', pipeline_id, pipeline_label, stage_id, stage_label, display_order, outcome, now() FROM fresh \
             ON CONFLICT (portal_id, object_type, pipeline_id, stage_id) DO UPDATE SET \
               pipeline_label = excluded.pipeline_label, stage_label = excluded.stage_label, \
               display_order = excluded.display_order, outcome = excluded.outcome, refreshed_at = now()",
            &[
                (&portal_id, Type::INT8),
                (&pipeline_ids, Type::TEXT_ARRAY),
                (&pipeline_labels, Type::TEXT_ARRAY),
                (&stage_ids, Type::TEXT_ARRAY),
                (&stage_labels, Type::TEXT_ARRAY),
                (&orders, Type::INT4_ARRAY),
                (&outcomes, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    Ok(())
}

const DEAL_COLUMNS: &str = "d.id, d.hubspot_id, d.name, d.amount, d.currency, d.pipeline_id, \
    st.pipeline_label, d.stage_id, st.stage_label, coalesce(st.outcome, d.stage_outcome), d.close_date, d.owner_id, \
    d.probability, d.hubspot_company_id, c.id, d.archived_at IS NOT NULL, d.merged_into_hubspot_id, \
    d.hubspot_modified_at, d.created_at, d.updated_at";

/// The joins every deal read shares: its stage's labels and its company's customer.
const DEAL_FROM: &str = "deals d \
    LEFT JOIN hubspot_pipeline_stages st ON st.portal_id = d.portal_id AND st.object_type = 'deals' \
      AND st.pipeline_id = d.pipeline_id AND st.stage_id = d.stage_id \
    LEFT JOIN customers c ON c.external_ids ? 'hubspot_company_id' \
      AND c.external_ids->>'hubspot_company_id' = d.hubspot_company_id";

fn deal_from_row(row: &tokio_postgres::Row) -> Result<Deal, StoreError> {
    Ok(Deal {
        id: row.try_get(0)?,
        hubspot_id: row.try_get(1)?,
        name: row.try_get(2)?,
        amount: row.try_get(3)?,
        currency: row.try_get(4)?,
        pipeline_id: row.try_get(5)?,
        pipeline_label: row.try_get(6)?,
        stage_id: row.try_get(7)?,
        stage_label: row.try_get(8)?,
        stage_outcome: row.try_get(9)?,
        close_date: row.try_get(10)?,
        owner_id: row.try_get(11)?,
        probability: row.try_get(12)?,
        hubspot_company_id: row.try_get(13)?,
        customer_id: row.try_get(14)?,
        archived: row.try_get(15)?,
        merged_into_hubspot_id: row.try_get(16)?,
        hubspot_modified_at: row.try_get(17)?,
        created_at: row.try_get(18)?,
        updated_at: row.try_get(19)?,
    })
}

/// One deal of the portal by WARP id.
pub async fn get(
    client: &impl GenericClient,
    portal_id: i64,
    id: Uuid,
) -> Result<Deal, StoreError> {
    let sql =
        format!("SELECT {DEAL_COLUMNS} FROM {DEAL_FROM} WHERE d.portal_id = $1 AND d.id = $2");
    let row = client
        .query_typed_opt(&sql, &[(&portal_id, Type::INT8), (&id, Type::UUID)])
        .await?
        .ok_or(StoreError::NotFound)?;
    deal_from_row(&row)
}

/// One deal of the portal by HubSpot id, if stored.
pub async fn by_hubspot_id(
    client: &impl GenericClient,
    portal_id: i64,
    hubspot_id: &str,
) -> Result<Option<Deal>, StoreError> {
    let sql = format!(
        "SELECT {DEAL_COLUMNS} FROM {DEAL_FROM} WHERE d.portal_id = $1 AND d.hubspot_id = $2"
    );
    client
        .query_typed_opt(&sql, &[(&portal_id, Type::INT8), (&hubspot_id, Type::TEXT)])
        .await?
        .map(|row| deal_from_row(&row))
        .transpose()
}

/// A page of the portal's deals by id; a customer's list is 404 when the customer does not
/// exist, and empty when it has no company in HubSpot.
pub async fn list(
    client: &impl GenericClient,
    portal_id: i64,
    query: &DealQuery,
) -> Result<DealPage, StoreError> {
    if let Some(customer_id) = query.customer_id {
        crate::customers::ensure_exists(client, customer_id).await?;
    }
    let limit = i64::from(query.limit.clamp(1, 100));
    let fetch = limit + 1;
    let outcome = query.outcome.map(StageOutcome::as_str);
    let sql = format!(
        "SELECT {DEAL_COLUMNS} FROM {DEAL_FROM} \
         WHERE d.portal_id = $1 \
           AND ($2::uuid IS NULL OR c.id = $2) \
           AND ($3::text IS NULL OR d.pipeline_id = $3) \
           AND ($4::text IS NULL OR d.stage_id = $4) \
           AND ($5::text IS NULL OR coalesce(st.outcome, d.stage_outcome) = $5) \
           AND ($6 OR d.archived_at IS NULL) \
           AND ($7::uuid IS NULL OR d.id > $7) \
         ORDER BY d.id LIMIT $8"
    );
    let rows = client
        .query_typed(
            &sql,
            &[
                (&portal_id, Type::INT8),
                (&query.customer_id, Type::UUID),
                (&query.pipeline_id, Type::TEXT),
                (&query.stage_id, Type::TEXT),
                (&outcome, Type::TEXT),
                (&query.include_archived, Type::BOOL),
                (&query.after, Type::UUID),
                (&fetch, Type::INT8),
            ],
        )
        .await?;
    let (items, next_cursor) = page_of(&rows, deal_from_row, limit, |deal| deal.id)?;
    Ok(DealPage { items, next_cursor })
}
