//! The HubSpot client: one reqwest client reused for every call, each call paid for from the
//! shared rate budget, answers read into typed records or a [`HubSpotError`], and retries
//! with jittered exponential backoff for failures that may pass (never for 4xx that cannot).

use crate::batch::{BATCH_INPUT_LIMIT, BatchAnswer, BatchResult, FailedBatchCall, batch_ranges};
use crate::config::HubSpotClientConfig;
use crate::credentials::{AccessTokens, AfterUnauthorized, StaticToken};
use crate::error::HubSpotError;
use crate::rate_budget::{Bucket, RateBudget, RateLimitObservation};
use crate::record::ReadOptions;
use crate::search::SEARCH_RESULT_CAP;
use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// Whether a request may be sent again after a failure that may have reached HubSpot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repeatable {
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
pub(crate) struct ListAnswer<T> {
    #[serde(default = "Vec::new")]
    pub(crate) results: Vec<T>,
    #[serde(default)]
    pub(crate) paging: Option<crate::search::Paging>,
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
    credentials: Arc<dyn AccessTokens>,
    portal_id: i64,
    max_retries: u32,
    budget: Arc<dyn RateBudget>,
    pub(crate) search_result_cap: usize,
    min_backoff: Duration,
}

impl std::fmt::Debug for HubSpotClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSpotClient")
            .field("base_url", &self.base_url.as_str())
            .field("portal_id", &self.portal_id)
            .field("credentials", &self.credentials)
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
        let http = warp_runtime::https::client_builder()
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
            credentials: Arc::new(StaticToken::new(config.token.clone())),
            portal_id: config.portal_id,
            max_retries: config.max_retries,
            budget,
            search_result_cap: SEARCH_RESULT_CAP,
            min_backoff: Duration::from_millis(200),
        }
    }

    /// Takes tokens from `credentials` (an OAuth installation) instead of the configured one.
    pub fn with_credentials(mut self, credentials: Arc<dyn AccessTokens>) -> Self {
        self.credentials = credentials;
        self
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

    // ----- machinery -----

    /// Sends `inputs` in calls of at most 100, one after another (the budget paces them),
    /// gathering results, per-input errors and whole-call failures.
    pub(crate) async fn run_batches<'i, I, B, T>(
        &self,
        path: &[&str],
        operation: &str,
        inputs: &'i [I],
        query: &[(&str, String)],
        repeatable: Repeatable,
        body_of: impl Fn(&'i [I]) -> B,
    ) -> BatchResult<T>
    where
        B: Serialize,
        T: DeserializeOwned,
    {
        let mut outcome = BatchResult::default();
        for range in batch_ranges(inputs.len(), BATCH_INPUT_LIMIT) {
            let body = body_of(&inputs[range.clone()]);
            outcome.calls += 1;
            let answer = match self
                .send(
                    Method::POST,
                    path,
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

    /// A GET of a `{"results": [...]}` list without paging (properties, groups, pipelines).
    pub(crate) async fn get_results<T: DeserializeOwned>(
        &self,
        path: &[&str],
    ) -> Result<Vec<T>, HubSpotError> {
        let list: crate::properties::ResultsList<T> = self
            .call(
                Method::GET,
                path,
                &[],
                None::<&()>,
                Bucket::Default,
                Repeatable::Yes,
            )
            .await?;
        Ok(list.results)
    }

    /// A GET whose 404 means "there is none" rather than an error.
    pub(crate) async fn get_if_exists<T: DeserializeOwned>(
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

    pub(crate) async fn call<B, T>(
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
    pub(crate) async fn send<B>(
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
        let mut refreshed_after_401 = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let token = self.credentials.token().await?;
            let error = match self
                .attempt(&method, &url, query, body.as_deref(), bucket, &token)
                .await
            {
                Ok(bytes) => return Ok(bytes),
                Err(error) => error,
            };
            // A 401 is refused before anything is applied: one more try with a fresh token,
            // when the source has one (an OAuth token refreshed by another process).
            if matches!(error, HubSpotError::Unauthorized { status: 401, .. })
                && !refreshed_after_401
            {
                refreshed_after_401 = true;
                if self.credentials.unauthorized(&token).await? == AfterUnauthorized::Retry {
                    continue;
                }
            }
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
        token: &SecretString,
    ) -> Result<bytes::Bytes, HubSpotError> {
        self.budget
            .acquire(bucket)
            .await
            .map_err(|e| HubSpotError::Budget(e.to_string()))?;
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token.expose_secret())
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

    /// A GET of a pre-signed link (a journal file): no bearer token, no budget. Transport
    /// failures and 5xx are tried again with the same backoff as HubSpot's API.
    pub(crate) async fn fetch_unauthenticated(
        &self,
        url: url::Url,
    ) -> Result<bytes::Bytes, HubSpotError> {
        let mut backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_backoff)
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(self.max_retries as usize)
            .build();
        loop {
            let error = match self.http.get(url.clone()).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let bytes = response.bytes().await?;
                    if (200..300).contains(&status) {
                        return Ok(bytes);
                    }
                    HubSpotError::from_response(status, None, &bytes)
                }
                Err(error) => HubSpotError::from(error),
            };
            match backoff.next() {
                Some(delay) if error.is_retryable() => tokio::time::sleep(delay).await,
                _ => return Err(error),
            }
        }
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

pub(crate) fn read_query(options: &ReadOptions) -> Vec<(&'static str, String)> {
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

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HubSpotError> {
    serde_json::from_slice(bytes).map_err(|e| HubSpotError::Decode(e.to_string()))
}
