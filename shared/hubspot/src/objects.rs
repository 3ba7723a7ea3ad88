//! One object type's CRM API on HubSpot's dated paths (`/crm/objects/2026-09/{objectType}`,
//! `/crm/properties/2026-09/{objectType}`): records (create, get, update, archive, list, batch
//! read / create / update / upsert / archive, search with windowing past 10,000 results, merge)
//! and properties. Companies and contacts share it; every path is built from [`API_VERSION`].

use crate::batch::{BatchInputs, BatchResult};
use crate::client::{HubSpotClient, ListAnswer, ListOptions, Page, Repeatable, read_query};
use crate::error::HubSpotError;
use crate::properties::{Property, PropertyCreate, PropertyGroup, PropertyGroupCreate};
use crate::rate_budget::Bucket;
use crate::record::{
    BatchCreateInput, BatchUpdateInput, BatchUpsertInput, HubSpotId, HubSpotRecord, ReadOptions,
    RecordLookup, UpsertedRecord,
};
use crate::search::{SearchAnswer, SearchPage, SearchRequest, SearchWindow};
use futures::Stream;
use reqwest::Method;
use serde::Serialize;
use std::collections::BTreeMap;
pub use warp_domain::sync::{CrmObject, ObjectType};

/// The version of HubSpot's CRM API every path is built with (a new one each March and
/// September; each is supported for 18 months, docs/hubspot/PLATFORM-2026.md).
pub const API_VERSION: &str = "2026-09";

/// The CRM API of one object type, borrowed from a [`HubSpotClient`]
/// (`client.objects(ObjectType::Contacts)`, or `client.companies()`).
#[derive(Clone, Copy, Debug)]
pub struct Objects<'a> {
    client: &'a HubSpotClient,
    object: CrmObject,
}

impl HubSpotClient {
    /// The CRM API of `object`.
    pub fn objects(&self, object: impl Into<CrmObject>) -> Objects<'_> {
        Objects {
            client: self,
            object: object.into(),
        }
    }

    /// `self.objects(ObjectType::Companies)`.
    pub fn companies(&self) -> Objects<'_> {
        self.objects(ObjectType::Companies)
    }

    /// `self.objects(ObjectType::Contacts)`.
    pub fn contacts(&self) -> Objects<'_> {
        self.objects(ObjectType::Contacts)
    }

    /// `self.objects(CrmObject::Deals)`: read only (deals are mirrored from HubSpot).
    pub fn deals(&self) -> Objects<'_> {
        self.objects(CrmObject::Deals)
    }
}

impl<'a> Objects<'a> {
    pub fn object_type(&self) -> CrmObject {
        self.object
    }

    /// `crm/objects/{API_VERSION}/{objectType}/{tail...}`.
    fn records<'s>(&self, tail: &[&'s str]) -> Vec<&'s str> {
        let mut path = vec!["crm", "objects", API_VERSION, self.object.as_str()];
        path.extend_from_slice(tail);
        path
    }

    /// `crm/properties/{API_VERSION}/{objectType}/{tail...}`.
    fn properties<'s>(&self, tail: &[&'s str]) -> Vec<&'s str> {
        let mut path = vec!["crm", "properties", API_VERSION, self.object.as_str()];
        path.extend_from_slice(tail);
        path
    }

    // ----- records -----

    /// `POST /crm/objects/2026-09/{objectType}`. Not retried after a failure that may have created it.
    pub async fn create(
        &self,
        properties: &BTreeMap<String, String>,
    ) -> Result<HubSpotRecord, HubSpotError> {
        #[derive(Serialize)]
        struct Create<'a> {
            properties: &'a BTreeMap<String, String>,
            associations: [(); 0],
        }
        let body = Create {
            properties,
            associations: [],
        };
        self.client
            .call(
                Method::POST,
                &self.records(&[]),
                &[],
                Some(&body),
                Bucket::Default,
                Repeatable::OnlyIfNotApplied,
            )
            .await
    }

    /// `GET /crm/objects/2026-09/{objectType}/{id}` (or by a unique property). `None` when absent.
    pub async fn get(
        &self,
        lookup: &RecordLookup,
        options: &ReadOptions,
    ) -> Result<Option<HubSpotRecord>, HubSpotError> {
        let (segment, id_property) = lookup.path_and_id_property();
        let mut query = read_query(options);
        if let Some(property) = id_property {
            query.push(("idProperty", property.to_owned()));
        }
        let path = self.records(&[segment]);
        self.client.get_if_exists(&path, &query).await
    }

    /// `PATCH /crm/objects/2026-09/{objectType}/{id}`; an empty string clears a property.
    pub async fn update(
        &self,
        lookup: &RecordLookup,
        properties: &BTreeMap<String, String>,
    ) -> Result<HubSpotRecord, HubSpotError> {
        let (segment, id_property) = lookup.path_and_id_property();
        let query: Vec<(&str, String)> = id_property
            .map(|p| ("idProperty", p.to_owned()))
            .into_iter()
            .collect();
        let path = self.records(&[segment]);
        let body = serde_json::json!({ "properties": properties });
        self.client
            .call(
                Method::PATCH,
                &path,
                &query,
                Some(&body),
                Bucket::Default,
                Repeatable::Yes,
            )
            .await
    }

    /// `DELETE /crm/objects/2026-09/{objectType}/{id}`: archives (restorable for 90 days).
    pub async fn archive(&self, id: &HubSpotId) -> Result<(), HubSpotError> {
        let path = self.records(&[id.as_str()]);
        self.client
            .send(
                Method::DELETE,
                &path,
                &[],
                None::<&()>,
                Bucket::Default,
                Repeatable::Yes,
            )
            .await?;
        Ok(())
    }

    /// One page of `GET /crm/objects/2026-09/{objectType}`, asking only for the named properties.
    pub async fn list_page(
        &self,
        options: &ListOptions,
        after: Option<&str>,
    ) -> Result<Page<HubSpotRecord>, HubSpotError> {
        let mut query = vec![
            ("limit", options.limit.clamp(1, 100).to_string()),
            ("archived", options.archived.to_string()),
        ];
        query.extend(options.properties.iter().map(|p| ("properties", p.clone())));
        if let Some(after) = after {
            query.push(("after", after.to_owned()));
        }
        let answer: ListAnswer<HubSpotRecord> = self
            .client
            .call(
                Method::GET,
                &self.records(&[]),
                &query,
                None::<&()>,
                Bucket::Default,
                Repeatable::Yes,
            )
            .await?;
        Ok(Page {
            results: answer.results,
            next_after: answer.paging.and_then(|p| p.next).map(|n| n.after),
        })
    }

    /// Every record, page by page, following `paging.next.after` until the last page.
    pub fn list(
        self,
        options: ListOptions,
    ) -> impl Stream<Item = Result<Vec<HubSpotRecord>, HubSpotError>> + 'a {
        futures::stream::try_unfold(Some(None::<String>), move |cursor| {
            let options = options.clone();
            async move {
                let Some(after) = cursor else { return Ok(None) };
                let page = self.list_page(&options, after.as_deref()).await?;
                let next = page.next_after.map(Some);
                Ok(Some((page.results, next)))
            }
        })
    }

    /// `POST .../batch/read` by HubSpot id, or by a unique property when `id_property` is set.
    /// Ids not found are simply absent from the results (HubSpot may add them to `errors`).
    pub async fn batch_read(
        &self,
        ids: &[String],
        id_property: Option<&str>,
        options: &ReadOptions,
    ) -> BatchResult<HubSpotRecord> {
        #[derive(Serialize)]
        struct Id<'a> {
            id: &'a str,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Read<'a> {
            inputs: Vec<Id<'a>>,
            properties: &'a [String],
            properties_with_history: &'a [String],
            #[serde(skip_serializing_if = "Option::is_none")]
            id_property: Option<&'a str>,
        }
        let query: Vec<(&str, String)> = if options.archived {
            vec![("archived", "true".to_owned())]
        } else {
            Vec::new()
        };
        self.client
            .run_batches(
                &self.records(&["batch", "read"]),
                "read",
                ids,
                &query,
                Repeatable::Yes,
                |chunk| Read {
                    inputs: chunk.iter().map(|id| Id { id }).collect(),
                    properties: &options.properties,
                    properties_with_history: &options.properties_with_history,
                    id_property,
                },
            )
            .await
    }

    /// `POST .../batch/create` in calls of 100. Not retried after a failure that may have
    /// created records: prefer [`Self::batch_upsert`], which is safe to repeat.
    pub async fn batch_create(&self, inputs: &[BatchCreateInput]) -> BatchResult<HubSpotRecord> {
        self.client
            .run_batches(
                &self.records(&["batch", "create"]),
                "create",
                inputs,
                &[],
                Repeatable::OnlyIfNotApplied,
                |chunk| BatchInputs { inputs: chunk },
            )
            .await
    }

    /// `POST .../batch/update` in calls of 100.
    pub async fn batch_update(&self, inputs: &[BatchUpdateInput]) -> BatchResult<HubSpotRecord> {
        self.client
            .run_batches(
                &self.records(&["batch", "update"]),
                "update",
                inputs,
                &[],
                Repeatable::Yes,
                |chunk| BatchInputs { inputs: chunk },
            )
            .await
    }

    /// `POST .../batch/upsert` in calls of 100: creates records whose unique value is new,
    /// updates the others; each result says which (`created`, HubSpot's `new`).
    pub async fn batch_upsert(&self, inputs: &[BatchUpsertInput]) -> BatchResult<UpsertedRecord> {
        self.client
            .run_batches(
                &self.records(&["batch", "upsert"]),
                "upsert",
                inputs,
                &[],
                Repeatable::Yes,
                |chunk| BatchInputs { inputs: chunk },
            )
            .await
    }

    /// `POST .../batch/archive` in calls of 100 (HubSpot answers 204 without a body).
    pub async fn batch_archive(&self, ids: &[HubSpotId]) -> BatchResult<()> {
        #[derive(Serialize)]
        struct Id<'a> {
            id: &'a HubSpotId,
        }
        #[derive(Serialize)]
        struct Archive<'a> {
            inputs: Vec<Id<'a>>,
        }
        self.client
            .run_batches(
                &self.records(&["batch", "archive"]),
                "archive",
                ids,
                &[],
                Repeatable::Yes,
                |chunk| Archive {
                    inputs: chunk.iter().map(|id| Id { id }).collect(),
                },
            )
            .await
    }

    /// One page of `POST /crm/objects/2026-09/{objectType}/search`, paid from the search bucket.
    pub async fn search_page(&self, request: &SearchRequest) -> Result<SearchPage, HubSpotError> {
        request.check_limits()?;
        let path = self.records(&["search"]);
        let answer: SearchAnswer = self
            .client
            .call(
                Method::POST,
                &path,
                &[],
                Some(request),
                Bucket::Search,
                Repeatable::Yes,
            )
            .await?;
        Ok(answer.into())
    }

    /// Every record matching `request`, page by page, past HubSpot's 10,000-result cap: sorted
    /// by `hs_object_id` ascending, the query restarts above the last id before the cap.
    /// Search is eventually consistent: records written seconds ago may be missing.
    pub fn search_all(
        self,
        request: SearchRequest,
    ) -> Result<impl Stream<Item = Result<Vec<HubSpotRecord>, HubSpotError>> + 'a, HubSpotError>
    {
        let window = SearchWindow::new(request, self.client.search_result_cap)?;
        Ok(futures::stream::try_unfold(
            window,
            move |mut window| async move {
                let Some(request) = window.next_request() else {
                    return Ok(None);
                };
                let page = self.search_page(&request).await?;
                window.record_page(&page);
                Ok(Some((page.results, window)))
            },
        ))
    }

    /// `POST /crm/objects/2026-09/{objectType}/merge`: `merged` is folded into `primary`, which
    /// survives (HubSpot may answer with a new id: use the returned company's id).
    pub async fn merge(
        &self,
        primary: &HubSpotId,
        merged: &HubSpotId,
    ) -> Result<HubSpotRecord, HubSpotError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Merge<'a> {
            primary_object_id: &'a HubSpotId,
            object_id_to_merge: &'a HubSpotId,
        }
        let path = self.records(&["merge"]);
        let body = Merge {
            primary_object_id: primary,
            object_id_to_merge: merged,
        };
        self.client
            .call(
                Method::POST,
                &path,
                &[],
                Some(&body),
                Bucket::Default,
                Repeatable::OnlyIfNotApplied,
            )
            .await
    }

    // ----- properties -----

    /// `GET /crm/properties/2026-09/{objectType}`: every property of the object type.
    pub async fn list_properties(&self) -> Result<Vec<Property>, HubSpotError> {
        self.client.get_results(&self.properties(&[])).await
    }

    /// `GET /crm/properties/2026-09/{objectType}/{name}`; `None` when it does not exist.
    pub async fn get_property(&self, name: &str) -> Result<Option<Property>, HubSpotError> {
        let path = self.properties(&[name]);
        self.client.get_if_exists(&path, &[]).await
    }

    /// `POST /crm/properties/2026-09/{objectType}`; [`HubSpotError::Conflict`] when it exists. A retry
    /// after a lost answer meets that 409, so retrying is safe.
    pub async fn create_property(
        &self,
        property: &PropertyCreate,
    ) -> Result<Property, HubSpotError> {
        self.client
            .call(
                Method::POST,
                &self.properties(&[]),
                &[],
                Some(property),
                Bucket::Default,
                Repeatable::Yes,
            )
            .await
    }

    /// `GET /crm/properties/2026-09/{objectType}/groups`.
    pub async fn list_property_groups(&self) -> Result<Vec<PropertyGroup>, HubSpotError> {
        self.client.get_results(&self.properties(&["groups"])).await
    }

    /// `GET /crm/properties/2026-09/{objectType}/groups/{name}`; `None` when it does not exist.
    pub async fn get_property_group(
        &self,
        name: &str,
    ) -> Result<Option<PropertyGroup>, HubSpotError> {
        let path = self.properties(&["groups", name]);
        self.client.get_if_exists(&path, &[]).await
    }

    /// `POST /crm/properties/2026-09/{objectType}/groups`; [`HubSpotError::Conflict`] when it exists.
    pub async fn create_property_group(
        &self,
        group: &PropertyGroupCreate,
    ) -> Result<PropertyGroup, HubSpotError> {
        let path = self.properties(&["groups"]);
        self.client
            .call(
                Method::POST,
                &path,
                &[],
                Some(group),
                Bucket::Default,
                Repeatable::Yes,
            )
            .await
    }
}
