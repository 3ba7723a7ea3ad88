//! The HubSpot client: one reqwest client reused for every call, each call paid for from the
//! shared rate budget, answers read into typed records or a [`HubSpotError`], and retries
//! with jittered exponential backoff for failures that may pass (never for 4xx that cannot).

use crate::batch::{
    BATCH_INPUT_LIMIT, BatchAnswer, BatchInputs, BatchResult, FailedBatchCall, batch_ranges,
};
use crate::company::{
    BatchCreateInput, BatchUpdateInput, BatchUpsertInput, Company, CompanyId, CompanyLookup,
    ReadOptions, UpsertedCompany,
};
use crate::config::HubSpotClientConfig;
use crate::error::HubSpotError;
use crate::properties::{
    Property, PropertyCreate, PropertyGroup, PropertyGroupCreate, ResultsList,
};
use crate::rate_budget::{Bucket, RateBudget, RateLimitObservation};
use crate::search::{SEARCH_RESULT_CAP, SearchAnswer, SearchPage, SearchRequest, SearchWindow};
use backon::{BackoffBuilder, ExponentialBuilder};
use futures::Stream;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const COMPANIES: &[&str] = &["crm", "v3", "objects", "companies"];
const COMPANY_PROPERTIES: &[&str] = &["crm", "v3", "properties", "companies"];

/// Whether a request may be sent again after a failure that may have reached HubSpot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Repeatable {
    /// Reads, updates, upserts, archives: sending twice has the effect of sending once.
    Yes,
    /// Creates and merges: only retried when HubSpot surely did not act (429, 423).
    OnlyIfNotApplied,
}

/// One page of a cursor-paged list.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub results: Vec<T>,
    /// Cursor of the next page; `None` on the last.
    pub next_after: Option<String>,
}

#[derive(serde::Deserialize)]
struct ListAnswer<T> {
    #[serde(default = "Vec::new")]
    results: Vec<T>,
    #[serde(default)]
    paging: Option<crate::search::Paging>,
}

/// What to list and how many per page (HubSpot allows up to 100).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListOptions {
    pub properties: Vec<String>,
    pub limit: u32,
    pub archived: bool,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            properties: Vec::new(),
            limit: 100,
            archived: false,
        }
    }
}

/// A HubSpot CRM client for one portal. Cheap to share behind an `Arc`; build it once per
/// process (it holds the connection pool). Clones share the pool and the rate budget.
#[derive(Clone)]
pub struct HubSpotClient {
    http: reqwest::Client,
    base_url: url::Url,
    token: SecretString,
    portal_id: i64,
    max_retries: u32,
    budget: Arc<dyn RateBudget>,
    search_result_cap: usize,
    min_backoff: Duration,
}

impl std::fmt::Debug for HubSpotClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSpotClient")
            .field("base_url", &self.base_url.as_str())
            .field("portal_id", &self.portal_id)
            .field("max_retries", &self.max_retries)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl HubSpotClient {
    /// Builds the HTTP client (rustls, the configured timeout) and takes requests from `budget`.
    pub fn new(
        config: &HubSpotClientConfig,
        budget: Arc<dyn RateBudget>,
    ) -> Result<Self, HubSpotError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("warp-hubspot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HubSpotError::Transport(format!("building the HTTP client: {e}")))?;
        Ok(Self::with_http_client(config, http, budget))
    }

    /// Uses an existing reqwest client (to share one pool with other callers). Its timeout is
    /// the caller's choice.
    pub fn with_http_client(
        config: &HubSpotClientConfig,
        http: reqwest::Client,
        budget: Arc<dyn RateBudget>,
    ) -> Self {
        Self {
            http,
            base_url: config.base_url.clone(),
            token: config.token.clone(),
            portal_id: config.portal_id,
            max_retries: config.max_retries,
            budget,
            search_result_cap: SEARCH_RESULT_CAP,
            min_backoff: Duration::from_millis(200),
        }
    }

    /// Lowers the 10,000-result search cap the windowing respects (tests with small data).
    pub fn with_search_result_cap(mut self, cap: usize) -> Self {
        self.search_result_cap = cap.max(1);
        self
    }

    /// The first backoff delay (200 ms by default); later ones double, with jitter, up to 10 s.
    pub fn with_min_backoff(mut self, delay: Duration) -> Self {
        self.min_backoff = delay;
        self
    }

    pub fn portal_id(&self) -> i64 {
        self.portal_id
    }

    pub fn budget(&self) -> &Arc<dyn RateBudget> {
        &self.budget
    }

    // ----- companies -----

    /// `POST /crm/v3/objects/companies`. Not retried after a failure that may have created it.
    pub async fn create_company(
        &self,
        properties: &BTreeMap<String, String>,
    ) -> Result<Company, HubSpotError> {
        #[derive(Serialize)]
        struct Create<'a> {
            properties: &'a BTreeMap<String, String>,
            associations: [(); 0],
        }
        let body = Create {
            properties,
            associations: [],
        };
        self.call(
            Method::POST,
            COMPANIES,
            &[],
            Some(&body),
            Bucket::Default,
            Repeatable::OnlyIfNotApplied,
        )
        .await
    }

    /// `GET /crm/v3/objects/companies/{id}` (or by a unique property). `None` when absent.
    pub async fn get_company(
        &self,
        lookup: &CompanyLookup,
        options: &ReadOptions,
    ) -> Result<Option<Company>, HubSpotError> {
        let (segment, id_property) = lookup.path_and_id_property();
        let mut query = read_query(options);
        if let Some(property) = id_property {
            query.push(("idProperty", property.to_owned()));
        }
        let path = [COMPANIES, &[segment]].concat();
        self.get_if_exists(&path, &query).await
    }

    /// `PATCH /crm/v3/objects/companies/{id}`; an empty string clears a property.
    pub async fn update_company(
        &self,
        lookup: &CompanyLookup,
        properties: &BTreeMap<String, String>,
    ) -> Result<Company, HubSpotError> {
        let (segment, id_property) = lookup.path_and_id_property();
        let query: Vec<(&str, String)> = id_property
            .map(|p| ("idProperty", p.to_owned()))
            .into_iter()
            .collect();
        let path = [COMPANIES, &[segment]].concat();
        let body = serde_json::json!({ "properties": properties });
        self.call(
            Method::PATCH,
            &path,
            &query,
            Some(&body),
            Bucket::Default,
            Repeatable::Yes,
        )
        .await
    }

    /// `DELETE /crm/v3/objects/companies/{id}`: archives (restorable for 90 days).
    pub async fn archive_company(&self, id: &CompanyId) -> Result<(), HubSpotError> {
        let path = [COMPANIES, &[id.as_str()]].concat();
        self.send(
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

    /// One page of `GET /crm/v3/objects/companies`, asking only for the named properties.
    pub async fn list_companies_page(
        &self,
        options: &ListOptions,
        after: Option<&str>,
    ) -> Result<Page<Company>, HubSpotError> {
        let mut query = vec![
            ("limit", options.limit.clamp(1, 100).to_string()),
            ("archived", options.archived.to_string()),
        ];
        query.extend(options.properties.iter().map(|p| ("properties", p.clone())));
        if let Some(after) = after {
            query.push(("after", after.to_owned()));
        }
        let answer: ListAnswer<Company> = self
            .call(
                Method::GET,
                COMPANIES,
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

    /// Every company, page by page, following `paging.next.after` until the last page.
    pub fn list_companies(
        &self,
        options: ListOptions,
    ) -> impl Stream<Item = Result<Vec<Company>, HubSpotError>> + '_ {
        futures::stream::try_unfold(Some(None::<String>), move |cursor| {
            let options = options.clone();
            async move {
                let Some(after) = cursor else { return Ok(None) };
                let page = self.list_companies_page(&options, after.as_deref()).await?;
                let next = page.next_after.map(Some);
                Ok(Some((page.results, next)))
            }
        })
    }

    /// `POST .../batch/read` by HubSpot id, or by a unique property when `id_property` is set.
    /// Ids not found are simply absent from the results (HubSpot may add them to `errors`).
    pub async fn batch_read_companies(
        &self,
        ids: &[String],
        id_property: Option<&str>,
        options: &ReadOptions,
    ) -> BatchResult<Company> {
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
        self.run_batches("read", ids, &query, Repeatable::Yes, |chunk| Read {
            inputs: chunk.iter().map(|id| Id { id }).collect(),
            properties: &options.properties,
            properties_with_history: &options.properties_with_history,
            id_property,
        })
        .await
    }

    /// `POST .../batch/create` in calls of 100. Not retried after a failure that may have
    /// created companies: prefer [`Self::batch_upsert_companies`], which is safe to repeat.
    pub async fn batch_create_companies(
        &self,
        inputs: &[BatchCreateInput],
    ) -> BatchResult<Company> {
        self.run_batches(
            "create",
            inputs,
            &[],
            Repeatable::OnlyIfNotApplied,
            |chunk| BatchInputs { inputs: chunk },
        )
        .await
    }

    /// `POST .../batch/update` in calls of 100.
    pub async fn batch_update_companies(
        &self,
        inputs: &[BatchUpdateInput],
    ) -> BatchResult<Company> {
        self.run_batches("update", inputs, &[], Repeatable::Yes, |chunk| {
            BatchInputs { inputs: chunk }
        })
        .await
    }

    /// `POST .../batch/upsert` in calls of 100: creates companies whose unique value is new,
    /// updates the others; each result says which (`created`, HubSpot's `new`).
    pub async fn batch_upsert_companies(
        &self,
        inputs: &[BatchUpsertInput],
    ) -> BatchResult<UpsertedCompany> {
        self.run_batches("upsert", inputs, &[], Repeatable::Yes, |chunk| {
            BatchInputs { inputs: chunk }
        })
        .await
    }

    /// `POST .../batch/archive` in calls of 100 (HubSpot answers 204 without a body).
    pub async fn batch_archive_companies(&self, ids: &[CompanyId]) -> BatchResult<()> {
        #[derive(Serialize)]
        struct Id<'a> {
            id: &'a CompanyId,
        }
        #[derive(Serialize)]
        struct Archive<'a> {
            inputs: Vec<Id<'a>>,
        }
        self.run_batches("archive", ids, &[], Repeatable::Yes, |chunk| Archive {
            inputs: chunk.iter().map(|id| Id { id }).collect(),
        })
        .await
    }

    /// One page of `POST /crm/v3/objects/companies/search`, paid from the search bucket.
    pub async fn search_companies_page(
        &self,
        request: &SearchRequest,
    ) -> Result<SearchPage, HubSpotError> {
        request.check_limits()?;
        let path = [COMPANIES, &["search"]].concat();
        let answer: SearchAnswer = self
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

    /// Every company matching `request`, page by page, past HubSpot's 10,000-result cap: sorted
    /// by `hs_object_id` ascending, the query restarts above the last id before the cap.
    /// Search is eventually consistent: companies written seconds ago may be missing.
    pub fn search_all_companies(
        &self,
        request: SearchRequest,
    ) -> Result<impl Stream<Item = Result<Vec<Company>, HubSpotError>> + '_, HubSpotError> {
        let window = SearchWindow::new(request, self.search_result_cap)?;
        Ok(futures::stream::try_unfold(
            window,
            move |mut window| async move {
                let Some(request) = window.next_request() else {
                    return Ok(None);
                };
                let page = self.search_companies_page(&request).await?;
                window.record_page(&page);
                Ok(Some((page.results, window)))
            },
        ))
    }

    /// `POST /crm/v3/objects/companies/merge`: `merged` is folded into `primary`, which
    /// survives (HubSpot may answer with a new id: use the returned company's id).
    pub async fn merge_companies(
        &self,
        primary: &CompanyId,
        merged: &CompanyId,
    ) -> Result<Company, HubSpotError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Merge<'a> {
            primary_object_id: &'a CompanyId,
            object_id_to_merge: &'a CompanyId,
        }
        let path = [COMPANIES, &["merge"]].concat();
        let body = Merge {
            primary_object_id: primary,
            object_id_to_merge: merged,
        };
        self.call(
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

    /// `GET /crm/v3/properties/companies`: every company property.
    pub async fn list_company_properties(&self) -> Result<Vec<Property>, HubSpotError> {
        let list: ResultsList<Property> = self
            .call(
                Method::GET,
                COMPANY_PROPERTIES,
                &[],
                None::<&()>,
                Bucket::Default,
                Repeatable::Yes,
            )
            .await?;
        Ok(list.results)
    }

    /// `GET /crm/v3/properties/companies/{name}`; `None` when it does not exist.
    pub async fn get_company_property(&self, name: &str) -> Result<Option<Property>, HubSpotError> {
        let path = [COMPANY_PROPERTIES, &[name]].concat();
        self.get_if_exists(&path, &[]).await
    }

    /// `POST /crm/v3/properties/companies`; [`HubSpotError::Conflict`] when it exists. A retry
    /// after a lost answer meets that 409, so retrying is safe.
    pub async fn create_company_property(
        &self,
        property: &PropertyCreate,
    ) -> Result<Property, HubSpotError> {
        self.call(
            Method::POST,
            COMPANY_PROPERTIES,
            &[],
            Some(property),
            Bucket::Default,
            Repeatable::Yes,
        )
        .await
    }

    /// `GET /crm/v3/properties/companies/groups`.
    pub async fn list_company_property_groups(&self) -> Result<Vec<PropertyGroup>, HubSpotError> {
        let path = [COMPANY_PROPERTIES, &["groups"]].concat();
        let list: ResultsList<PropertyGroup> = self
            .call(
                Method::GET,
                &path,
                &[],
                None::<&()>,
                Bucket::Default,
                Repeatable::Yes,
            )
            .await?;
        Ok(list.results)
    }

    /// `GET /crm/v3/properties/companies/groups/{name}`; `None` when it does not exist.
    pub async fn get_company_property_group(
        &self,
        name: &str,
    ) -> Result<Option<PropertyGroup>, HubSpotError> {
        let path = [COMPANY_PROPERTIES, &["groups", name]].concat();
        self.get_if_exists(&path, &[]).await
    }

    /// `POST /crm/v3/properties/companies/groups`; [`HubSpotError::Conflict`] when it exists.
    pub async fn create_company_property_group(
        &self,
        group: &PropertyGroupCreate,
    ) -> Result<PropertyGroup, HubSpotError> {
        let path = [COMPANY_PROPERTIES, &["groups"]].concat();
        self.call(
            Method::POST,
            &path,
            &[],
            Some(group),
            Bucket::Default,
            Repeatable::Yes,
        )
        .await
    }

    // ----- machinery -----

    /// Sends `inputs` in calls of at most 100, one after another (the budget paces them),
    /// gathering results, per-input errors and whole-call failures.
    async fn run_batches<'a, I, B, T>(
        &self,
        operation: &str,
        inputs: &'a [I],
        query: &[(&str, String)],
        repeatable: Repeatable,
        body_of: impl Fn(&'a [I]) -> B,
    ) -> BatchResult<T>
    where
        B: Serialize,
        T: DeserializeOwned,
    {
        let path = [COMPANIES, &["batch", operation]].concat();
        let mut outcome = BatchResult::default();
        for range in batch_ranges(inputs.len(), BATCH_INPUT_LIMIT) {
            let body = body_of(&inputs[range.clone()]);
            outcome.calls += 1;
            let answer = match self
                .send(
                    Method::POST,
                    &path,
                    query,
                    Some(&body),
                    Bucket::Default,
                    repeatable,
                )
                .await
            {
                Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(BatchAnswer {
                    results: Vec::new(),
                    errors: Vec::new(),
                }),
                Ok(bytes) => decode::<BatchAnswer<T>>(&bytes),
                Err(error) => Err(error),
            };
            match answer {
                Ok(answer) => outcome.absorb(answer),
                Err(error) => {
                    tracing::warn!(operation, inputs = range.len(), error = %error, "HubSpot batch call failed");
                    outcome.failed_calls.push(FailedBatchCall {
                        inputs: range,
                        error,
                    });
                }
            }
        }
        outcome
    }

    /// A GET whose 404 means "there is none" rather than an error.
    async fn get_if_exists<T: DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, String)],
    ) -> Result<Option<T>, HubSpotError> {
        match self
            .call(
                Method::GET,
                path,
                query,
                None::<&()>,
                Bucket::Default,
                Repeatable::Yes,
            )
            .await
        {
            Ok(found) => Ok(Some(found)),
            Err(HubSpotError::NotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    async fn call<B, T>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
        bucket: Bucket,
        repeatable: Repeatable,
    ) -> Result<T, HubSpotError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let bytes = self
            .send(method, path, query, body, bucket, repeatable)
            .await?;
        decode(&bytes)
    }

    /// Sends one request, retrying what may pass: 429 after the budget's block (not counted
    /// against the backoff), 423, 5xx, timeouts and transport failures with jittered
    /// exponential backoff, up to `max_retries` times; creates only when nothing was applied.
    async fn send<B>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
        bucket: Bucket,
        repeatable: Repeatable,
    ) -> Result<bytes::Bytes, HubSpotError>
    where
        B: Serialize + ?Sized,
    {
        let url = self.url(path)?;
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| HubSpotError::InvalidRequest(e.to_string()))?;
        let mut backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_backoff)
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(self.max_retries as usize)
            .build();
        let mut rate_limited_retries = 0u32;
        let max_rate_limited_retries = self.max_retries.saturating_mul(4);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let error = match self
                .attempt(&method, &url, query, body.as_deref(), bucket)
                .await
            {
                Ok(bytes) => return Ok(bytes),
                Err(error) => error,
            };
            let may_repeat = repeatable == Repeatable::Yes || error.request_was_not_applied();
            if !error.is_retryable() || !may_repeat {
                return Err(error);
            }
            let delay = if matches!(error, HubSpotError::RateLimited { .. }) {
                // The budget now blocks the bucket for Retry-After or the interval; the next
                // acquire waits that out, for every process sharing the budget.
                rate_limited_retries += 1;
                if rate_limited_retries > max_rate_limited_retries {
                    return Err(error);
                }
                Duration::ZERO
            } else {
                match backoff.next() {
                    Some(delay) => delay.max(error.retry_after().unwrap_or_default()),
                    None => return Err(error),
                }
            };
            tracing::debug!(%method, path = url.path(), attempt, delay_ms = delay.as_millis() as u64, error = %error, "retrying HubSpot call");
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &url::Url,
        query: &[(&str, String)],
        body: Option<&[u8]>,
        bucket: Bucket,
    ) -> Result<bytes::Bytes, HubSpotError> {
        self.budget
            .acquire(bucket)
            .await
            .map_err(|e| HubSpotError::Budget(e.to_string()))?;
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(self.token.expose_secret())
            .header(http::header::ACCEPT, "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let mut observation = RateLimitObservation::from_headers(status, response.headers());
        let bytes = response.bytes().await?;
        let outcome = if (200..300).contains(&status) {
            Ok(bytes)
        } else {
            let error = HubSpotError::from_response(status, observation.retry_after, &bytes);
            if let HubSpotError::RateLimited { policy, .. } = &error {
                observation.policy_name = policy.clone();
            }
            Err(error)
        };
        let worth_telling = observation.is_rate_limited() || observation.remaining.is_some();
        if worth_telling
            && let Err(budget_error) = self.budget.on_response(bucket, &observation).await
        {
            // The answer stands: failing a write HubSpot accepted would only cause a retry.
            tracing::warn!(error = %budget_error, "could not record HubSpot's rate-limit headers");
        }
        tracing::debug!(%method, path = url.path(), status, "HubSpot answered");
        outcome
    }

    fn url(&self, segments: &[&str]) -> Result<url::Url, HubSpotError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|_| {
                HubSpotError::InvalidRequest(format!(
                    "base URL {} cannot take a path",
                    self.base_url
                ))
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }
}

fn read_query(options: &ReadOptions) -> Vec<(&'static str, String)> {
    let mut query: Vec<(&str, String)> = options
        .properties
        .iter()
        .map(|p| ("properties", p.clone()))
        .collect();
    query.extend(
        options
            .properties_with_history
            .iter()
            .map(|p| ("propertiesWithHistory", p.clone())),
    );
    if options.archived {
        query.push(("archived", "true".to_owned()));
    }
    query
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HubSpotError> {
    serde_json::from_slice(bytes).map_err(|e| HubSpotError::Decode(e.to_string()))
}
