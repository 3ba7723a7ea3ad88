//! Deal and ticket pipelines and their stages (HubSpot's CRM Pipelines API,
//! `/crm/pipelines/2026-09/{deals,tickets}` and v3): a portal starts with HubSpot's default
//! "Sales Pipeline" and "Support Pipeline" and may add its own. A stage's `metadata` says
//! whether it closes the deal and with what probability, or whether the ticket is open or
//! closed (`ticketState`), which is how a client tells "won" or "closed" from a label it cannot
//! rely on (labels are the portal's to rename).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::time::iso_millis as iso;

/// What a portal's pipelines hold: deals or tickets. They differ in the properties a record
/// names its pipeline and stage with, the default pipeline's id, and the stage metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineKind {
    Deals,
    Tickets,
}

impl PipelineKind {
    /// The property a record holds its pipeline in.
    pub fn pipeline_property(self) -> &'static str {
        match self {
            PipelineKind::Deals => "pipeline",
            PipelineKind::Tickets => "hs_pipeline",
        }
    }

    /// The property a record holds its stage in.
    pub fn stage_property(self) -> &'static str {
        match self {
            PipelineKind::Deals => "dealstage",
            PipelineKind::Tickets => "hs_pipeline_stage",
        }
    }

    /// The pipeline a record is in when a write names none.
    pub fn default_pipeline(self) -> &'static str {
        match self {
            PipelineKind::Deals => "default",
            PipelineKind::Tickets => "0",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub id: String,
    pub label: String,
    pub display_order: i32,
    pub is_closed: bool,
    /// 0.0 to 1.0; HubSpot keeps it as text in the stage's metadata (0 for ticket stages).
    pub probability: f64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Stage {
    /// Closed with probability 1: what HubSpot counts as won.
    pub fn is_won(&self) -> bool {
        self.is_closed && self.probability >= 1.0
    }

    fn to_json(&self, kind: PipelineKind) -> Value {
        let metadata = match kind {
            PipelineKind::Deals => json!({
                "isClosed": self.is_closed.to_string(),
                "probability": format_probability(self.probability),
            }),
            PipelineKind::Tickets => json!({
                "ticketState": if self.is_closed { "CLOSED" } else { "OPEN" },
                "isClosed": self.is_closed.to_string(),
            }),
        };
        json!({
            "id": self.id,
            "label": self.label,
            "displayOrder": self.display_order,
            "metadata": metadata,
            "archived": false,
            "createdAt": iso(self.created_at_ms),
            "updatedAt": iso(self.updated_at_ms),
            "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
        })
    }
}

/// "0.2", "1.0": how HubSpot writes a stage's probability.
fn format_probability(probability: f64) -> String {
    let text = probability.to_string();
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    pub id: String,
    pub label: String,
    pub display_order: i32,
    pub stages: Vec<Stage>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Pipeline {
    pub fn stage(&self, id: &str) -> Option<&Stage> {
        self.stages.iter().find(|stage| stage.id == id)
    }

    pub fn to_json(&self, kind: PipelineKind) -> Value {
        json!({
            "id": self.id,
            "label": self.label,
            "displayOrder": self.display_order,
            "stages": self.stages_json(kind),
            "archived": false,
            "createdAt": iso(self.created_at_ms),
            "updatedAt": iso(self.updated_at_ms),
        })
    }

    pub fn stages_json(&self, kind: PipelineKind) -> Vec<Value> {
        self.stages
            .iter()
            .map(|stage| stage.to_json(kind))
            .collect()
    }
}

/// A new pipeline as the API takes it (`PipelineInput`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineInput {
    pub label: String,
    #[serde(default)]
    pub display_order: i32,
    pub stages: Vec<StageInput>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageInput {
    pub label: String,
    #[serde(default)]
    pub display_order: i32,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// A portal's deal or ticket pipelines.
#[derive(Clone, Debug)]
pub struct Pipelines {
    pub kind: PipelineKind,
    by_id: BTreeMap<String, Pipeline>,
    next_id: u64,
}

/// Stages as HubSpot's defaults list them: id, label, closed, probability.
type DefaultStage = (&'static str, &'static str, bool, f64);

impl Pipelines {
    /// HubSpot's default pipeline of `kind`.
    pub fn defaults(kind: PipelineKind) -> Self {
        match kind {
            PipelineKind::Deals => Self::deal_defaults(),
            PipelineKind::Tickets => Self::ticket_defaults(),
        }
    }

    /// HubSpot's default support pipeline: new, waiting on contact, waiting on us, closed.
    pub fn ticket_defaults() -> Self {
        let stages: [DefaultStage; 4] = [
            ("1", "New", false, 0.0),
            ("2", "Waiting on contact", false, 0.0),
            ("3", "Waiting on us", false, 0.0),
            ("4", "Closed", true, 0.0),
        ];
        Self::with_default(PipelineKind::Tickets, "Support Pipeline", &stages)
    }

    /// HubSpot's default sales pipeline (its stages were created at 0, as HubSpot says).
    pub fn deal_defaults() -> Self {
        let stages: [DefaultStage; 7] = [
            ("appointmentscheduled", "Appointment Scheduled", false, 0.2),
            ("qualifiedtobuy", "Qualified To Buy", false, 0.4),
            (
                "presentationscheduled",
                "Presentation Scheduled",
                false,
                0.6,
            ),
            (
                "decisionmakerboughtin",
                "Decision Maker Bought-In",
                false,
                0.8,
            ),
            ("contractsent", "Contract Sent", false, 0.9),
            ("closedwon", "Closed Won", true, 1.0),
            ("closedlost", "Closed Lost", true, 0.0),
        ];
        Self::with_default(PipelineKind::Deals, "Sales Pipeline", &stages)
    }

    fn with_default(kind: PipelineKind, label: &str, stages: &[DefaultStage]) -> Self {
        let stages = stages
            .iter()
            .zip(0..)
            .map(|((id, label, is_closed, probability), order)| Stage {
                id: (*id).to_owned(),
                label: (*label).to_owned(),
                display_order: order,
                is_closed: *is_closed,
                probability: *probability,
                created_at_ms: 0,
                updated_at_ms: 0,
            })
            .collect();
        let default = Pipeline {
            id: kind.default_pipeline().to_owned(),
            label: label.to_owned(),
            display_order: 0,
            stages,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        Self {
            kind,
            by_id: BTreeMap::from([(default.id.clone(), default)]),
            next_id: 1_000_001,
        }
    }

    pub fn get(&self, id: &str) -> Option<&Pipeline> {
        self.by_id.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Pipeline> {
        let mut pipelines: Vec<&Pipeline> = self.by_id.values().collect();
        pipelines.sort_by(|a, b| (a.display_order, &a.label).cmp(&(b.display_order, &b.label)));
        pipelines.into_iter()
    }

    /// Creates a pipeline with generated ids; HubSpot refuses one without stages, a deal stage
    /// without `isClosed` or a probability, a ticket stage whose `ticketState` is neither
    /// `OPEN` nor `CLOSED` (it defaults to open), and duplicate labels.
    pub fn create(&mut self, input: PipelineInput, now_ms: i64) -> Result<&Pipeline, ApiError> {
        if input.label.trim().is_empty() {
            return Err(ApiError::validation("A pipeline needs a label"));
        }
        if self.by_id.values().any(|p| p.label == input.label) {
            return Err(ApiError::validation(format!(
                "A pipeline labelled {:?} already exists",
                input.label
            )));
        }
        if input.stages.is_empty() {
            return Err(ApiError::validation("A pipeline needs at least one stage"));
        }
        let mut stages = Vec::with_capacity(input.stages.len());
        for stage in input.stages {
            if stages.iter().any(|s: &Stage| s.label == stage.label) {
                return Err(ApiError::validation(format!(
                    "Stage labels must be unique in a pipeline: {:?}",
                    stage.label
                )));
            }
            let (is_closed, probability) = match self.kind {
                PipelineKind::Deals => deal_stage_metadata(&stage)?,
                PipelineKind::Tickets => (ticket_stage_closed(&stage)?, 0.0),
            };
            stages.push(Stage {
                id: self.take_id(),
                label: stage.label,
                display_order: stage.display_order,
                is_closed,
                probability,
                created_at_ms: now_ms,
                updated_at_ms: now_ms,
            });
        }
        let pipeline = Pipeline {
            id: self.take_id(),
            label: input.label,
            display_order: input.display_order,
            stages,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        };
        let id = pipeline.id.clone();
        Ok(self.by_id.entry(id).or_insert(pipeline))
    }

    fn take_id(&mut self) -> String {
        let id = self.next_id;
        self.next_id += 1;
        id.to_string()
    }

    /// The stage `stage_id` of `pipeline_id`, or HubSpot's 400 naming the property at fault.
    pub fn checked_stage(&self, pipeline_id: &str, stage_id: &str) -> Result<&Stage, ApiError> {
        let Some(pipeline) = self.get(pipeline_id) else {
            return Err(crate::properties::invalid_property_values(vec![
                crate::error::ErrorDetail::property(
                    format!("{pipeline_id} was not one of the allowed options"),
                    "INVALID_OPTION",
                    "pipeline",
                ),
            ]));
        };
        pipeline.stage(stage_id).ok_or_else(|| {
            crate::properties::invalid_property_values(vec![crate::error::ErrorDetail::property(
                format!(
                    "{stage_id} is not a stage of pipeline {pipeline_id}; allowed: {}",
                    pipeline
                        .stages
                        .iter()
                        .map(|s| s.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "INVALID_OPTION",
                self.kind.stage_property(),
            )])
        })
    }
}

/// A deal stage's `isClosed` and `probability`, both required.
fn deal_stage_metadata(stage: &StageInput) -> Result<(bool, f64), ApiError> {
    let is_closed = match stage.metadata.get("isClosed").map(String::as_str) {
        Some("true") => true,
        Some("false") => false,
        _ => {
            return Err(ApiError::validation(format!(
                "Stage {:?} needs metadata.isClosed of \"true\" or \"false\"",
                stage.label
            )));
        }
    };
    let probability = match stage.metadata.get("probability") {
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "Stage {:?}: metadata.probability must be a number from 0.0 to 1.0",
                    stage.label
                ))
            })?,
        None => {
            return Err(ApiError::validation(format!(
                "Stage {:?} needs metadata.probability",
                stage.label
            )));
        }
    };
    Ok((is_closed, probability))
}

/// Whether a ticket stage closes the ticket (`ticketState`, optional, open by default).
fn ticket_stage_closed(stage: &StageInput) -> Result<bool, ApiError> {
    match stage.metadata.get("ticketState").map(String::as_str) {
        None | Some("OPEN") => Ok(false),
        Some("CLOSED") => Ok(true),
        Some(other) => Err(ApiError::validation(format!(
            "Stage {:?}: metadata.ticketState must be OPEN or CLOSED, not {other:?}",
            stage.label
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pipeline_wins_by_metadata() {
        let pipelines = Pipelines::deal_defaults();
        let default = pipelines.get("default").unwrap();
        let won: Vec<&str> = default
            .stages
            .iter()
            .filter(|s| s.is_won())
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(won, ["closedwon"]);
        assert_eq!(
            default
                .stage("closedlost")
                .unwrap()
                .to_json(PipelineKind::Deals)["metadata"],
            json!({"isClosed": "true", "probability": "0.0"})
        );
    }

    #[test]
    fn a_created_pipeline_gets_ids_and_refuses_bad_metadata() {
        let mut pipelines = Pipelines::deal_defaults();
        let stage = |label: &str, closed: &str, probability: &str| StageInput {
            label: label.to_owned(),
            display_order: 0,
            metadata: BTreeMap::from([
                ("isClosed".to_owned(), closed.to_owned()),
                ("probability".to_owned(), probability.to_owned()),
            ]),
        };
        let created = pipelines
            .create(
                PipelineInput {
                    label: "Wholesale".into(),
                    display_order: 1,
                    stages: vec![
                        stage("Talking", "false", "0.1"),
                        stage("Signed", "true", "1"),
                    ],
                },
                5,
            )
            .unwrap()
            .clone();
        assert!(created.stages[1].is_won());
        assert!(
            pipelines
                .checked_stage(&created.id, &created.stages[1].id)
                .is_ok()
        );
        assert!(pipelines.checked_stage(&created.id, "closedwon").is_err());
        let refused = pipelines.create(
            PipelineInput {
                label: "Broken".into(),
                display_order: 2,
                stages: vec![stage("Odd", "maybe", "0.5")],
            },
            5,
        );
        assert!(refused.is_err());
    }

    #[test]
    fn ticket_stages_say_open_or_closed() {
        let mut pipelines = Pipelines::ticket_defaults();
        let support = pipelines.get("0").unwrap();
        assert_eq!(
            support.stage("4").unwrap().to_json(PipelineKind::Tickets)["metadata"]["ticketState"],
            "CLOSED"
        );
        assert_eq!(
            support.stage("1").unwrap().to_json(PipelineKind::Tickets)["metadata"]["ticketState"],
            "OPEN"
        );
        let stage = |label: &str, state: Option<&str>| StageInput {
            label: label.to_owned(),
            display_order: 0,
            metadata: state
                .map(|state| BTreeMap::from([("ticketState".to_owned(), state.to_owned())]))
                .unwrap_or_default(),
        };
        let created = pipelines
            .create(
                PipelineInput {
                    label: "Network".into(),
                    display_order: 1,
                    stages: vec![stage("Triage", None), stage("Fixed", Some("CLOSED"))],
                },
                5,
            )
            .unwrap()
            .clone();
        assert_eq!(
            (created.stages[0].is_closed, created.stages[1].is_closed),
            (false, true)
        );
        let refused = pipelines.create(
            PipelineInput {
                label: "Odd".into(),
                display_order: 2,
                stages: vec![stage("Half", Some("AJAR"))],
            },
            5,
        );
        assert!(refused.is_err());
        let error = pipelines.checked_stage("0", "closedwon").unwrap_err();
        assert!(format!("{error:?}").contains("hs_pipeline_stage"));
    }
}
