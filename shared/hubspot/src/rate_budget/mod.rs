//! The rate budget: one allowance of HubSpot requests per portal, shared by every process that
//! calls HubSpot for it. A token bucket per (portal, bucket), shaped so that no rolling window
//! of HubSpot's interval ever sees more than HubSpot's limit, and corrected by what HubSpot
//! reports (rate-limit headers, 429s).
//!
//! Two implementations of [`RateBudget`]: [`PostgresRateBudget`] (a row taken atomically, for
//! Lambda instances running at once) and [`InProcessRateBudget`] (tests, CLI, one process).

mod in_process;
mod postgres;

pub use in_process::InProcessRateBudget;
pub use postgres::PostgresRateBudget;

use crate::config::RateLimitSettings;
use http::HeaderMap;
use rand::Rng;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed future, so `dyn RateBudget` works (async trait methods are not dyn-compatible).
pub type BudgetFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// HubSpot's separate allowances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    /// Every API call except search: `max_per_interval` per `interval`.
    Default,
    /// CRM search: `search_per_second` per second, and no rate-limit headers on its answers.
    Search,
}

impl Bucket {
    /// The name stored in `hubspot_rate_limit_budget.bucket`.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::Default => "default",
            Bucket::Search => "search",
        }
    }
}

/// What the budget answered: go now, or come back after a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Granted,
    Wait(Duration),
}

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error("rate budget store failed: {0}")]
    Store(String),
}

/// What one HubSpot answer says about the allowance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimitObservation {
    pub status: u16,
    /// X-HubSpot-RateLimit-Max.
    pub max: Option<u32>,
    /// X-HubSpot-RateLimit-Remaining: requests left in the current window after this one.
    pub remaining: Option<u32>,
    /// X-HubSpot-RateLimit-Interval-Milliseconds.
    pub interval: Option<Duration>,
    /// Retry-After on a 429.
    pub retry_after: Option<Duration>,
    /// `policyName` of a 429 body (`TEN_SECONDLY_ROLLING`, `DAILY`).
    pub policy_name: Option<String>,
}

impl RateLimitObservation {
    /// Reads the rate-limit headers of an answer.
    pub fn from_headers(status: u16, headers: &HeaderMap) -> Self {
        let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
        Self {
            status,
            max: number("x-hubspot-ratelimit-max").and_then(|v| u32::try_from(v).ok()),
            remaining: number("x-hubspot-ratelimit-remaining").and_then(|v| u32::try_from(v).ok()),
            interval: number("x-hubspot-ratelimit-interval-milliseconds")
                .map(Duration::from_millis),
            retry_after: headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::error::parse_retry_after),
            policy_name: None,
        }
    }

    pub fn is_rate_limited(&self) -> bool {
        self.status == 429
    }
}

/// A shared allowance of HubSpot requests.
pub trait RateBudget: Send + Sync + std::fmt::Debug {
    /// Takes one request from `bucket` if the budget has one now; otherwise says how long to wait.
    fn try_acquire(&self, bucket: Bucket) -> BudgetFuture<'_, Result<Admission, BudgetError>>;

    /// Learns from an answer: fewer remaining than we believed lowers our tokens; a 429
    /// blocks the bucket for Retry-After (or the rest of the interval) and is recorded.
    fn on_response<'a>(
        &'a self,
        bucket: Bucket,
        observation: &'a RateLimitObservation,
    ) -> BudgetFuture<'a, Result<(), BudgetError>>;

    /// Waits until a request may be sent in `bucket` and takes it.
    fn acquire(&self, bucket: Bucket) -> BudgetFuture<'_, Result<(), BudgetError>> {
        Box::pin(async move {
            loop {
                match self.try_acquire(bucket).await? {
                    Admission::Granted => return Ok(()),
                    Admission::Wait(wait) => tokio::time::sleep(jittered_wait(wait)).await,
                }
            }
        })
    }
}

/// The wait plus up to 10% (at least a few ms), so processes that were told the same wait do
/// not all come back at the same instant; capped so a long block is re-checked now and then.
fn jittered_wait(wait: Duration) -> Duration {
    let wait = wait.clamp(Duration::from_millis(2), Duration::from_secs(5));
    let spread = (wait.as_millis() as u64 / 10).max(3);
    wait + Duration::from_millis(rand::rng().random_range(0..=spread))
}

/// A bucket's shape, derived from a limit of `max` requests per `interval`: a token bucket
/// that paces requests, and a log of the grants that keeps any window of HubSpot's interval
/// at or under `max`.
///
/// HubSpot counts a rolling window. A token bucket alone (burst B, refill r) admits up to
/// B + r·I in a window of length I, so it must refill at (max − B) / I or slower: with a burst
/// of two that is 96% of the limit, which is what a long push (a backfill, a reconciliation)
/// ran at. The log of grants makes the window exact instead: no `max + 1` grants ever fall
/// within `window` (HubSpot's interval plus a margin of 2% + 20 ms for clock and network
/// jitter between our grant and HubSpot's count), so the bucket refills at the window's own
/// rate, max / window (97.8% of the limit for 100 per 10 s). The bucket holds a fiftieth of the
/// limit as burst (at least one), so requests stay paced rather than bunched: a short push
/// leaves room for interactive calls. Two tokens rather than one for 100 per 10 s, because a
/// waiter comes back a little late (jitter) and a bucket of one would drop what refilled
/// meanwhile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketShape {
    /// Tokens the bucket holds at most (the burst).
    pub capacity: u32,
    pub refill_per_ms: f64,
    /// HubSpot's interval.
    pub interval: Duration,
    /// Grants allowed in any `window`.
    pub max: u32,
    /// The interval plus the margin: the span the log of grants covers.
    pub window: Duration,
}

impl BucketShape {
    pub fn for_limit(max: u32, interval: Duration) -> Self {
        let max = max.max(1);
        let capacity = (max / 50).max(1);
        let interval_ms = interval.as_millis().max(1) as f64;
        let window_ms = interval_ms * 1.02 + 20.0;
        Self {
            capacity,
            refill_per_ms: max as f64 / window_ms,
            interval,
            max,
            window: Duration::from_secs_f64(window_ms / 1000.0),
        }
    }

    /// The default and search shapes of a configuration.
    pub fn from_settings(settings: &RateLimitSettings, bucket: Bucket) -> Self {
        match bucket {
            Bucket::Default => Self::for_limit(settings.max_per_interval, settings.interval),
            Bucket::Search => Self::for_limit(settings.search_per_second, Duration::from_secs(1)),
        }
    }

    /// Tokens after `elapsed` of refill from `tokens`, never above capacity.
    pub fn refilled(&self, tokens: f64, elapsed: Duration) -> f64 {
        (tokens + elapsed.as_secs_f64() * 1000.0 * self.refill_per_ms).min(self.capacity as f64)
    }

    /// How long until `tokens` reach one whole token.
    pub fn wait_for_one(&self, tokens: f64) -> Duration {
        if tokens >= 1.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(((1.0 - tokens) / self.refill_per_ms).max(0.0) / 1000.0)
    }

    /// With `grants` (times since a common origin, ascending, older ones dropped by the
    /// caller) inside the window ending at `now`: how long until one more may be granted.
    pub fn window_wait(&self, grants: &[Duration], now: Duration) -> Duration {
        let live = grants.len();
        let max = self.max as usize;
        if live < max {
            return Duration::ZERO;
        }
        // The grant whose leaving the window makes room for one more.
        (grants[live - max] + self.window).saturating_sub(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn shapes_refill_at_the_windows_rate_within_the_limit() {
        for (max, interval_ms) in [
            (1u32, 1000u64),
            (5, 1000),
            (10, 1000),
            (100, 10_000),
            (190, 10_000),
            (250, 10_000),
        ] {
            let interval = Duration::from_millis(interval_ms);
            let shape = BucketShape::for_limit(max, interval);
            assert_eq!(shape.max, max);
            assert!(shape.window > interval, "a margin over HubSpot's interval");
            let per_window = shape.refill_per_ms * shape.window.as_millis() as f64;
            assert!(
                (per_window - max as f64).abs() < 0.01,
                "max {max}: {per_window}"
            );
            assert!(
                shape.refill_per_ms * interval_ms as f64 >= max as f64 * 0.96,
                "max {max}: too slow"
            );
        }
    }

    #[test]
    fn refills_by_elapsed_time_up_to_capacity() {
        let shape = BucketShape::for_limit(100, Duration::from_secs(10));
        assert_eq!(shape.capacity, 2);
        let after_a_tenth = shape.refilled(0.0, Duration::from_millis(100));
        assert!(
            (after_a_tenth - 100.0 / 102.2).abs() < 1e-9,
            "{after_a_tenth}"
        );
        assert_eq!(shape.refilled(1.5, Duration::from_secs(60)), 2.0);
        assert_eq!(shape.wait_for_one(1.0), Duration::ZERO);
        let wait = shape.wait_for_one(0.0);
        assert!(
            wait > Duration::from_millis(101) && wait < Duration::from_millis(103),
            "{wait:?}"
        );
    }

    #[test]
    fn the_window_makes_room_when_its_oldest_needed_grant_leaves() {
        let shape = BucketShape::for_limit(3, Duration::from_secs(1));
        assert_eq!(shape.window, Duration::from_millis(1040));
        let ms = Duration::from_millis;
        assert_eq!(shape.window_wait(&[ms(0), ms(10)], ms(20)), Duration::ZERO);
        assert_eq!(
            shape.window_wait(&[ms(0), ms(10), ms(500)], ms(600)),
            ms(440)
        );
        // More grants than the limit (HubSpot said fewer remain): room once enough left.
        assert_eq!(
            shape.window_wait(&[ms(0), ms(10), ms(500), ms(600)], ms(700)),
            ms(350)
        );
    }

    #[test]
    fn reads_hubspots_rate_limit_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("X-HubSpot-RateLimit-Max", HeaderValue::from_static("100"));
        headers.insert(
            "X-HubSpot-RateLimit-Remaining",
            HeaderValue::from_static("97"),
        );
        headers.insert(
            "X-HubSpot-RateLimit-Interval-Milliseconds",
            HeaderValue::from_static("10000"),
        );
        headers.insert("Retry-After", HeaderValue::from_static("2"));
        let observation = RateLimitObservation::from_headers(429, &headers);
        assert_eq!(observation.max, Some(100));
        assert_eq!(observation.remaining, Some(97));
        assert_eq!(observation.interval, Some(Duration::from_secs(10)));
        assert_eq!(observation.retry_after, Some(Duration::from_secs(2)));
        assert!(observation.is_rate_limited());
        let bare = RateLimitObservation::from_headers(200, &HeaderMap::new());
        assert_eq!(
            bare,
            RateLimitObservation {
                status: 200,
                ..Default::default()
            }
        );
    }

    #[test]
    fn jitter_stays_within_bounds() {
        for _ in 0..100 {
            let wait = jittered_wait(Duration::from_millis(100));
            assert!(
                wait >= Duration::from_millis(100) && wait <= Duration::from_millis(110),
                "{wait:?}"
            );
        }
        assert!(jittered_wait(Duration::from_secs(60)) <= Duration::from_millis(5_500));
    }
}
