//! The rate budget held in memory: right for tests, the CLI and any single process. Several
//! processes each with their own would together overrun HubSpot; use the Postgres budget there.

use super::{
    Admission, Bucket, BucketShape, BudgetError, BudgetFuture, RateBudget, RateLimitObservation,
};
use crate::config::RateLimitSettings;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
struct BucketState {
    tokens: f64,
    refilled_at: Instant,
    blocked_until: Option<Instant>,
    /// Grants inside the window, as times since the budget's origin, oldest first.
    grants: VecDeque<Duration>,
}

impl BucketState {
    fn new(shape: &BucketShape, now: Instant) -> Self {
        BucketState {
            tokens: shape.capacity as f64,
            refilled_at: now,
            blocked_until: None,
            grants: VecDeque::new(),
        }
    }

    /// Drops the grants that left the window ending at `now`.
    fn prune(&mut self, shape: &BucketShape, now: Duration) {
        while self
            .grants
            .front()
            .is_some_and(|grant| *grant + shape.window <= now)
        {
            self.grants.pop_front();
        }
    }
}

/// One process's budget: a token bucket and a log of grants per [`Bucket`] behind a mutex.
#[derive(Debug)]
pub struct InProcessRateBudget {
    default_shape: BucketShape,
    search_shape: BucketShape,
    origin: Instant,
    states: Mutex<HashMap<Bucket, BucketState>>,
    rate_limited: Mutex<u64>,
}

impl InProcessRateBudget {
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            default_shape: BucketShape::from_settings(settings, Bucket::Default),
            search_shape: BucketShape::from_settings(settings, Bucket::Search),
            origin: Instant::now(),
            states: Mutex::new(HashMap::new()),
            rate_limited: Mutex::new(0),
        }
    }

    /// 429s seen so far (the in-memory counterpart of `hubspot_rate_limit_events`).
    pub fn rate_limited_count(&self) -> u64 {
        *self.rate_limited.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn shape(&self, bucket: Bucket) -> &BucketShape {
        match bucket {
            Bucket::Default => &self.default_shape,
            Bucket::Search => &self.search_shape,
        }
    }

    fn since_origin(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.origin)
    }

    /// The decision at `now`; separate from the clock so tests can drive time.
    fn take_at(&self, bucket: Bucket, now: Instant) -> Admission {
        let shape = *self.shape(bucket);
        let at = self.since_origin(now);
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let state = states
            .entry(bucket)
            .or_insert_with(|| BucketState::new(&shape, now));
        state.tokens = shape.refilled(
            state.tokens,
            now.saturating_duration_since(state.refilled_at),
        );
        state.refilled_at = state.refilled_at.max(now);
        state.prune(&shape, at);
        if let Some(until) = state.blocked_until.filter(|until| *until > now) {
            return Admission::Wait(until - now);
        }
        let window_wait = shape.window_wait(state.grants.make_contiguous(), at);
        if !window_wait.is_zero() {
            return Admission::Wait(window_wait);
        }
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            state.grants.push_back(at);
            Admission::Granted
        } else {
            Admission::Wait(shape.wait_for_one(state.tokens))
        }
    }

    fn observe_at(&self, bucket: Bucket, observation: &RateLimitObservation, now: Instant) {
        let shape = *self.shape(bucket);
        let at = self.since_origin(now);
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let state = states
            .entry(bucket)
            .or_insert_with(|| BucketState::new(&shape, now));
        if observation.is_rate_limited() {
            let block = observation
                .retry_after
                .or(observation.interval)
                .unwrap_or(shape.interval);
            let until = now + block;
            state.blocked_until = Some(
                state
                    .blocked_until
                    .map_or(until, |current| current.max(until)),
            );
            state.tokens = 0.0;
            state.refilled_at = now;
            drop(states);
            *self.rate_limited.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            return;
        }
        if let Some(remaining) = observation.remaining {
            let available = shape.refilled(
                state.tokens,
                now.saturating_duration_since(state.refilled_at),
            );
            if (remaining as f64) < available {
                state.tokens = remaining as f64;
                state.refilled_at = state.refilled_at.max(now);
            }
            // HubSpot counts more in its window than we granted (another client of the same
            // app): as many grants as it counts, so the window leaves it that many.
            state.prune(&shape, at);
            let counted = observation
                .max
                .unwrap_or(shape.max)
                .saturating_sub(remaining) as usize;
            while state.grants.len() < counted {
                state.grants.push_back(at);
            }
        }
    }
}

impl RateBudget for InProcessRateBudget {
    fn try_acquire(&self, bucket: Bucket) -> BudgetFuture<'_, Result<Admission, BudgetError>> {
        let admission = self.take_at(bucket, Instant::now());
        Box::pin(async move { Ok(admission) })
    }

    fn on_response<'a>(
        &'a self,
        bucket: Bucket,
        observation: &'a RateLimitObservation,
    ) -> BudgetFuture<'a, Result<(), BudgetError>> {
        self.observe_at(bucket, observation, Instant::now());
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget(max: u32, interval_ms: u64) -> InProcessRateBudget {
        InProcessRateBudget::new(&RateLimitSettings {
            max_per_interval: max,
            interval: Duration::from_millis(interval_ms),
            search_per_second: 5,
        })
    }

    /// A caller asking every simulated millisecond for `total_ms`: the grants' times (ms),
    /// each checked to leave at most `max` in any window of `interval_ms`.
    fn greedy_grants(max: u32, interval_ms: u64, total_ms: u64) -> Vec<u64> {
        let budget = budget(max, interval_ms);
        let start = Instant::now();
        let mut grants = Vec::new();
        for ms in 0..total_ms {
            let now = start + Duration::from_millis(ms);
            while budget.take_at(Bucket::Default, now) == Admission::Granted {
                grants.push(ms);
            }
        }
        for (i, first) in grants.iter().enumerate() {
            let in_window = grants[i..]
                .iter()
                .take_while(|t| **t < first + interval_ms)
                .count();
            assert!(
                in_window <= max as usize,
                "{in_window} grants in the window starting at {first} ms"
            );
        }
        grants
    }

    #[test]
    fn a_greedy_caller_never_exceeds_the_limit_in_any_rolling_window() {
        let grants = greedy_grants(10, 1000, 10_000);
        assert!(grants.len() >= 70, "throughput too low: {}", grants.len());
    }

    #[test]
    fn a_long_push_runs_at_the_windows_rate_and_never_over_the_limit() {
        // HubSpot's 100 per 10 s for 100 simulated seconds: 97.8% of the ceiling's 1,000 (a
        // token bucket alone: 96%).
        let grants = greedy_grants(100, 10_000, 100_000);
        assert!(grants.len() >= 975, "throughput too low: {}", grants.len());
    }

    #[test]
    fn fewer_remaining_at_hubspot_fills_the_window_as_hubspot_counts_it() {
        let budget = budget(10, 1000);
        let start = Instant::now();
        budget.observe_at(
            Bucket::Default,
            &RateLimitObservation {
                status: 200,
                remaining: Some(0),
                ..Default::default()
            },
            start,
        );
        // HubSpot counts ten in its window: nothing until they leave it (1,040 ms).
        let soon = start + Duration::from_millis(500);
        assert_eq!(
            budget.take_at(Bucket::Default, soon),
            Admission::Wait(Duration::from_millis(540))
        );
        let later = start + Duration::from_millis(1040);
        assert_eq!(budget.take_at(Bucket::Default, later), Admission::Granted);
    }

    #[test]
    fn a_429_blocks_the_bucket_for_retry_after_then_lets_requests_through() {
        let budget = budget(100, 10_000);
        let start = Instant::now();
        assert_eq!(budget.take_at(Bucket::Default, start), Admission::Granted);
        let observation = RateLimitObservation {
            status: 429,
            retry_after: Some(Duration::from_secs(2)),
            ..Default::default()
        };
        budget.observe_at(Bucket::Default, &observation, start);
        assert_eq!(budget.rate_limited_count(), 1);
        let later = start + Duration::from_millis(500);
        assert_eq!(
            budget.take_at(Bucket::Default, later),
            Admission::Wait(Duration::from_millis(1500))
        );
        // Search is a separate allowance and is not blocked.
        assert_eq!(budget.take_at(Bucket::Search, later), Admission::Granted);
        assert_eq!(
            budget.take_at(Bucket::Default, start + Duration::from_secs(2)),
            Admission::Granted
        );
    }

    #[test]
    fn a_429_without_retry_after_waits_out_the_interval() {
        let budget = budget(10, 1000);
        let start = Instant::now();
        budget.observe_at(
            Bucket::Default,
            &RateLimitObservation {
                status: 429,
                ..Default::default()
            },
            start,
        );
        assert_eq!(
            budget.take_at(Bucket::Default, start),
            Admission::Wait(Duration::from_secs(1))
        );
    }

    #[test]
    fn fewer_remaining_at_hubspot_lowers_our_tokens() {
        // 500 per 10 s: a burst of 10, so one remaining at HubSpot is fewer than we hold.
        let budget = budget(500, 10_000);
        let start = Instant::now();
        assert_eq!(budget.take_at(Bucket::Default, start), Admission::Granted);
        budget.observe_at(
            Bucket::Default,
            &RateLimitObservation {
                status: 200,
                remaining: Some(1),
                ..Default::default()
            },
            start,
        );
        assert_eq!(budget.take_at(Bucket::Default, start), Admission::Granted);
        assert!(matches!(
            budget.take_at(Bucket::Default, start),
            Admission::Wait(_)
        ));
        // More remaining than we hold changes nothing.
        let budget = self::budget(500, 10_000);
        budget.observe_at(
            Bucket::Default,
            &RateLimitObservation {
                status: 200,
                remaining: Some(99),
                ..Default::default()
            },
            start,
        );
        let granted = (0..30)
            .filter(|_| budget.take_at(Bucket::Default, start) == Admission::Granted)
            .count();
        assert_eq!(granted, 10, "the burst is a fiftieth of the limit");
    }
}
