//! Deal events (issue 20): HubSpot → WARP only. Whatever the event says (created, changed,
//! deleted, restored, associated, merged), the deal's current state is read from HubSpot and
//! stored, so duplicated and reordered events all end in the same row, and the stored
//! `hs_lastmodifieddate` keeps an older read from winning over a newer one. One batch read per
//! hundred deals and one association read, per claim, not per event. A deal stored as won
//! starts its onboarding (`warp_sync::onboarding` runs it) in the same transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Duration, Utc};
use warp_domain::deal::{DEAL_PROPERTIES, DealSnapshot, StageOutcome};
use warp_domain::sync::{EventKind, WebhookEvent};
use warp_hubspot::associations::type_ids::DEAL_TO_COMPANY_PRIMARY;
use warp_hubspot::{CrmObject, HubSpotClient, HubSpotId, HubSpotRecord, ReadOptions};
use warp_store::deals::{self, MirroredDeal, PipelineStage};
use warp_store::onboardings;

use super::{
    Claimed, EventStatus, HandleError, InboundProcessor, InboundReport, Marks, Outcome,
    ProcessError, Tx, settle,
};

/// Why an import's page of deals was not stored (nothing of it was).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct DealsNotStored {
    pub reason: String,
    /// Worth trying again later: HubSpot or the database failed for now.
    pub transient: bool,
}

impl From<HandleError> for DealsNotStored {
    fn from(error: HandleError) -> Self {
        let transient = !matches!(error, HandleError::Failed(_));
        DealsNotStored {
            reason: error.to_string(),
            transient,
        }
    }
}

/// How old the stored copy of the deal pipelines may be before it is read again.
const STAGES_MAX_AGE: Duration = Duration::minutes(10);

/// What a claim's deal events ask for: the deals to read, and the deals merged away.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct DealWork {
    pub to_read: BTreeSet<i64>,
    /// (merged away, survivor).
    pub merged: BTreeMap<i64, i64>,
}

impl DealWork {
    pub(super) fn of<'a>(events: impl Iterator<Item = &'a WebhookEvent>) -> Self {
        let mut work = DealWork::default();
        for event in events {
            match event.kind() {
                EventKind::Merge { survivor } => {
                    work.to_read.insert(survivor);
                    for merged in event
                        .merged_object_ids
                        .iter()
                        .chain(std::iter::once(&event.object_id))
                        .filter(|id| **id != survivor)
                    {
                        work.merged.insert(*merged, survivor);
                    }
                }
                EventKind::Other => {}
                _ => {
                    work.to_read.insert(event.object_id);
                }
            }
        }
        // A deal merged away is not read: it is gone into its survivor.
        for merged in work.merged.keys() {
            work.to_read.remove(merged);
        }
        work
    }
}

impl InboundProcessor {
    /// Applies the claim's deal events: reads the deals they name and stores what HubSpot
    /// holds. A failed read leaves every deal event RECEIVED for a retry.
    pub(super) async fn apply_deals(
        &self,
        tx: &mut Tx<'_>,
        events: Claimed,
        report: &mut InboundReport,
        marks: &mut Marks,
    ) -> Result<(), ProcessError> {
        if events.is_empty() {
            return Ok(());
        }
        let Some(client) = &self.hubspot else {
            for (id, _) in events {
                settle(
                    report,
                    marks,
                    id,
                    Outcome::skipped("deals are read from HubSpot, which is not configured"),
                );
            }
            return Ok(());
        };
        let work = DealWork::of(events.iter().map(|(_, event)| event));
        let savepoint = tx.savepoint("deals").await?;
        match self.mirror(&savepoint, client, &work).await {
            Ok(()) => {
                savepoint.commit().await?;
                for (id, _) in events {
                    settle(
                        report,
                        marks,
                        id,
                        Outcome::new(EventStatus::Processed, None),
                    );
                }
            }
            Err(error) => {
                savepoint.rollback().await?;
                match error {
                    HandleError::RetryLater(why) | HandleError::LockConflict(why) => {
                        tracing::warn!(events = events.len(), %why, "deal events left for a retry");
                        report.retry_later += events.len() as u64;
                    }
                    HandleError::Failed(why) => {
                        for (id, _) in events {
                            settle(
                                report,
                                marks,
                                id,
                                Outcome::new(EventStatus::Failed, Some(why.clone())),
                            );
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads the deals, their primary companies and (when needed) the pipelines, and stores
    /// them; deals HubSpot no longer shows are archived.
    async fn mirror(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        client: &HubSpotClient,
        work: &DealWork,
    ) -> Result<(), HandleError> {
        let ids: Vec<String> = work.to_read.iter().map(i64::to_string).collect();
        let touched: Vec<String> = ids
            .iter()
            .cloned()
            .chain(work.merged.keys().map(i64::to_string))
            .collect();
        deals::lock_many(tx, self.portal_id, &touched).await?;
        let options = ReadOptions::properties(DEAL_PROPERTIES);
        let read = client.deals().batch_read(&ids, None, &options).await;
        if let Some(failure) = read.failed_calls.first() {
            return Err(HandleError::from(&failure.error));
        }
        // Only "not found" means gone; any other per-deal error is not an answer about it.
        if let Some(error) = read
            .errors
            .iter()
            .find(|error| error.category != "OBJECT_NOT_FOUND")
        {
            return Err(HandleError::RetryLater(format!(
                "HubSpot could not read a deal: {} {}",
                error.category, error.message
            )));
        }
        let stored = self.store_deals(tx, client, &read.results).await?;
        let mut gone: Vec<(String, Option<String>)> = ids
            .iter()
            .filter(|id| !stored.contains(id.as_str()))
            .map(|id| (id.clone(), None))
            .collect();
        gone.extend(
            work.merged
                .iter()
                .map(|(merged, survivor)| (merged.to_string(), Some(survivor.to_string()))),
        );
        deals::archive_many(tx, self.portal_id, &gone).await?;
        Ok(())
    }

    /// Stores deals as HubSpot answered them (a batch read, or a page of an import's list,
    /// read with [`DEAL_PROPERTIES`]), with their primary companies and what their stages
    /// mean; a deal stored as won starts its onboarding. The caller holds the deals' row locks
    /// ([`deals::lock_many`]). Returns the ids stored.
    async fn store_deals(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        client: &HubSpotClient,
        records: &[HubSpotRecord],
    ) -> Result<BTreeSet<String>, HandleError> {
        let found: HashMap<String, DealSnapshot> = records
            .iter()
            .map(|record| {
                let id = record.id.as_str().to_owned();
                (
                    id.clone(),
                    DealSnapshot::from_properties(&id, &record.properties),
                )
            })
            .collect();
        let companies = primary_companies(client, &found).await?;
        let outcomes = self.stage_outcomes(tx, client, found.values()).await?;

        let mut mirrored: Vec<MirroredDeal> = found
            .into_values()
            .map(|snapshot| {
                let outcome = snapshot
                    .pipeline_id
                    .clone()
                    .zip(snapshot.stage_id.clone())
                    .and_then(|key| outcomes.get(&key).copied())
                    .unwrap_or(StageOutcome::Open);
                let company_id = companies.get(&snapshot.hubspot_id).cloned();
                MirroredDeal {
                    snapshot,
                    outcome,
                    company_id,
                }
            })
            .collect();
        mirrored.sort_by(|a, b| a.snapshot.hubspot_id.cmp(&b.snapshot.hubspot_id));
        deals::upsert_many(tx, self.portal_id, &mirrored).await?;
        // Checked again against the stored rows: a read older than the stored deal was not
        // kept, and only what is stored as won starts an onboarding.
        let won: Vec<String> = mirrored
            .iter()
            .filter(|deal| deal.outcome == StageOutcome::Won)
            .map(|deal| deal.snapshot.hubspot_id.clone())
            .collect();
        let started = onboardings::start_for_won_deals(tx, self.portal_id, &won).await?;
        if started > 0 {
            tracing::info!(started, "won deals queued for onboarding");
        }
        Ok(mirrored
            .into_iter()
            .map(|deal| deal.snapshot.hubspot_id)
            .collect())
    }

    /// Stores a page of deals an import listed (see [`Self::store_deals`]), locking them
    /// first; returns how many were stored for the first time.
    pub async fn import_deals(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        client: &HubSpotClient,
        records: &[HubSpotRecord],
    ) -> Result<u64, DealsNotStored> {
        let ids: Vec<String> = records.iter().map(|r| r.id.as_str().to_owned()).collect();
        let made = deals::lock_many(tx, self.portal_id, &ids)
            .await
            .map_err(HandleError::from)?;
        self.store_deals(tx, client, records).await?;
        Ok(made)
    }

    /// What each (pipeline, stage) means, from the stored copy; read again from HubSpot when
    /// the copy is old or lacks a stage these deals are in. Archived pipelines and stages are
    /// kept: a deal may still be in one, and an unknown stage would be read again every claim.
    async fn stage_outcomes(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        client: &HubSpotClient,
        deals: impl Iterator<Item = &DealSnapshot>,
    ) -> Result<HashMap<(String, String), StageOutcome>, HandleError> {
        let wanted: Vec<(String, String)> = deals
            .filter_map(|deal| deal.pipeline_id.clone().zip(deal.stage_id.clone()))
            .collect();
        let (stored, refreshed) = deals::deal_stages(tx, self.portal_id).await?;
        let fresh = refreshed.is_some_and(|at| Utc::now() - at < STAGES_MAX_AGE);
        if wanted.is_empty() || (fresh && wanted.iter().all(|key| stored.contains_key(key))) {
            return Ok(stored);
        }
        let pipelines = client.pipelines(CrmObject::Deals).await?;
        let stages: Vec<PipelineStage> = pipelines
            .iter()
            .flat_map(|pipeline| {
                pipeline.stages.iter().map(|stage| PipelineStage {
                    pipeline_id: pipeline.id.clone(),
                    pipeline_label: pipeline.label.clone(),
                    stage_id: stage.id.clone(),
                    stage_label: stage.label.clone(),
                    display_order: stage.display_order,
                    outcome: StageOutcome::from_metadata(
                        stage.metadata_text("isClosed").as_deref(),
                        stage.metadata_text("probability").as_deref(),
                    ),
                })
            })
            .collect();
        deals::replace_deal_stages(tx, self.portal_id, &stages).await?;
        Ok(stages
            .into_iter()
            .map(|stage| ((stage.pipeline_id, stage.stage_id), stage.outcome))
            .collect())
    }
}

/// Each deal's primary company, by deal id; a deal with companies but no primary one (an
/// API-made unlabeled association) takes the lowest company id, so the choice is stable.
async fn primary_companies(
    client: &HubSpotClient,
    deals: &HashMap<String, DealSnapshot>,
) -> Result<HashMap<String, String>, HandleError> {
    if deals.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<HubSpotId> = deals
        .keys()
        .filter_map(|id| HubSpotId::parse(id.as_str()).ok())
        .collect();
    let read = client
        .associations(CrmObject::Deals, CrmObject::Companies)
        .batch_read(&ids)
        .await;
    if let Some(failure) = read.failed_calls.first() {
        return Err(HandleError::from(&failure.error));
    }
    Ok(read
        .results
        .into_iter()
        .filter_map(|record| {
            let company = record
                .primary_or_lowest(DEAL_TO_COMPANY_PRIMARY)?
                .to_owned();
            Some((record.from.id.as_str().to_owned(), company))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(subscription: &str, object_id: i64) -> WebhookEvent {
        serde_json::from_value(serde_json::json!({
            "eventId": 1, "subscriptionId": 1, "portalId": 1, "occurredAt": 1,
            "subscriptionType": subscription, "attemptNumber": 0, "objectId": object_id,
        }))
        .unwrap()
    }

    #[test]
    fn every_event_reads_its_deal_and_a_merge_reads_only_the_survivor() {
        let mut merge = event("deal.merge", 3);
        merge.primary_object_id = Some(3);
        merge.new_object_id = Some(3);
        merge.merged_object_ids = vec![4, 5];
        let events = [
            event("deal.creation", 1),
            event("deal.deletion", 2),
            event("deal.propertyChange", 1),
            event("deal.creation", 4),
            merge,
        ];
        let work = DealWork::of(events.iter());
        assert_eq!(work.to_read, BTreeSet::from([1, 2, 3]));
        assert_eq!(work.merged, BTreeMap::from([(4, 3), (5, 3)]));
    }
}
