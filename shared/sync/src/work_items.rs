//! Settling work items written to HubSpot once (finished calls, account events): what a pass
//! did, and how an item that failed is tried again or given up.

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;
use warp_hubspot::{CredentialsError, HubSpotError, HubSpotId};
use warp_store::work_items::{self, Settlement, WorkTable};
use warp_store::{Database, StoreError};

use crate::outbound::{Answer, RECONNECT_RECHECK, describe_call_error, describe_item_error};

/// What one pass (or several) did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteReport {
    pub claimed: usize,
    /// Written to HubSpot.
    pub logged: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Waiting for a portal to be reconnected.
    pub waiting: usize,
    /// To be tried again.
    pub retrying: usize,
    /// HubSpot searches made (the others were answered from memory).
    pub searches: usize,
}

impl WriteReport {
    pub(crate) fn absorb(&mut self, other: WriteReport) {
        self.claimed += other.claimed;
        self.logged += other.logged;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.waiting += other.waiting;
        self.retrying += other.retrying;
        self.searches += other.searches;
    }
}

/// Why a batch of associations is not all made: a call that failed as a whole, or an input
/// HubSpot refused (a record merged or deleted since it was found); `None` when every one was
/// made. The items are then tried again (associating twice changes nothing).
pub(crate) fn associations_failed<T>(batches: &[&warp_hubspot::BatchResult<T>]) -> Option<String> {
    batches.iter().find_map(|batch| {
        batch
            .failed_calls
            .first()
            .map(|failed| describe_call_error(&failed.error))
            .or_else(|| batch.errors.first().map(describe_item_error))
    })
}

/// Items one pass claims at most.
pub const PASS: usize = 100;

/// Runs passes of up to [`PASS`] items until none is due, `limit` were claimed or `budget` is
/// spent (a scheduled job's share).
pub(crate) async fn passes_within<F, Fut>(
    limit: usize,
    budget: Duration,
    pass: F,
) -> Result<WriteReport, StoreError>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<WriteReport, StoreError>>,
{
    passes_of_within(PASS, limit, budget, pass).await
}

/// [`passes_within`] with passes of up to `size` items.
pub(crate) async fn passes_of_within<F, Fut>(
    size: usize,
    limit: usize,
    budget: Duration,
    mut pass: F,
) -> Result<WriteReport, StoreError>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<WriteReport, StoreError>>,
{
    let started = std::time::Instant::now();
    let mut total = WriteReport::default();
    while total.claimed < limit && started.elapsed() < budget {
        let report = pass(size.min(limit - total.claimed)).await?;
        let done = report.claimed < size;
        total.absorb(report);
        if done {
            break;
        }
    }
    Ok(total)
}

/// How failed items are tried again.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts before an item that keeps failing is given up as `error`.
    pub max_attempts: i32,
    /// The first retry's delay; doubled each attempt.
    pub base: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base: Duration::from_secs(10),
        }
    }
}

/// Settles the claimed items of one table, counting each outcome in a report.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settler<'a> {
    pub database: &'a Database,
    pub table: WorkTable,
    pub retry: RetryPolicy,
}

impl Settler<'_> {
    pub async fn settle(
        &self,
        id: Uuid,
        settlement: Settlement,
        report: &mut WriteReport,
    ) -> Result<(), StoreError> {
        match &settlement {
            Settlement::Written { .. } => report.logged += 1,
            Settlement::Skipped { .. } => report.skipped += 1,
            Settlement::Failed { .. } => report.failed += 1,
            Settlement::Later { .. } => report.retrying += 1,
        }
        work_items::settle(self.database, self.table, id, &settlement).await
    }

    /// Kept waiting for its portal (re-checked every minute), the attempt not counted.
    pub async fn wait(
        &self,
        id: Uuid,
        reason: String,
        report: &mut WriteReport,
    ) -> Result<(), StoreError> {
        report.waiting += 1;
        let settlement = Settlement::Later {
            reason,
            retry_at: Utc::now()
                + chrono::Duration::from_std(RECONNECT_RECHECK).unwrap_or_default(),
            counts_as_attempt: false,
        };
        work_items::settle(self.database, self.table, id, &settlement).await
    }

    /// Tried again later with a doubling delay, or given up once out of attempts (`attempts`
    /// counts this one).
    pub async fn retry(
        &self,
        id: Uuid,
        attempts: i32,
        reason: &str,
        report: &mut WriteReport,
    ) -> Result<(), StoreError> {
        if attempts >= self.retry.max_attempts {
            let settlement = Settlement::Failed {
                portal_id: None,
                reason: format!("{reason} (gave up after {attempts} attempts)"),
            };
            return self.settle(id, settlement, report).await;
        }
        let doublings = u32::try_from(attempts.clamp(1, 16) - 1).unwrap_or(0);
        let delay = self.retry.base.saturating_mul(1 << doublings);
        let settlement = Settlement::Later {
            reason: reason.to_owned(),
            retry_at: Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default(),
            counts_as_attempt: true,
        };
        self.settle(id, settlement, report).await
    }

    /// The HubSpot id of the `record` an accepted answer wrote; any other answer is settled
    /// (see [`Self::not_accepted`]), and an accepted one without an id is tried again.
    pub async fn accepted_id(
        &self,
        id: Uuid,
        attempts: i32,
        answer: Answer,
        portal_id: i64,
        record: &str,
        report: &mut WriteReport,
    ) -> Result<Option<HubSpotId>, StoreError> {
        match answer {
            Answer::Accepted { hubspot_id, .. } => match HubSpotId::parse(hubspot_id) {
                Ok(written) => Ok(Some(written)),
                Err(_) => {
                    let reason = format!("HubSpot answered no {record} id");
                    self.retry(id, attempts, &reason, report).await?;
                    Ok(None)
                }
            },
            other => {
                self.not_accepted(id, attempts, other, portal_id, report)
                    .await?;
                Ok(None)
            }
        }
    }

    /// Settles an item HubSpot did not accept: refused for good (a validation error), tried
    /// again, or waiting for its portal. An accepted answer is the caller's to settle.
    pub async fn not_accepted(
        &self,
        id: Uuid,
        attempts: i32,
        answer: Answer,
        portal_id: i64,
        report: &mut WriteReport,
    ) -> Result<(), StoreError> {
        match answer {
            Answer::Refused {
                error,
                permanent: true,
            } => {
                let settlement = Settlement::Failed {
                    portal_id: Some(portal_id),
                    reason: error,
                };
                self.settle(id, settlement, report).await
            }
            Answer::Refused { error, .. } => self.retry(id, attempts, &error, report).await,
            Answer::Waiting { reason } => self.wait(id, reason, report).await,
            Answer::Accepted { .. } => Ok(()),
        }
    }

    /// Settles a written item once its associations were made: written with `ids`, or tried
    /// again when `failure` says they were not (its record is upserted by a unique id, so the
    /// retry does not write it twice).
    pub async fn after_associations(
        &self,
        id: Uuid,
        attempts: i32,
        failure: Option<&str>,
        doing: &str,
        written: (i64, Vec<Option<String>>),
        report: &mut WriteReport,
    ) -> Result<(), StoreError> {
        match failure {
            Some(error) => {
                let reason = format!("{doing}: {error}");
                self.retry(id, attempts, &reason, report).await
            }
            None => {
                let (portal_id, ids) = written;
                let settlement = Settlement::Written { portal_id, ids };
                self.settle(id, settlement, report).await
            }
        }
    }

    /// After a HubSpot call failed as a whole: wait for a portal to reconnect, else retry.
    pub async fn after_error(
        &self,
        id: Uuid,
        attempts: i32,
        error: &HubSpotError,
        report: &mut WriteReport,
    ) -> Result<(), StoreError> {
        let reason = describe_call_error(error);
        if matches!(
            error,
            HubSpotError::Credentials(CredentialsError::NeedsReconnect { .. })
        ) {
            self.wait(id, reason, report).await
        } else {
            self.retry(id, attempts, &reason, report).await
        }
    }
}
