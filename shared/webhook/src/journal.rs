//! The Webhooks Journal backstop (issue 23 item 5): for every installation with it turned on,
//! read HubSpot's journal on from the stored offset and store what it holds in the same event
//! store as push deliveries. An event push delivered already is a duplicate there (the same
//! dedupe key) and is not stored again; an event push never delivered (HubSpot gave up after its
//! retries, or the receiver was down for hours) is stored now, RECEIVED, and the inbound
//! processor applies it like any other.
//!
//! Per installation and poll: the first poll makes WARP's journal subscriptions (companies,
//! contacts and deals, every action WARP applies); then entries are read from the offset in
//! batches of 100, each entry's file fetched (a pre-signed link, no token), its events stored,
//! and the offset moved past it, until the journal's end (the installation is then caught up:
//! the offset's age, the alarm's figure, starts from zero) or the time budget. An offset HubSpot
//! no longer keeps (older than 3 days: the poller did not run for that long) answers 404: the
//! poller starts again from the earliest entry HubSpot has, and, for the home portal, queues a
//! full reconciliation for whatever happened in between. Errors are recorded on the cursor and
//! the next poll tries again from the same offset.

use std::time::{Duration, Instant};

use warp_domain::sync::{JOURNAL_APPLIED_ACTIONS, JournalFileError, events_of_journal_file};
use warp_hubspot::{
    HubSpotClient, HubSpotError, JournalPosition, MAX_ENTRIES_PER_READ, ObjectSubscriptionRequest,
};
use warp_store::journal_cursors::{self, EntryRead, JournalCursor};
use warp_store::webhook_events::{ReceivedVia, StoreEventsError, store_events_via};
use warp_store::{Database, StoreError, reconciliation_runs};

/// The object types WARP applies events of, by HubSpot type id.
const SUBSCRIBED_OBJECT_TYPES: [&str; 3] = ["0-2", "0-1", "0-3"];
/// Who queues the reconciliation after an expired offset.
const RESTART_REQUESTER: &str = "webhooks-journal backstop (offset expired)";

/// What one poll of one or more installations did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalReport {
    pub installations: u64,
    pub entries_read: u64,
    pub events_read: u64,
    /// Events stored by the poll: the journal had them and push had not delivered them.
    pub events_recovered: u64,
    /// Installations whose stored offset had expired.
    pub restarts: u64,
    /// Journal events that could not be read (logged with the reason; the rest were stored).
    pub events_unreadable: u64,
    /// Installations whose poll failed (recorded on the cursor; tried again next time).
    pub failures: u64,
    /// The oldest offset age among the installations, in seconds, after the poll.
    pub max_offset_age_seconds: i64,
}

/// Why a poll could not run at all (per-installation failures are recorded, not returned).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why one installation's poll stopped.
#[derive(Debug, thiserror::Error)]
enum PollFailure {
    #[error("HubSpot: {0}")]
    HubSpot(#[from] HubSpotError),
    #[error("an entry's file cannot be read: {0}")]
    File(#[from] JournalFileError),
    #[error("storing the events failed: {0}")]
    Storing(#[from] StoreEventsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the journal for the installations that have the backstop on.
pub struct JournalPoller {
    pub database: Database,
    /// A client holding the app's client-credentials token (the journal is the app's).
    pub hubspot: HubSpotClient,
    /// The home portal: an expired offset there queues a full reconciliation.
    pub home_portal_id: i64,
}

impl JournalPoller {
    /// One poll of every enabled installation, within `budget`.
    pub async fn poll(&self, budget: Duration) -> Result<JournalReport, JournalError> {
        let deadline = Instant::now() + budget;
        let cursors = {
            let client = self.database.client().await.map_err(StoreError::from)?;
            journal_cursors::enabled(&**client).await?
        };
        let mut report = JournalReport::default();
        for cursor in cursors {
            report.installations += 1;
            let portal_id = cursor.portal_id;
            if let Err(failure) = self.poll_one(cursor, deadline, &mut report).await {
                report.failures += 1;
                tracing::warn!(portal_id, error = %failure, "webhooks journal poll failed");
                if let Err(error) = self.record_failure(portal_id, &failure.to_string()).await {
                    tracing::warn!(portal_id, %error, "could not record the webhooks journal failure");
                }
            }
        }
        let client = self.database.client().await.map_err(StoreError::from)?;
        report.max_offset_age_seconds = journal_cursors::enabled(&**client)
            .await?
            .iter()
            .map(|cursor| cursor.offset_age_seconds)
            .max()
            .unwrap_or(0);
        Ok(report)
    }

    async fn poll_one(
        &self,
        cursor: JournalCursor,
        deadline: Instant,
        report: &mut JournalReport,
    ) -> Result<(), PollFailure> {
        let portal_id = cursor.portal_id;
        if cursor.subscribed_at.is_none() {
            self.subscribe(portal_id).await?;
        }
        let mut offset = cursor.offset;
        loop {
            let position = offset.map_or(JournalPosition::Earliest, JournalPosition::After);
            let entries = match self
                .hubspot
                .journal_entries(portal_id, position, MAX_ENTRIES_PER_READ)
                .await
            {
                Ok(entries) => entries,
                Err(HubSpotError::NotFound { .. }) if offset.is_some() => {
                    self.restart(portal_id).await?;
                    report.restarts += 1;
                    offset = None;
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            if entries.is_empty() {
                let client = self.database.client().await.map_err(StoreError::from)?;
                journal_cursors::caught_up(&**client, portal_id).await?;
                return Ok(());
            }
            for entry in entries {
                let file = self.hubspot.journal_file(&entry).await?;
                let read_file = events_of_journal_file(&file)?;
                for (index, reason) in &read_file.unreadable {
                    tracing::warn!(portal_id, offset = %entry.current_offset, index, %reason, "a webhooks journal event could not be read; the rest of the entry is stored");
                }
                report.events_unreadable += read_file.unreadable.len() as u64;
                let events = read_file.events;
                let outcome =
                    store_events_via(&self.database, &events, ReceivedVia::Journal).await?;
                let read = EntryRead {
                    events: events.len() as i64,
                    recovered: outcome.stored as i64,
                };
                let client = self.database.client().await.map_err(StoreError::from)?;
                journal_cursors::advance(&**client, portal_id, entry.current_offset, read).await?;
                report.entries_read += 1;
                report.events_read += events.len() as u64;
                report.events_recovered += outcome.stored;
                if outcome.stored > 0 {
                    tracing::info!(
                        portal_id,
                        recovered = outcome.stored,
                        "events push had not delivered were recovered from the webhooks journal"
                    );
                }
                offset = Some(entry.current_offset);
                if Instant::now() >= deadline {
                    // Not caught up: the age keeps counting until a poll reaches the end.
                    return Ok(());
                }
            }
        }
    }

    async fn record_failure(&self, portal_id: i64, reason: &str) -> Result<(), StoreError> {
        let client = self.database.client().await?;
        journal_cursors::record_error(&**client, portal_id, reason).await
    }

    /// Makes WARP's journal subscriptions for the portal (HubSpot upserts them by portal and
    /// object type, so a second call changes nothing).
    async fn subscribe(&self, portal_id: i64) -> Result<(), PollFailure> {
        for object_type_id in SUBSCRIBED_OBJECT_TYPES {
            let request =
                ObjectSubscriptionRequest::new(portal_id, object_type_id, &JOURNAL_APPLIED_ACTIONS);
            self.hubspot.upsert_journal_subscription(&request).await?;
        }
        let client = self.database.client().await.map_err(StoreError::from)?;
        journal_cursors::mark_subscribed(&**client, portal_id).await?;
        tracing::info!(portal_id, "webhooks journal subscriptions made");
        Ok(())
    }

    /// The stored offset is older than HubSpot keeps: start from the earliest entry, and have
    /// a full reconciliation repair whatever the gap held (home portal).
    async fn restart(&self, portal_id: i64) -> Result<(), PollFailure> {
        let client = self.database.client().await.map_err(StoreError::from)?;
        let reason = "the stored journal offset had expired (HubSpot keeps 3 days): read again \
                      from the earliest entry";
        journal_cursors::restart(&**client, portal_id, reason).await?;
        if portal_id == self.home_portal_id {
            reconciliation_runs::request(&**client, false, RESTART_REQUESTER).await?;
        }
        tracing::warn!(
            portal_id,
            "webhooks journal offset expired; restarted from the earliest entry"
        );
        Ok(())
    }
}
