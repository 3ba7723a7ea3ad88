//! The sync's CloudWatch figures as EMF lines (issue 23, metrics): what the relay job took from
//! the tables ([`warp_store::sync_metrics`]) per portal and object type, with every figure also
//! rolled up without dimensions (what the alarms in template.yaml read), and each outbound
//! failure under its reason. Pure: the lines are built here and printed by the binary.

use std::collections::BTreeMap;

use warp_runtime::metrics::{Unit, emf_line_rolled_up};
use warp_store::sync_metrics::SyncFigures;

/// A failure's reason as a metric dimension, from the error text the engine stores: HubSpot's
/// category when it refused the input (`VALIDATION_ERROR`, ...), the kind of a whole call's
/// failure (`RATE_LIMITED`, `SERVER_ERROR`, ...), or `OTHER`. Never free text, so a reason
/// cannot carry a value and the dimension's values stay few.
pub fn failure_reason(error: &str) -> String {
    if let Some(rest) = error.strip_prefix("HubSpot refused the input (") {
        let category: String = rest
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        if (1..=40).contains(&category.len()) {
            return category;
        }
    }
    if let Some(rest) = error.strip_prefix("HubSpot batch call failed: ") {
        let kind: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == ' ')
            .collect();
        let kind = kind.trim();
        if !kind.is_empty() && kind.len() <= 40 {
            return kind.to_ascii_uppercase().replace(' ', "_");
        }
    }
    "OTHER".to_owned()
}

/// The EMF lines of one take, at `timestamp_ms`.
pub fn figure_lines(figures: &SyncFigures, timestamp_ms: i64) -> Vec<String> {
    let mut lines = Vec::new();
    for ((portal_id, object_type), f) in &figures.by_object {
        lines.push(emf_line_rolled_up(
            &[
                ("PortalId", portal_id.to_string()),
                ("ObjectType", object_type.clone()),
            ],
            &[
                ("RecordsPushed", f.records_pushed as f64, Unit::Count),
                ("RecordsFailed", f.records_failed as f64, Unit::Count),
                ("ChangesApplied", f.changes_applied as f64, Unit::Count),
                (
                    "WebhookEventsReceived",
                    f.webhook_events_received as f64,
                    Unit::Count,
                ),
                ("OutboxWaiting", f.outbox_waiting as f64, Unit::Count),
                (
                    "OutboxOldestWait",
                    f.outbox_oldest_wait_seconds,
                    Unit::Seconds,
                ),
            ],
            timestamp_ms,
        ));
    }
    let mut by_reason: BTreeMap<(i64, &str, String), i64> = BTreeMap::new();
    for (portal_id, object_type, error, n) in &figures.failures {
        *by_reason
            .entry((*portal_id, object_type.as_str(), failure_reason(error)))
            .or_default() += n;
    }
    for ((portal_id, object_type, reason), n) in by_reason {
        lines.push(emf_line_rolled_up(
            &[
                ("PortalId", portal_id.to_string()),
                ("ObjectType", object_type.to_owned()),
                ("Reason", reason),
            ],
            &[("RecordsFailedByReason", n as f64, Unit::Count)],
            timestamp_ms,
        ));
    }
    for (portal_id, n) in &figures.rate_limited {
        lines.push(emf_line_rolled_up(
            &[("PortalId", portal_id.to_string())],
            &[("HubSpot429s", *n as f64, Unit::Count)],
            timestamp_ms,
        ));
    }
    // The oldest wait of all, always (0 when nothing waits): the outbox age alarm treats a
    // minute without it as the relay job not running.
    let oldest = figures
        .by_object
        .values()
        .map(|f| f.outbox_oldest_wait_seconds)
        .fold(0.0, f64::max);
    let mut standing = vec![
        ("OutboxOldestWait", oldest, Unit::Seconds),
        (
            "InstallationsNeedingReconnect",
            figures.installations_needing_reconnect as f64,
            Unit::Count,
        ),
        (
            "TokenRefreshes",
            figures.token_refreshes as f64,
            Unit::Count,
        ),
    ];
    if let Some(lag) = figures.apply_lag_p95_seconds {
        standing.push(("WebhookApplyLagP95", lag, Unit::Seconds));
    }
    lines.push(emf_line_rolled_up(&[], &standing, timestamp_ms));
    lines
}

/// Every metric name [`figure_lines`] can print (the dashboard test checks against it).
pub const FIGURE_METRICS: [&str; 11] = [
    "RecordsPushed",
    "RecordsFailed",
    "ChangesApplied",
    "WebhookEventsReceived",
    "OutboxWaiting",
    "OutboxOldestWait",
    "RecordsFailedByReason",
    "HubSpot429s",
    "InstallationsNeedingReconnect",
    "TokenRefreshes",
    "WebhookApplyLagP95",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use warp_store::sync_metrics::ObjectFigures;

    #[test]
    fn a_reason_is_a_category_or_a_call_failure_kind_never_free_text() {
        for (error, reason) in [
            (
                "HubSpot refused the input (VALIDATION_ERROR, 400) on properties: email (INVALID_EMAIL)",
                "VALIDATION_ERROR",
            ),
            ("HubSpot refused the input (CONFLICT)", "CONFLICT"),
            (
                "HubSpot batch call failed: rate limited (429) (retryable)",
                "RATE_LIMITED",
            ),
            (
                "HubSpot batch call failed: no answer in time (retryable)",
                "NO_ANSWER_IN_TIME",
            ),
            (
                "HubSpot batch call failed: server error (502), X (retryable)",
                "SERVER_ERROR",
            ),
            ("HubSpot refused the input (lower case)", "OTHER"),
            ("the customer's BAN is ada@example.com", "OTHER"),
            ("", "OTHER"),
        ] {
            assert_eq!(failure_reason(error), reason, "{error}");
        }
    }

    #[test]
    fn the_lines_carry_each_figure_per_portal_and_object_type_and_rolled_up() {
        let mut figures = SyncFigures::default();
        figures.by_object.insert(
            (7, "contacts".into()),
            ObjectFigures {
                records_pushed: 40,
                records_failed: 3,
                outbox_oldest_wait_seconds: 12.5,
                ..ObjectFigures::default()
            },
        );
        figures.failures = vec![
            (
                7,
                "contacts".into(),
                "HubSpot refused the input (VALIDATION_ERROR) on properties: email".into(),
                2,
            ),
            (
                7,
                "contacts".into(),
                "HubSpot refused the input (VALIDATION_ERROR) on properties: phone".into(),
                1,
            ),
        ];
        figures.rate_limited.insert(7, 4);
        figures.installations_needing_reconnect = 1;
        let lines: Vec<Value> = figure_lines(&figures, 1_765_000_000_000)
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        let object = &lines[0];
        assert_eq!(object["PortalId"], "7");
        assert_eq!(object["ObjectType"], "contacts");
        assert_eq!(object["RecordsPushed"], 40.0);
        assert_eq!(object["RecordsFailed"], 3.0);
        assert_eq!(object["OutboxOldestWait"], 12.5);
        assert_eq!(
            object["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["PortalId", "ObjectType"], []])
        );
        // The two validation failures are one reason.
        assert_eq!(lines[1]["Reason"], "VALIDATION_ERROR");
        assert_eq!(lines[1]["RecordsFailedByReason"], 3.0);
        assert_eq!(lines[2]["HubSpot429s"], 4.0);
        assert_eq!(lines[3]["InstallationsNeedingReconnect"], 1.0);
        assert_eq!(
            lines[3]["OutboxOldestWait"], 12.5,
            "the oldest of all, rolled up"
        );
        assert_eq!(
            lines[3].get("WebhookApplyLagP95"),
            None,
            "no lag without events"
        );
        // Every metric a line names is one the dashboard test knows.
        for line in &lines {
            for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
            {
                assert!(FIGURE_METRICS.contains(&metric["Name"].as_str().unwrap()));
            }
        }
    }
}
