//! The incremental reconciliation: the daily run compares only the records that changed since
//! the last successful run, on either side, with the same comparison and repairs as the full
//! run ([`crate::engine`]); a full run is kept at least weekly.
//!
//! Per object type (companies, then contacts):
//! 1. **HubSpot's changes.** A search for records whose last-modified time
//!    (`hs_lastmodifieddate`; `lastmodifieddate` for contacts) is at or after `since`, mapped
//!    properties only, 200 a page, walked past the 10,000-result cap by id windows. Each page
//!    goes through the full run's page comparison.
//! 2. **WARP's changes.** The linked WARP records updated since `since` whose HubSpot record the
//!    search did not return are read by id, 100 a batch read, and compared the same way.
//!
//! What it leaves to the weekly full run, by design: a HubSpot record deleted or merged away
//! whose webhook and journal events were both lost (a search does not return what is gone),
//! and a WARP record never linked (the outbound engine creates those itself). `since` is the
//! start of the last successful run less [`LOOK_BACK_MARGIN`], which covers HubSpot's search
//! index lag and clock skew between the two systems.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use uuid::Uuid;
use warp_domain::sync::ObjectType;
use warp_hubspot::{Filter, FilterGroup, Operator, ReadOptions, SearchRequest};
use warp_store::StoreError;
use warp_store::reconciliation_runs::{self as runs, LastSucceeded};

use crate::engine::{Heartbeat, Pair, Phase, ProgressFn, ReconcileError, Reconciler, Seen};
use crate::report::DriftReport;

/// Search results per page (HubSpot's maximum for search).
pub const SEARCH_PAGE: u32 = 200;
/// Records per batch read of WARP's changed records.
pub const BATCH_READ: usize = 100;
/// How far before the last successful run's start an incremental run looks back.
pub const LOOK_BACK_MARGIN: Duration = Duration::from_secs(15 * 60);
/// A full run at least this often (the daily schedule runs incremental ones in between).
pub const FULL_RUN_EVERY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// What a scheduled run compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    Full,
    Incremental { since: DateTime<Utc> },
}

/// The scheduled run's mode: full when no full run succeeded in [`FULL_RUN_EVERY`] (or ever),
/// else incremental from the last successful run's start less [`LOOK_BACK_MARGIN`]. Pure.
pub fn scheduled_mode(last: LastSucceeded, now: DateTime<Utc>) -> RunMode {
    let every = chrono::Duration::from_std(FULL_RUN_EVERY).unwrap_or(chrono::Duration::MAX);
    let margin = chrono::Duration::from_std(LOOK_BACK_MARGIN).unwrap_or(chrono::Duration::zero());
    match (last.full, last.any) {
        (Some(full), Some(any)) if now - full < every => RunMode::Incremental {
            since: any.max(full) - margin,
        },
        _ => RunMode::Full,
    }
}

/// The property HubSpot keeps a record's last change time in (contacts kept the old name).
fn last_modified_property(object_type: ObjectType) -> &'static str {
    match object_type {
        ObjectType::Companies => "hs_lastmodifieddate",
        ObjectType::Contacts => "lastmodifieddate",
    }
}

impl Reconciler {
    /// The mode the schedule should run now, from the runs recorded.
    pub async fn scheduled_mode(&self) -> Result<RunMode, StoreError> {
        let client = self.database.client().await?;
        let last = runs::last_succeeded(&**client, self.portal_id).await?;
        Ok(scheduled_mode(last, Utc::now()))
    }

    /// An incremental run: the records of either side changed since `since`.
    pub async fn run_incremental(
        &self,
        run_id: Option<Uuid>,
        dry_run: bool,
        since: DateTime<Utc>,
        progress: Option<&ProgressFn>,
    ) -> Result<DriftReport, ReconcileError> {
        let mut report = DriftReport::new(dry_run);
        report.changed_since = Some(since);
        let mut heartbeat = Heartbeat::new(run_id);
        for object_type in ObjectType::ALL {
            self.map.fresh_for(object_type).await;
            let mut seen = Seen::default();
            self.changed_in_hubspot(object_type, since, &mut seen, &mut report, &mut heartbeat)
                .await?;
            self.changed_in_warp(object_type, since, &mut seen, &mut report, &mut heartbeat)
                .await?;
            let phase = match object_type {
                ObjectType::Companies => Phase::Companies,
                ObjectType::Contacts => Phase::Contacts,
            };
            self.progress(phase, &report, progress);
        }
        tracing::info!(
            dry_run,
            %since,
            companies = report.companies_checked,
            contacts = report.of(ObjectType::Contacts).hubspot_checked,
            requests = report.hubspot_requests,
            drift_found = report.drift_found,
            drift_fixed = report.drift_fixed,
            errors = report.errors,
            "incremental reconciliation finished"
        );
        Ok(report)
    }

    /// Pass 1: HubSpot's records modified since `since`.
    async fn changed_in_hubspot(
        &self,
        object_type: ObjectType,
        since: DateTime<Utc>,
        seen: &mut Seen,
        report: &mut DriftReport,
        heartbeat: &mut Heartbeat,
    ) -> Result<(), ReconcileError> {
        let request = SearchRequest {
            filter_groups: vec![FilterGroup {
                filters: vec![Filter::new(
                    last_modified_property(object_type),
                    Operator::Gte,
                    since.timestamp_millis().to_string(),
                )],
            }],
            properties: self.mapped_properties(object_type),
            limit: SEARCH_PAGE,
            ..SearchRequest::default()
        };
        let pages = self.reader.objects(object_type).search_all(request)?;
        futures::pin_mut!(pages);
        let mut pending: Vec<Pair> = Vec::new();
        while let Some(page) = pages.next().await {
            report.hubspot_requests += 1;
            let drifted = self.hubspot_page(object_type, page?, seen, report).await?;
            self.compare_when_batch_full(object_type, &mut pending, drifted, report)
                .await?;
            heartbeat.beat(&self.database, report).await;
        }
        self.compare_pairs(object_type, pending, report, &HashMap::new())
            .await
    }

    /// Pass 2: WARP's linked records changed since `since` that pass 1 did not see.
    async fn changed_in_warp(
        &self,
        object_type: ObjectType,
        since: DateTime<Utc>,
        seen: &mut Seen,
        report: &mut DriftReport,
        heartbeat: &mut Heartbeat,
    ) -> Result<(), ReconcileError> {
        let changed = {
            let client = self.database.client().await.map_err(StoreError::from)?;
            runs::changed_links_since(&**client, self.portal_id, object_type, since).await?
        };
        let unseen: Vec<String> = changed
            .into_iter()
            .filter(|id| {
                id.parse::<u64>()
                    .is_ok_and(|parsed| !seen.records.contains(&parsed))
            })
            .collect();
        let options = ReadOptions {
            properties: self.mapped_properties(object_type),
            ..ReadOptions::default()
        };
        let mut pending: Vec<Pair> = Vec::new();
        for chunk in unseen.chunks(BATCH_READ) {
            let read = self
                .reader
                .objects(object_type)
                .batch_read(chunk, None, &options)
                .await;
            report.hubspot_requests += read.calls as u64;
            for failed in &read.failed_calls {
                report.error(format!(
                    "reading {} changed in WARP: {}",
                    object_type.as_str(),
                    failed.error
                ));
            }
            let drifted = self
                .hubspot_page(object_type, read.results, seen, report)
                .await?;
            self.compare_when_batch_full(object_type, &mut pending, drifted, report)
                .await?;
            heartbeat.beat(&self.database, report).await;
        }
        self.compare_pairs(object_type, pending, report, &HashMap::new())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours_ago: i64) -> Option<DateTime<Utc>> {
        Some(
            DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap()
                - chrono::Duration::hours(hours_ago),
        )
    }

    #[test]
    fn a_full_run_weekly_and_incremental_runs_from_the_last_success_in_between() {
        let now = at(0).unwrap();
        let margin = chrono::Duration::from_std(LOOK_BACK_MARGIN).unwrap();
        assert_eq!(scheduled_mode(LastSucceeded::default(), now), RunMode::Full);
        // The last full run a day ago, an incremental one since: from the latest, less margin.
        assert_eq!(
            scheduled_mode(
                LastSucceeded {
                    any: at(2),
                    full: at(24)
                },
                now
            ),
            RunMode::Incremental {
                since: at(2).unwrap() - margin
            }
        );
        assert_eq!(
            scheduled_mode(
                LastSucceeded {
                    any: at(24),
                    full: at(24)
                },
                now
            ),
            RunMode::Incremental {
                since: at(24).unwrap() - margin
            }
        );
        // A week since the last full run: full again, however recent the incremental ones.
        assert_eq!(
            scheduled_mode(
                LastSucceeded {
                    any: at(1),
                    full: at(7 * 24)
                },
                now
            ),
            RunMode::Full
        );
        assert_eq!(
            scheduled_mode(
                LastSucceeded {
                    any: at(1),
                    full: None
                },
                now
            ),
            RunMode::Full
        );
    }
}
