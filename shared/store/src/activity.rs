//! What the sync did lately, for the console's health view: per hour (pushed, applied, failed,
//! HubSpot 429s, webhook apply lag) and per portal and object type (waiting now, pushed and
//! applied in the last hour and day). Counts and durations only, never values.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use tokio_postgres::types::Type;
use warp_domain::sync::ObjectType;

use crate::{Database, StoreError};

/// Longest window the hourly series covers.
pub const MAX_HOURS: u32 = 168;

/// One hour of the series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourActivity {
    pub start: DateTime<Utc>,
    /// Records pushed to HubSpot (outbound successes).
    pub pushed: i64,
    /// HubSpot changes applied to WARP (inbound successes).
    pub applied: i64,
    /// Sync attempts that failed, either way.
    pub failed: i64,
    /// HubSpot 429 answers.
    pub rate_limited: i64,
    /// 95th percentile of webhook events' wait from receipt to applied, in seconds.
    pub apply_lag_p95_seconds: Option<f64>,
}

/// One portal's and object type's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortalObjectActivity {
    pub portal_id: i64,
    pub object_type: Option<ObjectType>,
    pub pending: i64,
    pub in_flight: i64,
    pub failed: i64,
    pub pushed_last_hour: i64,
    pub pushed_last_day: i64,
    pub applied_last_hour: i64,
    pub applied_last_day: i64,
    pub failed_last_day: i64,
    /// HubSpot 429 answers to this portal in the last hour (on its first object type's row).
    pub rate_limited_last_hour: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    /// Oldest hour first, the current (partial) hour last; hours without activity are zeros.
    pub hours: Vec<HourActivity>,
    pub by_portal: Vec<PortalObjectActivity>,
}

/// A sync-log count of one hour, portal and object type (split by whether the attempts fall in
/// the last 60 minutes and the last 24 hours, for the per-portal figures).
struct LogCount {
    hour: DateTime<Utc>,
    portal_id: i64,
    object_type: ObjectType,
    in_last_hour: bool,
    in_last_day: bool,
    pushed: i64,
    applied: i64,
    failed: i64,
}

/// The last `hours` clock hours up to `now` (UTC), and the per-portal figures of the 60 minutes
/// and 24 hours before `now`.
pub async fn activity(
    database: &Database,
    now: DateTime<Utc>,
    hours: u32,
) -> Result<Activity, StoreError> {
    let hours = hours.clamp(1, MAX_HOURS);
    let current_hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let series_from = current_hour - Duration::hours(i64::from(hours) - 1);
    let day_from = now - Duration::hours(24);
    let from = series_from.min(day_from);
    let hour_ago = now - Duration::hours(1);
    let client = database.client().await?;
    type Param<'a> = (&'a (dyn tokio_postgres::types::ToSql + Sync), Type);
    let windows: [Param<'_>; 3] = [
        (&from, Type::TIMESTAMPTZ),
        (&hour_ago, Type::TIMESTAMPTZ),
        (&day_from, Type::TIMESTAMPTZ),
    ];
    let since_series: [Param<'_>; 1] = [(&series_from, Type::TIMESTAMPTZ)];
    // Hours are cut in UTC whatever the session's time zone (a half-hour zone would shift them).
    let log = client.query_typed(
        "SELECT date_trunc('hour', started_at, 'UTC'), portal_id, object_type, \
           started_at > $2, started_at >= $3, \
           count(*) FILTER (WHERE direction = 'OUTBOUND' AND status = 'SUCCESS'), \
           count(*) FILTER (WHERE direction = 'INBOUND' AND status = 'SUCCESS'), \
           count(*) FILTER (WHERE status = 'FAILED') \
         FROM hubspot_sync_log WHERE started_at >= $1 GROUP BY 1, 2, 3, 4, 5",
        &windows,
    );
    let limits = client.query_typed(
        "SELECT date_trunc('hour', occurred_at, 'UTC'), portal_id, occurred_at > $2, count(*) \
         FROM hubspot_rate_limit_events WHERE occurred_at >= $1 GROUP BY 1, 2, 3",
        &windows[..2],
    );
    let lag = client.query_typed(
        "SELECT date_trunc('hour', received_at, 'UTC'), \
           percentile_cont(0.95) WITHIN GROUP \
             (ORDER BY extract(epoch FROM processed_at - received_at)::float8) \
         FROM hubspot_webhook_events \
         WHERE received_at >= $1 AND status = 'PROCESSED' AND processed_at IS NOT NULL \
           AND change_source IS DISTINCT FROM 'RECONCILIATION' \
         GROUP BY 1",
        &since_series,
    );
    let waiting = client.query_typed(
        "SELECT portal_id, object_type, count(*) FILTER (WHERE status = 'PENDING'), \
           count(*) FILTER (WHERE status = 'IN_FLIGHT'), count(*) FILTER (WHERE status = 'FAILED') \
         FROM hubspot_sync_queue WHERE status IN ('PENDING', 'IN_FLIGHT', 'FAILED') GROUP BY 1, 2",
        &[],
    );
    let (log, limits, lag, waiting) = tokio::try_join!(log, limits, lag, waiting)?;

    let log = log
        .iter()
        .map(|row| {
            Ok(LogCount {
                hour: row.try_get(0)?,
                portal_id: row.try_get(1)?,
                object_type: crate::object_type_column(row.try_get(2)?)?,
                in_last_hour: row.try_get(3)?,
                in_last_day: row.try_get(4)?,
                pushed: row.try_get(5)?,
                applied: row.try_get(6)?,
                failed: row.try_get(7)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let limits = limits
        .iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            ))
        })
        .collect::<Result<Vec<(DateTime<Utc>, i64, bool, i64)>, StoreError>>()?;
    let lag = lag
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<BTreeMap<DateTime<Utc>, Option<f64>>, StoreError>>()?;

    let mut series: Vec<HourActivity> = (0..i64::from(hours))
        .map(|n| {
            let start = series_from + Duration::hours(n);
            HourActivity {
                start,
                apply_lag_p95_seconds: lag.get(&start).copied().flatten(),
                ..HourActivity::default()
            }
        })
        .collect();
    let slot = |hour: DateTime<Utc>| {
        usize::try_from((hour - series_from).num_hours())
            .ok()
            .filter(|_| hour >= series_from)
    };
    for count in &log {
        if let Some(bucket) = slot(count.hour).and_then(|i| series.get_mut(i)) {
            bucket.pushed += count.pushed;
            bucket.applied += count.applied;
            bucket.failed += count.failed;
        }
    }
    for (hour, _, _, n) in &limits {
        if let Some(bucket) = slot(*hour).and_then(|i| series.get_mut(i)) {
            bucket.rate_limited += n;
        }
    }

    // Per portal and object type: the last 60 minutes and the last 24 hours before `now`.
    let mut by_portal: BTreeMap<(i64, Option<ObjectType>), PortalObjectActivity> = BTreeMap::new();
    fn figures(
        map: &mut BTreeMap<(i64, Option<ObjectType>), PortalObjectActivity>,
        portal_id: i64,
        object_type: Option<ObjectType>,
    ) -> &mut PortalObjectActivity {
        map.entry((portal_id, object_type))
            .or_insert_with(|| PortalObjectActivity {
                portal_id,
                object_type,
                ..PortalObjectActivity::default()
            })
    }
    for row in &waiting {
        let object_type = crate::object_type_column(row.try_get(1)?)?;
        let waiting = figures(&mut by_portal, row.try_get(0)?, Some(object_type));
        waiting.pending = row.try_get(2)?;
        waiting.in_flight = row.try_get(3)?;
        waiting.failed = row.try_get(4)?;
    }
    for count in log.iter().filter(|c| c.in_last_day) {
        let done = figures(&mut by_portal, count.portal_id, Some(count.object_type));
        done.pushed_last_day += count.pushed;
        done.applied_last_day += count.applied;
        done.failed_last_day += count.failed;
        if count.in_last_hour {
            done.pushed_last_hour += count.pushed;
            done.applied_last_hour += count.applied;
        }
    }
    // 429s are the portal's, whatever the object type: counted on its first row.
    for (_, portal_id, _, n) in limits.iter().filter(|(_, _, recent, _)| *recent) {
        let object_type = by_portal
            .keys()
            .find(|(portal, _)| portal == portal_id)
            .and_then(|(_, object_type)| *object_type);
        figures(&mut by_portal, *portal_id, object_type).rate_limited_last_hour += n;
    }
    Ok(Activity {
        hours: series,
        by_portal: by_portal.into_values().collect(),
    })
}
