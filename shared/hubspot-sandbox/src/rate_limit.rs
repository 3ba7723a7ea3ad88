//! HubSpot's rate limits: a rolling window per app token, a daily budget, and the separate
//! per-second search limit.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};

/// A count of requests allowed within any window of `interval`.
#[derive(Debug)]
pub struct RollingWindow {
    max: u32,
    interval: Duration,
    hits: VecDeque<Instant>,
}

impl RollingWindow {
    pub fn new(max: u32, interval: Duration) -> Self {
        Self {
            max,
            interval,
            hits: VecDeque::new(),
        }
    }

    pub fn max(&self) -> u32 {
        self.max
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    fn forget_old(&mut self, now: Instant) {
        while let Some(oldest) = self.hits.front() {
            if now.duration_since(*oldest) >= self.interval {
                self.hits.pop_front();
            } else {
                break;
            }
        }
    }

    /// Counts a request when allowed: Ok(remaining), or Err(wait until a slot frees).
    pub fn try_acquire(&mut self, now: Instant) -> Result<u32, Duration> {
        self.forget_old(now);
        let used = u32::try_from(self.hits.len()).unwrap_or(u32::MAX);
        if used >= self.max {
            let wait = self
                .hits
                .front()
                .map(|oldest| self.interval.saturating_sub(now.duration_since(*oldest)))
                .unwrap_or(self.interval);
            return Err(wait);
        }
        self.hits.push_back(now);
        Ok(self.max - used - 1)
    }

    pub fn remaining(&mut self, now: Instant) -> u32 {
        self.forget_old(now);
        self.max
            .saturating_sub(u32::try_from(self.hits.len()).unwrap_or(u32::MAX))
    }
}

/// Requests allowed per UTC day.
#[derive(Debug)]
pub struct DailyBudget {
    limit: u64,
    day: NaiveDate,
    used: u64,
}

impl DailyBudget {
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            day: Utc::now().date_naive(),
            used: 0,
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn roll_over(&mut self) {
        let today = Utc::now().date_naive();
        if today != self.day {
            self.day = today;
            self.used = 0;
        }
    }

    pub fn remaining(&mut self) -> u64 {
        self.roll_over();
        self.limit.saturating_sub(self.used)
    }

    pub fn is_exhausted(&mut self) -> bool {
        self.remaining() == 0
    }

    pub fn spend(&mut self) {
        self.roll_over();
        self.used += 1;
    }
}

/// Which limit refused a request (`policyName` of the 429 body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    TenSecondlyRolling,
    Daily,
    Secondly,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::TenSecondlyRolling => "TEN_SECONDLY_ROLLING",
            Policy::Daily => "DAILY",
            Policy::Secondly => "SECONDLY",
        }
    }
}

/// Values of the X-HubSpot-RateLimit-* headers.
#[derive(Clone, Copy, Debug)]
pub struct LimitHeaders {
    pub max: u32,
    pub remaining: u32,
    pub interval_ms: u64,
    pub daily: u64,
    pub daily_remaining: u64,
}

/// Outcome of checking the limits for one request.
#[derive(Clone, Copy, Debug)]
pub enum Decision {
    Allowed(Option<LimitHeaders>),
    Limited {
        policy: Policy,
        retry_after: Duration,
        headers: Option<LimitHeaders>,
    },
}

/// All limits of the app token.
#[derive(Debug)]
pub struct RateLimits {
    pub app: RollingWindow,
    pub daily: DailyBudget,
    pub search: RollingWindow,
}

impl RateLimits {
    pub fn new(max: u32, interval_ms: u64, daily: u64, search_per_second: u32) -> Self {
        Self {
            app: RollingWindow::new(max, Duration::from_millis(interval_ms)),
            daily: DailyBudget::new(daily),
            search: RollingWindow::new(search_per_second, Duration::from_secs(1)),
        }
    }

    fn headers(&mut self, remaining: u32) -> LimitHeaders {
        LimitHeaders {
            max: self.app.max(),
            remaining,
            interval_ms: u64::try_from(self.app.interval().as_millis()).unwrap_or(u64::MAX),
            daily: self.daily.limit(),
            daily_remaining: self.daily.remaining(),
        }
    }

    /// Headers as they stand now, without counting a request (for injected 429s).
    pub fn current_headers(&mut self, now: Instant) -> LimitHeaders {
        let remaining = self.app.remaining(now);
        self.headers(remaining)
    }

    /// Counts one API request of the app token.
    pub fn check(&mut self, now: Instant, is_search: bool) -> Decision {
        if is_search {
            return match self.search.try_acquire(now) {
                Ok(_) => Decision::Allowed(None),
                Err(retry_after) => Decision::Limited {
                    policy: Policy::Secondly,
                    retry_after,
                    headers: None,
                },
            };
        }
        if self.daily.is_exhausted() {
            let headers = self.current_headers(now);
            let now_utc = Utc::now();
            let seconds_left = 86_400 - i64::from(now_utc.time().num_seconds_from_midnight());
            return Decision::Limited {
                policy: Policy::Daily,
                retry_after: Duration::from_secs(u64::try_from(seconds_left).unwrap_or(1)),
                headers: Some(headers),
            };
        }
        match self.app.try_acquire(now) {
            Ok(remaining) => {
                self.daily.spend();
                Decision::Allowed(Some(self.headers(remaining)))
            }
            Err(retry_after) => Decision::Limited {
                policy: Policy::TenSecondlyRolling,
                retry_after,
                headers: Some(self.headers(0)),
            },
        }
    }
}

use chrono::Timelike as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_window_refuses_past_max_and_frees_after_interval() {
        let mut window = RollingWindow::new(2, Duration::from_millis(100));
        let start = Instant::now();
        assert_eq!(window.try_acquire(start), Ok(1));
        assert_eq!(window.try_acquire(start), Ok(0));
        let wait = window.try_acquire(start + Duration::from_millis(40));
        assert_eq!(wait, Err(Duration::from_millis(60)));
        assert_eq!(
            window.try_acquire(start + Duration::from_millis(100)),
            Ok(1)
        );
    }

    #[test]
    fn daily_budget_refuses_when_spent() {
        let mut limits = RateLimits::new(10, 1000, 2, 5);
        let now = Instant::now();
        assert!(matches!(limits.check(now, false), Decision::Allowed(_)));
        assert!(matches!(limits.check(now, false), Decision::Allowed(_)));
        assert!(matches!(
            limits.check(now, false),
            Decision::Limited {
                policy: Policy::Daily,
                ..
            }
        ));
        // Search has its own budget.
        assert!(matches!(limits.check(now, true), Decision::Allowed(None)));
    }
}
