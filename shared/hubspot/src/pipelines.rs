//! `GET /crm/pipelines/2026-09/{objectType}`: an object type's pipelines and their stages.
//! (The v1 deal pipelines API sunset on 2026-12-04, docs/hubspot/PLATFORM-2026.md.) A stage's
//! metadata says whether it closes the record and with what probability: what "won" means is
//! read from there, never from a label the portal may rename.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::client::HubSpotClient;
use crate::error::HubSpotError;
use crate::objects::{API_VERSION, CrmObject};

/// A pipeline as HubSpot answers it (`Pipeline`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub display_order: i32,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub stages: Vec<PipelineStage>,
}

/// A stage (`PipelineStage`); `metadata` holds text values (`"isClosed": "true"`,
/// `"probability": "1.0"`) and, for tickets, `ticketState`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStage {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub display_order: i32,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl PipelineStage {
    /// A metadata value as text, whether HubSpot sent a string or a bare number or boolean.
    pub fn metadata_text(&self, key: &str) -> Option<String> {
        match self.metadata.get(key)? {
            serde_json::Value::String(text) => Some(text.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

impl HubSpotClient {
    /// Every pipeline of `object` with its stages.
    pub async fn pipelines(
        &self,
        object: impl Into<CrmObject>,
    ) -> Result<Vec<Pipeline>, HubSpotError> {
        let object = object.into();
        self.get_results(&["crm", "pipelines", API_VERSION, object.as_str()])
            .await
    }
}
