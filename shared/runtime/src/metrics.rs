//! CloudWatch metrics as embedded metric format (EMF) lines: one JSON object per line on
//! stdout, which Lambda ships to CloudWatch Logs and CloudWatch turns into metrics — no API
//! call, no extra latency. The line is built by a pure function (tested by parsing it); the
//! functions print it.

use serde_json::{Map, Value, json};

/// The namespace of WARP's metrics unless the configuration names another
/// (`METRICS_NAMESPACE`; template.yaml sets `WARP/<stack name>`, so two stacks in one account
/// and region never add into each other's rolled-up figures and alarms).
pub const NAMESPACE: &str = "WARP/Sync";

static CONFIGURED_NAMESPACE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the namespace every line of this process is written under; once, at start-up (a
/// second call changes nothing).
pub fn use_namespace(namespace: &str) {
    let _ = CONFIGURED_NAMESPACE.set(namespace.to_owned());
}

/// The namespace lines are written under.
pub fn namespace() -> &'static str {
    CONFIGURED_NAMESPACE.get().map_or(NAMESPACE, String::as_str)
}

/// A CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF line: `values` under `dimensions` (name, value), at `timestamp_ms`.
pub fn emf_line(
    dimensions: &[(&str, String)],
    values: &[(&str, f64, Unit)],
    timestamp_ms: i64,
) -> String {
    line(dimensions, false, values, timestamp_ms)
}

/// [`emf_line`] whose values are also recorded without any dimension: CloudWatch sums (or
/// maximises) them over every portal and object type, which is what an alarm reads when the
/// portals are not known at deploy time.
pub fn emf_line_rolled_up(
    dimensions: &[(&str, String)],
    values: &[(&str, f64, Unit)],
    timestamp_ms: i64,
) -> String {
    line(dimensions, true, values, timestamp_ms)
}

fn line(
    dimensions: &[(&str, String)],
    rolled_up: bool,
    values: &[(&str, f64, Unit)],
    timestamp_ms: i64,
) -> String {
    let named: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let mut sets = Vec::new();
    if !named.is_empty() || !rolled_up {
        sets.push(named);
    }
    if rolled_up {
        sets.push(Vec::new());
    }
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace(),
                "Dimensions": sets,
                "Metrics": values
                    .iter()
                    .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    for (name, value) in dimensions {
        root.insert((*name).into(), Value::String(value.clone()));
    }
    for (name, value, _) in values {
        root.insert((*name).into(), json!(value));
    }
    Value::Object(root).to_string()
}

/// Prints EMF lines made elsewhere, one per line on stdout.
pub fn print_lines(lines: &[String]) {
    for line in lines {
        println!("{line}");
    }
}

/// Now, as an EMF line's timestamp.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Prints one EMF line on stdout, now.
pub fn emit(dimensions: &[(&str, String)], values: &[(&str, f64, Unit)]) {
    println!(
        "{}",
        emf_line(dimensions, values, chrono::Utc::now().timestamp_millis())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_json_object_cloudwatch_reads_as_metrics() {
        let line = emf_line(
            &[("Function", "reconciler".to_owned())],
            &[
                ("WebhookEventsFailed", 2.0, Unit::Count),
                ("OutboxAge", 1.5, Unit::Seconds),
            ],
            1_765_000_000_000,
        );
        assert!(!line.contains('\n'));
        let parsed: Value = serde_json::from_str(&line).unwrap();
        let directive = &parsed["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(parsed["_aws"]["Timestamp"], 1_765_000_000_000_i64);
        assert_eq!(directive["Namespace"], "WARP/Sync");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "WebhookEventsFailed", "Unit": "Count"}, {"Name": "OutboxAge", "Unit": "Seconds"}])
        );
        // Every metric and dimension named in the directive is a member of the root.
        assert_eq!(parsed["Function"], "reconciler");
        assert_eq!(parsed["WebhookEventsFailed"], 2.0);
        assert_eq!(parsed["OutboxAge"], 1.5);
    }

    #[test]
    fn a_rolled_up_line_also_records_its_values_without_dimensions() {
        let line = emf_line_rolled_up(
            &[("PortalId", "7".to_owned())],
            &[("RecordsPushed", 3.0, Unit::Count)],
            0,
        );
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["PortalId"], []])
        );
        let bare = emf_line_rolled_up(&[], &[("TokenRefreshes", 1.0, Unit::Count)], 0);
        let parsed: Value = serde_json::from_str(&bare).unwrap();
        assert_eq!(
            parsed["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }
}
