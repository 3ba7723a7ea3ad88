//! A typed client for HubSpot's CRM object and property APIs on the dated paths
//! ([`API_VERSION`]), paced by a rate budget shared across processes, plus the idempotent
//! bootstrap of WARP's properties.
//!
//! - [`HubSpotClient::objects`] (or `companies()`, `contacts()`): one object type's records
//!   (create, get, update, archive, list, batch read / create / update / upsert / archive,
//!   search with windowing past 10,000 results, merge) and properties and property groups.
//! - [`RateBudget`]: [`PostgresRateBudget`] (one row per portal and bucket, shared by every
//!   Lambda instance) or [`InProcessRateBudget`].
//! - [`ensure_warp_properties`]: the `warp` group and `warp_*` properties of DESIGN.md §3.

pub mod associations;
pub mod batch;
pub mod bootstrap;
pub mod client;
pub mod config;
pub mod credentials;
pub mod custom_events;
pub mod error;
pub mod journal;
pub mod objects;
pub mod pipelines;
pub mod properties;
pub mod rate_budget;
pub mod record;
pub mod schemas;
pub mod search;

pub use associations::{
    AssociatedPair, AssociatedRecord, AssociationInput, AssociationSpec, Associations,
    RecordAssociations, type_ids,
};
pub use batch::{BATCH_INPUT_LIMIT, BatchItemError, BatchResult, FailedBatchCall};
pub use bootstrap::{
    BootstrapReport, WARP_BAN_PROPERTY, WARP_CALL_ID_PROPERTY, WARP_EVENT_ID_PROPERTY,
    WARP_TICKET_ID_PROPERTY, WARP_USER_ID_PROPERTY, ensure_warp_properties, property_definitions,
    warp_property_definitions,
};
pub use client::{HubSpotClient, ListOptions, Page};
pub use config::{ConfigError, HubSpotClientConfig, RateLimitSettings};
pub use credentials::{AccessTokens, AfterUnauthorized, CredentialsError, StaticToken};
pub use custom_events::{
    CustomEventSend, EventDefinition, EventDefinitionCreate, EventPropertyCreate,
    MAX_EVENTS_PER_SEND,
};
pub use error::{ErrorBody, ErrorDetail, HubSpotError};
pub use journal::{
    JournalEntry, JournalPosition, JournalSubscription, MAX_ENTRIES_PER_READ,
    ObjectSubscriptionRequest,
};
pub use objects::{API_VERSION, CrmObject, ObjectType, Objects};
pub use pipelines::{Pipeline, PipelineStage};
pub use properties::{
    FieldType, ModificationMetadata, Property, PropertyCreate, PropertyGroup, PropertyGroupCreate,
    PropertyOption, PropertyType,
};
pub use rate_budget::{
    Admission, Bucket, BucketShape, BudgetError, InProcessRateBudget, PostgresRateBudget,
    RateBudget, RateLimitObservation,
};
pub use record::{
    BatchCreateInput, BatchUpdateInput, BatchUpsertInput, HubSpotId, HubSpotRecord,
    InvalidHubSpotId, PropertyVersion, ReadOptions, RecordLookup, UpsertedRecord,
};
pub use search::{
    Filter, FilterGroup, Operator, SearchPage, SearchRequest, SearchWindow, Sort, SortDirection,
};
