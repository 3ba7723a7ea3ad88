//! The rate budget as a row per (portal, bucket) in `hubspot_rate_limit_budget`, taken with
//! one statement so any number of Lambda instances share one allowance. Only unnamed
//! statements (`query_typed`): nothing that pins an RDS Proxy connection (no prepared
//! statements kept, no advisory locks, no SET, no LISTEN).

use super::{
    Admission, Bucket, BucketShape, BudgetError, BudgetFuture, RateBudget, RateLimitObservation,
};
use crate::config::RateLimitSettings;
use deadpool_postgres::Pool;
use std::time::Duration;
use tokio_postgres::types::Type;
use warp_domain::storable::storable;

/// Creates the bucket's row, full, unless it exists.
const CREATE_BUCKET: &str = "\
INSERT INTO hubspot_rate_limit_budget (portal_id, bucket, capacity, interval_ms, tokens)
VALUES ($1, $2, $3, $4, $3::float8)
ON CONFLICT (portal_id, bucket) DO NOTHING";

/// Locks the row, refills it by the time elapsed since `refilled_at`, drops the grants that
/// left the window ($6 seconds), and takes a token when one is there, the window has room for
/// one more grant ($7 at most) and the bucket is not blocked; returns the decision and the wait
/// otherwise. `FOR UPDATE` in the first CTE makes concurrent callers queue on the row; each then
/// sees the row as the previous caller left it. Time never runs backwards: `refilled_at` only
/// grows.
const TAKE_TOKEN: &str = "\
WITH current_state AS (
    SELECT portal_id, bucket, tokens, refilled_at, blocked_until, grants, clock_timestamp() AS now_at
    FROM hubspot_rate_limit_budget
    WHERE portal_id = $1 AND bucket = $2
    FOR UPDATE
), windowed AS (
    SELECT c.*,
           ARRAY(SELECT g FROM unnest(c.grants) AS g
                 WHERE g > c.now_at - make_interval(secs => $6) ORDER BY g) AS live
    FROM current_state AS c
), decided AS (
    SELECT portal_id, bucket, now_at, blocked_until, live,
           GREATEST(refilled_at, now_at) AS refill_time,
           LEAST($3::float8, tokens + GREATEST(0, EXTRACT(EPOCH FROM (now_at - refilled_at))::float8 * 1000.0) * $5)
               AS available,
           COALESCE(blocked_until > now_at, false) AS blocked,
           cardinality(live) >= $7 AS window_full
    FROM windowed
), granted AS (
    SELECT d.*, (NOT d.blocked AND NOT d.window_full AND d.available >= 1) AS grant_now
    FROM decided AS d
)
UPDATE hubspot_rate_limit_budget AS b
SET tokens = CASE WHEN g.grant_now THEN g.available - 1 ELSE g.available END,
    grants = CASE WHEN g.grant_now THEN g.live || g.now_at ELSE g.live END,
    refilled_at = g.refill_time,
    capacity = $3,
    interval_ms = $4,
    updated_at = g.now_at
FROM granted AS g
WHERE b.portal_id = g.portal_id AND b.bucket = g.bucket
RETURNING g.grant_now AS granted,
          CASE WHEN g.blocked THEN EXTRACT(EPOCH FROM (g.blocked_until - g.now_at))::float8 * 1000.0
               WHEN g.window_full THEN EXTRACT(EPOCH FROM (
                   g.live[cardinality(g.live) - $7 + 1] + make_interval(secs => $6) - g.now_at))::float8 * 1000.0
               WHEN g.available >= 1 THEN 0::float8
               ELSE (1 - g.available) / $5 END AS wait_ms";

/// HubSpot says fewer requests remain than our bucket holds: lower the bucket to that, and
/// fill the window's log to as many grants as HubSpot counts (its limit $5 − remaining; another
/// client of the same app may have used them).
const LOWER_TO_REMAINING: &str = "\
UPDATE hubspot_rate_limit_budget AS b
SET tokens = $3, refilled_at = GREATEST(refilled_at, clock_timestamp()), updated_at = clock_timestamp(),
    grants = (SELECT live || array_fill(clock_timestamp(), ARRAY[GREATEST(0, $5 - $3::int - cardinality(live))])
              FROM (SELECT ARRAY(SELECT g FROM unnest(b.grants) AS g
                                 WHERE g > clock_timestamp() - make_interval(secs => $6) ORDER BY g) AS live) AS w)
WHERE portal_id = $1 AND bucket = $2
  AND LEAST(capacity::float8,
            tokens + GREATEST(0, EXTRACT(EPOCH FROM (clock_timestamp() - refilled_at))::float8 * 1000.0) * $4) > $3";

/// A 429: empty the bucket, block it for `$3` seconds (never shortening a longer block;
/// creating the row if this bucket was never used) and record the event for counting.
const RECORD_RATE_LIMITED: &str = "\
WITH blocked AS (
    INSERT INTO hubspot_rate_limit_budget
        (portal_id, bucket, capacity, interval_ms, tokens, refilled_at, blocked_until)
    VALUES ($1, $2, $5, $6, 0, clock_timestamp(), clock_timestamp() + make_interval(secs => $3))
    ON CONFLICT (portal_id, bucket) DO UPDATE
    SET tokens = 0,
        refilled_at = GREATEST(hubspot_rate_limit_budget.refilled_at, clock_timestamp()),
        blocked_until = GREATEST(COALESCE(hubspot_rate_limit_budget.blocked_until, clock_timestamp()),
                                 EXCLUDED.blocked_until),
        updated_at = clock_timestamp()
    RETURNING portal_id
)
INSERT INTO hubspot_rate_limit_events (portal_id, bucket, policy_name)
VALUES ($1, $2, $4)";

/// The budget shared through Postgres by every process calling HubSpot for `portal_id`.
#[derive(Clone)]
pub struct PostgresRateBudget {
    pool: Pool,
    portal_id: i64,
    default_shape: BucketShape,
    search_shape: BucketShape,
}

impl std::fmt::Debug for PostgresRateBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresRateBudget")
            .field("portal_id", &self.portal_id)
            .field("default_shape", &self.default_shape)
            .field("search_shape", &self.search_shape)
            .finish()
    }
}

impl PostgresRateBudget {
    pub fn new(pool: Pool, portal_id: i64, settings: &RateLimitSettings) -> Self {
        Self {
            pool,
            portal_id,
            default_shape: BucketShape::from_settings(settings, Bucket::Default),
            search_shape: BucketShape::from_settings(settings, Bucket::Search),
        }
    }

    fn shape(&self, bucket: Bucket) -> &BucketShape {
        match bucket {
            Bucket::Default => &self.default_shape,
            Bucket::Search => &self.search_shape,
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, BudgetError> {
        self.pool
            .get()
            .await
            .map_err(|e| BudgetError::Store(e.to_string()))
    }

    async fn take(&self, bucket: Bucket) -> Result<Admission, BudgetError> {
        let shape = *self.shape(bucket);
        let client = self.client().await?;
        let (capacity, interval_ms) = row_limits(&shape);
        let name = bucket.name();
        let window_secs = shape.window.as_secs_f64();
        let max = i32::try_from(shape.max).unwrap_or(i32::MAX);
        let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 7] = [
            (&self.portal_id, Type::INT8),
            (&name, Type::TEXT),
            (&capacity, Type::INT4),
            (&interval_ms, Type::INT4),
            (&shape.refill_per_ms, Type::FLOAT8),
            (&window_secs, Type::FLOAT8),
            (&max, Type::INT4),
        ];
        // Usually the row exists: create it only when the first attempt finds none.
        for _ in 0..2 {
            let rows = client
                .query_typed(TAKE_TOKEN, &params)
                .await
                .map_err(store_error)?;
            if let Some(row) = rows.first() {
                let granted: bool = row.try_get(0).map_err(store_error)?;
                let wait_ms: f64 = row.try_get(1).map_err(store_error)?;
                return Ok(if granted {
                    Admission::Granted
                } else {
                    Admission::Wait(Duration::from_secs_f64(
                        wait_ms.clamp(1.0, 3_600_000.0) / 1000.0,
                    ))
                });
            }
            client
                .query_typed(CREATE_BUCKET, &params[..4])
                .await
                .map_err(store_error)?;
        }
        Err(BudgetError::Store(format!(
            "budget row for {} could not be created",
            bucket.name()
        )))
    }

    async fn observe(
        &self,
        bucket: Bucket,
        observation: &RateLimitObservation,
    ) -> Result<(), BudgetError> {
        let shape = *self.shape(bucket);
        let name = bucket.name();
        if observation.is_rate_limited() {
            let block = observation
                .retry_after
                .or(observation.interval)
                .unwrap_or(shape.interval);
            let seconds = block.as_secs_f64();
            // HubSpot's text: stored with any NUL replaced, as every outside text.
            let policy = observation.policy_name.as_deref().map(storable);
            let (capacity, interval_ms) = row_limits(&shape);
            self.client()
                .await?
                .query_typed(
                    RECORD_RATE_LIMITED,
                    &[
                        (&self.portal_id, Type::INT8),
                        (&name, Type::TEXT),
                        (&seconds, Type::FLOAT8),
                        (&policy, Type::TEXT),
                        (&capacity, Type::INT4),
                        (&interval_ms, Type::INT4),
                    ],
                )
                .await
                .map_err(store_error)?;
            tracing::warn!(
                portal_id = self.portal_id,
                bucket = name,
                block_ms = block.as_millis() as u64,
                policy = policy.as_deref(),
                "HubSpot rate limited us; bucket blocked"
            );
            return Ok(());
        }
        if let Some(max) = observation.max.filter(|max| *max < shape.max) {
            tracing::warn!(
                portal_id = self.portal_id,
                hubspot_max = max,
                "HubSpot grants fewer requests than configured"
            );
        }
        // The bucket never holds more than its capacity: a larger remaining changes nothing,
        // and skipping it saves a round trip on almost every answer.
        if let Some(remaining) = observation.remaining.filter(|r| *r < shape.capacity) {
            let remaining = remaining as f64;
            // HubSpot's own count: its limit (when it says) less what it has left.
            let max = i32::try_from(observation.max.unwrap_or(shape.max)).unwrap_or(i32::MAX);
            let window_secs = shape.window.as_secs_f64();
            self.client()
                .await?
                .query_typed(
                    LOWER_TO_REMAINING,
                    &[
                        (&self.portal_id, Type::INT8),
                        (&name, Type::TEXT),
                        (&remaining, Type::FLOAT8),
                        (&shape.refill_per_ms, Type::FLOAT8),
                        (&max, Type::INT4),
                        (&window_secs, Type::FLOAT8),
                    ],
                )
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }
}

/// The row's `capacity` and `interval_ms` columns for a shape.
fn row_limits(shape: &BucketShape) -> (i32, i32) {
    (
        i32::try_from(shape.capacity).unwrap_or(i32::MAX),
        i32::try_from(shape.interval.as_millis()).unwrap_or(i32::MAX),
    )
}

fn store_error(error: tokio_postgres::Error) -> BudgetError {
    BudgetError::Store(error.to_string())
}

impl RateBudget for PostgresRateBudget {
    fn try_acquire(&self, bucket: Bucket) -> BudgetFuture<'_, Result<Admission, BudgetError>> {
        Box::pin(self.take(bucket))
    }

    fn on_response<'a>(
        &'a self,
        bucket: Bucket,
        observation: &'a RateLimitObservation,
    ) -> BudgetFuture<'a, Result<(), BudgetError>> {
        Box::pin(self.observe(bucket, observation))
    }
}
