//! Custom events (`/events/custom/2026-09`, Enterprise portals only): an event definition made
//! once, and occurrences sent on records in batches of up to 500. HubSpot keeps a `uuid` once,
//! so a retried send does not record an occurrence twice.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{HubSpotClient, Repeatable};
use crate::error::HubSpotError;
use crate::rate_budget::Bucket;

const DEFINITIONS: [&str; 4] = ["events", "custom", "2026-09", "event-definitions"];
/// Occurrences one batch send carries at most.
pub const MAX_EVENTS_PER_SEND: usize = 500;

/// An event definition as HubSpot answers it (the part WARP reads).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDefinition {
    pub name: String,
    /// The name sends must use (`pe<portal>_<name>`).
    pub fully_qualified_name: String,
    #[serde(default)]
    pub primary_object: Option<String>,
    #[serde(default)]
    pub properties: Vec<EventDefinitionProperty>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct EventDefinitionProperty {
    pub name: String,
}

/// A new event definition (`ExternalBehavioralEventTypeDefinitionEgg`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDefinitionCreate {
    pub name: String,
    pub label: String,
    pub description: String,
    /// CONTACT, COMPANY, DEAL or TICKET.
    pub primary_object: String,
    pub include_default_properties: bool,
    pub property_definitions: Vec<EventPropertyCreate>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EventPropertyCreate {
    pub name: String,
    pub label: String,
    /// string, number, enumeration or datetime.
    #[serde(rename = "type")]
    pub property_type: String,
}

/// One occurrence (`BehavioralEventHttpCompletionRequest`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomEventSend {
    /// The definition's fully qualified name.
    pub event_name: String,
    pub object_id: String,
    /// ISO 8601.
    pub occurred_at: String,
    pub properties: BTreeMap<String, String>,
    /// Kept once by HubSpot: the occurrence's own id.
    pub uuid: String,
}

impl HubSpotClient {
    /// The event definition `name`, `None` when the portal has none by that name.
    pub async fn event_definition(
        &self,
        name: &str,
    ) -> Result<Option<EventDefinition>, HubSpotError> {
        let mut path = DEFINITIONS.to_vec();
        path.push(name);
        self.get_if_exists(&path, &[]).await
    }

    /// Creates an event definition (HubSpot answers 409 for a name that exists).
    pub async fn create_event_definition(
        &self,
        definition: &EventDefinitionCreate,
    ) -> Result<EventDefinition, HubSpotError> {
        self.call(
            Method::POST,
            &DEFINITIONS,
            &[],
            Some(definition),
            Bucket::Default,
            Repeatable::OnlyIfNotApplied,
        )
        .await
    }

    /// Sends occurrences in batches of up to 500 (HubSpot answers 204). A batch that failed
    /// is safe to send again: every occurrence carries its uuid.
    pub async fn send_custom_events(&self, events: &[CustomEventSend]) -> Result<(), HubSpotError> {
        #[derive(Serialize)]
        struct Batch<'a> {
            inputs: &'a [CustomEventSend],
        }
        for chunk in events.chunks(MAX_EVENTS_PER_SEND) {
            self.send(
                Method::POST,
                &["events", "custom", "2026-09", "send", "batch"],
                &[],
                Some(&Batch { inputs: chunk }),
                Bucket::Default,
                Repeatable::Yes,
            )
            .await?;
        }
        Ok(())
    }
}
