//! Associations between records on HubSpot's dated paths (`/crm/associations/2026-09/...`,
//! `/crm/objects/2026-09/{from}/{id}/associations/default/{to}/{toId}`), by HubSpot-defined
//! type ids (docs/hubspot/PLATFORM-2026.md: rely on ids, never labels).

use serde::{Deserialize, Serialize};

use crate::batch::{BatchInputs, BatchResult};
use crate::client::{HubSpotClient, Repeatable};
use crate::error::HubSpotError;
use crate::objects::{API_VERSION, CrmObject};
use crate::rate_budget::Bucket;
use crate::record::HubSpotId;
use reqwest::Method;

/// HubSpot-defined association type ids (PLATFORM-2026.md, "Contacts and associations").
pub mod type_ids {
    /// Contact → company, the primary company.
    pub const CONTACT_TO_COMPANY_PRIMARY: u32 = 1;
    /// Contact → company, unlabeled.
    pub const CONTACT_TO_COMPANY: u32 = 279;
    /// Company → contact, the primary company's side.
    pub const COMPANY_TO_CONTACT_PRIMARY: u32 = 2;
    /// Company → contact, unlabeled.
    pub const COMPANY_TO_CONTACT: u32 = 280;
    /// Deal → company, the deal's primary company.
    pub const DEAL_TO_COMPANY_PRIMARY: u32 = 5;
    /// Note → company, unlabeled.
    pub const NOTE_TO_COMPANY: u32 = 190;
    /// Note → deal, unlabeled.
    pub const NOTE_TO_DEAL: u32 = 214;
    /// Note → contact, unlabeled.
    pub const NOTE_TO_CONTACT: u32 = 202;
    /// Call → contact, unlabeled.
    pub const CALL_TO_CONTACT: u32 = 194;
    /// Call → company, unlabeled.
    pub const CALL_TO_COMPANY: u32 = 182;
    /// Ticket → company, the ticket's primary company.
    pub const TICKET_TO_COMPANY_PRIMARY: u32 = 339;
    /// Note → ticket, unlabeled.
    pub const NOTE_TO_TICKET: u32 = 228;
}

/// One association type as HubSpot takes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationSpec {
    pub association_category: String,
    pub association_type_id: u32,
}

impl AssociationSpec {
    pub fn hubspot_defined(type_id: u32) -> Self {
        AssociationSpec {
            association_category: "HUBSPOT_DEFINED".to_owned(),
            association_type_id: type_id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub id: HubSpotId,
}

/// One pair of a default association.
#[derive(Clone, Debug, Serialize)]
struct DefaultPair {
    from: ObjectRef,
    to: ObjectRef,
}

/// An input of `batch/create`: associate `from` with `to` by `types`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AssociationInput {
    pub from: ObjectRef,
    pub to: ObjectRef,
    pub types: Vec<AssociationSpec>,
}

impl AssociationInput {
    pub fn new(from: HubSpotId, to: HubSpotId, type_ids: &[u32]) -> Self {
        AssociationInput {
            from: ObjectRef { id: from },
            to: ObjectRef { id: to },
            types: type_ids
                .iter()
                .map(|id| AssociationSpec::hubspot_defined(*id))
                .collect(),
        }
    }
}

/// An input of `batch/archive`: remove every association between `from` and each of `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArchiveInput {
    pub from: ObjectRef,
    pub to: Vec<ObjectRef>,
}

/// What HubSpot answers for a created pair.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociatedPair {
    pub from_object_id: String,
    pub to_object_id: String,
    #[serde(default)]
    pub labels: Vec<String>,
}

/// One associated record and the type ids between.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociatedRecord {
    pub to_object_id: String,
    pub association_types: Vec<AssociationTypeRead>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationTypeRead {
    pub category: String,
    pub type_id: u32,
    #[serde(default)]
    pub label: Option<String>,
}

impl AssociatedRecord {
    pub fn has_type(&self, type_id: u32) -> bool {
        self.association_types.iter().any(|t| t.type_id == type_id)
    }
}

/// A record's associations of one type, as `batch/read` answers.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RecordAssociations {
    pub from: ObjectRef,
    #[serde(default)]
    pub to: Vec<AssociatedRecord>,
}

impl RecordAssociations {
    /// The record associated with the primary type `primary_type_id` (a deal's primary
    /// company), else the lowest id among them (an API-made unlabeled association has no
    /// primary): a stable choice either way.
    pub fn primary_or_lowest(&self, primary_type_id: u32) -> Option<&str> {
        self.to
            .iter()
            .find(|to| to.has_type(primary_type_id))
            .or_else(|| {
                self.to
                    .iter()
                    .min_by_key(|to| to.to_object_id.parse::<u64>().unwrap_or(u64::MAX))
            })
            .map(|to| to.to_object_id.as_str())
    }
}

/// The associations from one object type to another.
#[derive(Clone, Copy, Debug)]
pub struct Associations<'a> {
    client: &'a HubSpotClient,
    from: CrmObject,
    to: CrmObject,
}

impl HubSpotClient {
    /// Associations from `from` records to `to` records.
    pub fn associations(
        &self,
        from: impl Into<CrmObject>,
        to: impl Into<CrmObject>,
    ) -> Associations<'_> {
        Associations {
            client: self,
            from: from.into(),
            to: to.into(),
        }
    }
}

impl Associations<'_> {
    fn batch_path(&self, operation: &'static str) -> Vec<&'static str> {
        vec![
            "crm",
            "associations",
            API_VERSION,
            self.from.as_str(),
            self.to.as_str(),
            "batch",
            operation,
        ]
    }

    /// `PUT /crm/objects/2026-09/{from}/{id}/associations/default/{to}/{toId}`: the unlabeled
    /// association, both ways. Repeating it changes nothing.
    pub async fn associate_default(
        &self,
        from: &HubSpotId,
        to: &HubSpotId,
    ) -> Result<(), HubSpotError> {
        let path = [
            "crm",
            "objects",
            API_VERSION,
            self.from.as_str(),
            from.as_str(),
            "associations",
            "default",
            self.to.as_str(),
            to.as_str(),
        ];
        self.client
            .send(
                Method::PUT,
                &path,
                &[],
                None::<&()>,
                Bucket::Default,
                Repeatable::Yes,
            )
            .await?;
        Ok(())
    }

    /// `POST .../batch/create` in calls of 100 (a primary type brings the unlabeled one).
    pub async fn batch_create(&self, inputs: &[AssociationInput]) -> BatchResult<AssociatedPair> {
        let path = self.batch_path("create");
        self.client
            .run_batches(&path, "create", inputs, &[], Repeatable::Yes, |chunk| {
                BatchInputs { inputs: chunk }
            })
            .await
    }

    /// `POST .../batch/associate/default` in calls of 100: the unlabeled association of each
    /// pair, both ways (repeating it changes nothing).
    pub async fn batch_associate_default(
        &self,
        pairs: &[(HubSpotId, HubSpotId)],
    ) -> BatchResult<serde::de::IgnoredAny> {
        let inputs: Vec<DefaultPair> = pairs
            .iter()
            .map(|(from, to)| DefaultPair {
                from: ObjectRef { id: from.clone() },
                to: ObjectRef { id: to.clone() },
            })
            .collect();
        let mut path = self.batch_path("associate");
        path.push("default");
        self.client
            .run_batches(&path, "associate", &inputs, &[], Repeatable::Yes, |chunk| {
                BatchInputs { inputs: chunk }
            })
            .await
    }

    /// `POST .../batch/archive` in calls of 100: every association type between each pair is
    /// removed (HubSpot answers 204, whatever existed, so repeating it changes nothing).
    pub async fn batch_archive(
        &self,
        pairs: &[(HubSpotId, HubSpotId)],
    ) -> BatchResult<serde::de::IgnoredAny> {
        let inputs: Vec<ArchiveInput> = pairs
            .iter()
            .map(|(from, to)| ArchiveInput {
                from: ObjectRef { id: from.clone() },
                to: vec![ObjectRef { id: to.clone() }],
            })
            .collect();
        let path = self.batch_path("archive");
        self.client
            .run_batches(&path, "archive", &inputs, &[], Repeatable::Yes, |chunk| {
                BatchInputs { inputs: chunk }
            })
            .await
    }

    /// `POST .../batch/read`: each record's associations of the other type.
    pub async fn batch_read(&self, ids: &[HubSpotId]) -> BatchResult<RecordAssociations> {
        let refs: Vec<ObjectRef> = ids.iter().map(|id| ObjectRef { id: id.clone() }).collect();
        let path = self.batch_path("read");
        self.client
            .run_batches(&path, "read", &refs, &[], Repeatable::Yes, |chunk| {
                BatchInputs { inputs: chunk }
            })
            .await
    }
}
