//! The daily usage push (issue 22 items 3 and 4): every customer linked to a home-portal
//! company gets its month-to-date minutes and spend, MRR (its numbers' monthly cost), payment
//! status and last usage date on the company, in batch updates of 100 companies (100,000
//! customers: 1,000 calls, far inside the daily budget). Only figures that changed since the
//! last push are written; each run is recorded with its counts and duration.

use std::time::Instant;

use chrono::NaiveDate;
use warp_domain::usage::UsagePropertyMap;
use warp_hubspot::{BatchUpdateInput, HubSpotClient, HubSpotId};
use warp_store::usage::{self, CustomerFigures, UsagePushRun};
use warp_store::usage_properties;
use warp_store::{Database, StoreError};

/// How many days back the daily note looks for days without their note.
const NOTE_DAYS_BACK: u64 = 7;
/// Customers read (and figures computed) per page.
const PAGE: i64 = 1000;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsagePushReport {
    pub run_id: i64,
    pub customers_checked: i64,
    pub companies_written: i64,
    pub failed: i64,
    pub requests: i64,
    pub duration_ms: u128,
}

pub struct UsagePush {
    database: Database,
    hubspot: HubSpotClient,
    /// The portal whose usage property map names the properties.
    portal_id: i64,
    /// Also note the day before's usage on each company's timeline (`USAGE_DAILY_NOTE`).
    daily_note: bool,
}

impl UsagePush {
    pub fn new(database: Database, hubspot: HubSpotClient, portal_id: i64) -> Self {
        UsagePush {
            database,
            hubspot,
            portal_id,
            daily_note: false,
        }
    }

    /// This push also records the daily usage note of the day before `today`, written to the
    /// company timeline by the account event logger.
    pub fn with_daily_note(self, daily_note: bool) -> Self {
        UsagePush { daily_note, ..self }
    }

    /// Pushes the figures of `today`'s month, recording the run (a failed run records why).
    pub async fn run(&self, today: NaiveDate) -> Result<UsagePushReport, StoreError> {
        let started = Instant::now();
        let run_id = usage::start_run(&self.database, today).await?;
        let mut run = UsagePushRun {
            id: run_id,
            ..UsagePushRun::default()
        };
        let mut outcome = self.push_all(today, &mut run).await;
        if self.daily_note {
            // The last week's days: a run that failed, or a day reported late, is caught up
            // (each note is recorded once per customer and day).
            for back in 1..=NOTE_DAYS_BACK {
                let Some(day) = today.checked_sub_days(chrono::Days::new(back)) else {
                    break;
                };
                match usage::note_day(&self.database, day).await {
                    Ok(noted) if noted > 0 => {
                        tracing::info!(noted, %day, "daily usage notes recorded");
                    }
                    Ok(_) => {}
                    Err(error) => {
                        if outcome.is_ok() {
                            outcome = Err(PushError::Store(error));
                        }
                        break;
                    }
                }
            }
        }
        if let Err(error) = &outcome {
            run.error = Some(error.to_string());
        }
        usage::finish_run(&self.database, &run).await?;
        outcome?;
        let report = UsagePushReport {
            run_id,
            customers_checked: run.customers_checked,
            companies_written: run.companies_written,
            failed: run.failed,
            requests: run.requests,
            duration_ms: started.elapsed().as_millis(),
        };
        tracing::info!(
            customers = report.customers_checked,
            written = report.companies_written,
            failed = report.failed,
            requests = report.requests,
            duration_ms = report.duration_ms as u64,
            "daily usage pushed"
        );
        Ok(report)
    }

    async fn push_all(&self, today: NaiveDate, run: &mut UsagePushRun) -> Result<(), PushError> {
        // Read once a run: the properties operations mapped the figures to.
        let map = usage_properties::map(&self.database, self.portal_id).await?;
        let mut after = None;
        loop {
            let page = usage::figures_page(&self.database, today, after, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some(last.customer_id);
            run.customers_checked += page.len() as i64;
            let changed: Vec<&CustomerFigures> = page
                .iter()
                .filter(|c| c.pushed.as_ref() != Some(&c.figures))
                .collect();
            for chunk in changed.chunks(100) {
                self.write(chunk, &map, run).await?;
            }
        }
    }

    async fn write(
        &self,
        customers: &[&CustomerFigures],
        map: &UsagePropertyMap,
        run: &mut UsagePushRun,
    ) -> Result<(), PushError> {
        let mut inputs = Vec::with_capacity(customers.len());
        let mut written_for = Vec::with_capacity(customers.len());
        for customer in customers {
            match HubSpotId::parse(customer.company_id.clone()) {
                Ok(company) => {
                    inputs.push(BatchUpdateInput {
                        id: company,
                        properties: customer.figures.values(map),
                        object_write_trace_id: None,
                    });
                    written_for.push(*customer);
                }
                Err(_) => run.failed += 1,
            }
        }
        if inputs.is_empty() {
            return Ok(());
        }
        let result = self.hubspot.companies().batch_update(&inputs).await;
        run.requests += result.calls as i64;
        if let Some(failed) = result.failed_calls.into_iter().next() {
            return Err(PushError::HubSpot(failed.error));
        }
        let written: std::collections::HashSet<&str> =
            result.results.iter().map(|r| r.id.as_str()).collect();
        let pushed: Vec<_> = written_for
            .iter()
            .filter(|c| written.contains(c.company_id.as_str()))
            .map(|c| (c.customer_id, &c.figures))
            .collect();
        run.companies_written += pushed.len() as i64;
        run.failed += (written_for.len() - pushed.len()) as i64;
        usage::record_pushed(&self.database, &pushed).await?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
enum PushError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("HubSpot: {0}")]
    HubSpot(warp_hubspot::HubSpotError),
}

impl From<PushError> for StoreError {
    fn from(error: PushError) -> Self {
        match error {
            PushError::Store(error) => error,
            PushError::HubSpot(error) => StoreError::Other(format!("HubSpot: {error}")),
        }
    }
}
