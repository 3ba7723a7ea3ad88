//! HubSpot's Webhooks Journal (2026-03, docs/hubspot/PLATFORM-2026.md): per-portal
//! subscriptions and the local journal of one installation, read in order from an offset. Each
//! entry names a pre-signed file holding its events, fetched without the bearer token (it is
//! not HubSpot's API, and a token must not leak to the file store). The journal is the app's,
//! not a portal's: build the client with the app's client-credentials token.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{HubSpotClient, Repeatable};
use crate::error::HubSpotError;
use crate::rate_budget::Bucket;

/// The journal API's version.
pub const JOURNAL_VERSION: &str = "2026-03";
/// Most entries one batch read asks for.
pub const MAX_ENTRIES_PER_READ: u32 = 100;

/// One journal entry (`JournalFetchResponse`): its offset, and where its events are until when.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    pub current_offset: uuid::Uuid,
    pub expires_at: String,
    pub url: String,
}

#[derive(Deserialize)]
struct JournalBatch {
    #[serde(default)]
    results: Vec<JournalEntry>,
}

/// An `OBJECT` subscription (`ObjectSubscriptionUpsertRequest`): the events of one object type
/// in one portal, for the actions named (every property when `properties` is empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSubscriptionRequest {
    pub subscription_type: &'static str,
    pub portal_id: i64,
    pub object_type_id: String,
    pub actions: Vec<String>,
    pub properties: Vec<String>,
    pub object_ids: Vec<i64>,
}

impl ObjectSubscriptionRequest {
    pub fn new(portal_id: i64, object_type_id: &str, actions: &[&str]) -> Self {
        Self {
            subscription_type: "OBJECT",
            portal_id,
            object_type_id: object_type_id.to_owned(),
            actions: actions.iter().map(|action| (*action).to_owned()).collect(),
            properties: Vec::new(),
            object_ids: Vec::new(),
        }
    }
}

/// A subscription as HubSpot answers it (`SubscriptionResponse`), the members WARP reads.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalSubscription {
    pub id: i64,
    pub subscription_type: String,
    pub object_type_id: String,
    #[serde(default)]
    pub portal_id: Option<i64>,
    #[serde(default)]
    pub actions: Vec<String>,
}

#[derive(Deserialize)]
struct SubscriptionList {
    #[serde(default)]
    results: Vec<JournalSubscription>,
}

/// Where a batch read starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalPosition {
    /// The oldest entry HubSpot still keeps (3 days).
    Earliest,
    /// The entries after this one.
    After(uuid::Uuid),
}

impl HubSpotClient {
    /// Every journal subscription of the app.
    pub async fn journal_subscriptions(&self) -> Result<Vec<JournalSubscription>, HubSpotError> {
        let list: SubscriptionList = self
            .call(
                Method::GET,
                &["webhooks-journal", "subscriptions", JOURNAL_VERSION],
                &[],
                None::<&()>,
                Bucket::Default,
                Repeatable::Yes,
            )
            .await?;
        Ok(list.results)
    }

    /// Creates (or updates: HubSpot upserts by portal and object type) a subscription.
    pub async fn upsert_journal_subscription(
        &self,
        request: &ObjectSubscriptionRequest,
    ) -> Result<JournalSubscription, HubSpotError> {
        self.call(
            Method::POST,
            &["webhooks-journal", "subscriptions", JOURNAL_VERSION],
            &[],
            Some(request),
            Bucket::Default,
            Repeatable::Yes,
        )
        .await
    }

    /// Up to `count` entries of `portal_id`'s local journal from `position`, oldest first;
    /// none when nothing newer exists. An offset HubSpot no longer keeps answers
    /// [`HubSpotError::NotFound`].
    pub async fn journal_entries(
        &self,
        portal_id: i64,
        position: JournalPosition,
        count: u32,
    ) -> Result<Vec<JournalEntry>, HubSpotError> {
        let count = count.clamp(1, MAX_ENTRIES_PER_READ).to_string();
        let offset;
        let path: Vec<&str> = match position {
            JournalPosition::Earliest => vec![
                "webhooks-journal",
                "journal-local",
                JOURNAL_VERSION,
                "batch",
                "earliest",
                &count,
            ],
            JournalPosition::After(after) => {
                offset = after.to_string();
                vec![
                    "webhooks-journal",
                    "journal-local",
                    JOURNAL_VERSION,
                    "batch",
                    &offset,
                    "next",
                    &count,
                ]
            }
        };
        let batch: JournalBatch = self
            .call(
                Method::GET,
                &path,
                &[("installPortalId", portal_id.to_string())],
                None::<&()>,
                Bucket::Default,
                Repeatable::Yes,
            )
            .await?;
        Ok(batch.results)
    }

    /// The file of an entry, from its pre-signed URL: no bearer token, no rate budget (it is
    /// not HubSpot's API). A refused or expired link is an error like HubSpot's own.
    pub async fn journal_file(&self, entry: &JournalEntry) -> Result<bytes::Bytes, HubSpotError> {
        let url = url::Url::parse(&entry.url).map_err(|error| {
            HubSpotError::Decode(format!("a journal entry's url is not a URL: {error}"))
        })?;
        self.fetch_unauthenticated(url).await
    }
}
