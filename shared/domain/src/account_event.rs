//! Account and service events (issue 21, seed 002's list): a customer suspended, reactivated
//! or closed, its credit limit or its services changed. The database records one for every such
//! change, whoever made it (the API, HubSpot's side applied, the billing system's own SQL); each
//! is written once as a note on the customer's company timeline, which works on every portal.

use serde_json::Value;

use crate::html::escape;

/// What happened to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountEventKind {
    Suspended,
    Reactivated,
    Closed,
    CreditLimitChanged,
    ServicesChanged,
    /// The month's spend reached the alert share of the credit limit (usage).
    SpendThreshold,
    TrunkCreated,
    TrunkReleased,
    NumberAdded,
    NumberReleased,
    /// A day's usage (the daily usage note).
    DailyUsage,
}

impl AccountEventKind {
    pub const ALL: [AccountEventKind; 11] = [
        AccountEventKind::Suspended,
        AccountEventKind::Reactivated,
        AccountEventKind::Closed,
        AccountEventKind::CreditLimitChanged,
        AccountEventKind::ServicesChanged,
        AccountEventKind::SpendThreshold,
        AccountEventKind::TrunkCreated,
        AccountEventKind::TrunkReleased,
        AccountEventKind::NumberAdded,
        AccountEventKind::NumberReleased,
        AccountEventKind::DailyUsage,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The `kind` column's text (migration V27's trigger writes it).
    pub fn as_str(&self) -> &'static str {
        match self {
            AccountEventKind::Suspended => "suspended",
            AccountEventKind::Reactivated => "reactivated",
            AccountEventKind::Closed => "closed",
            AccountEventKind::CreditLimitChanged => "credit_limit_changed",
            AccountEventKind::ServicesChanged => "services_changed",
            AccountEventKind::SpendThreshold => "spend_threshold",
            AccountEventKind::TrunkCreated => "trunk_created",
            AccountEventKind::TrunkReleased => "trunk_released",
            AccountEventKind::NumberAdded => "number_added",
            AccountEventKind::NumberReleased => "number_released",
            AccountEventKind::DailyUsage => "daily_usage",
        }
    }
}

/// The note's body for an event of `kind` with the trigger's `details` (`from`, `to`), on the
/// account `ban`. Values are escaped: HubSpot renders notes as HTML.
pub fn account_event_note(kind: AccountEventKind, details: &Value, ban: &str) -> String {
    let account = format!("WARP billing account <b>{}</b>", escape(ban));
    describe(kind, details, &account, escape)
}

/// The same words as plain text: a custom event's summary property.
pub fn account_event_summary(kind: AccountEventKind, details: &Value, ban: &str) -> String {
    let account = format!("WARP billing account {ban}");
    describe(kind, details, &account, str::to_owned)
}

/// What changed, after `account`, each value passed through `quote` (escaped for HTML, or not).
fn describe(
    kind: AccountEventKind,
    details: &Value,
    account: &str,
    quote: fn(&str) -> String,
) -> String {
    let text = |key: &str| {
        details[key]
            .as_str()
            .map(quote)
            .unwrap_or_else(|| "–".to_owned())
    };
    match kind {
        AccountEventKind::Suspended => format!("{account} suspended (was {}).", text("from")),
        AccountEventKind::Reactivated => format!("{account} reactivated (was {}).", text("from")),
        AccountEventKind::Closed => format!("{account} closed (was {}).", text("from")),
        AccountEventKind::CreditLimitChanged => format!(
            "{account}: credit limit changed from {} to {}.",
            text("from"),
            text("to")
        ),
        AccountEventKind::SpendThreshold => format!(
            "{account}: spend this month {} reached {}% of the credit limit {}.",
            text("spend"),
            text("percent"),
            text("credit_limit")
        ),
        AccountEventKind::TrunkCreated => format!("{account}: SIP trunk {} created.", text("name")),
        AccountEventKind::TrunkReleased => {
            format!("{account}: SIP trunk {} released.", text("name"))
        }
        AccountEventKind::NumberAdded => format!("{account}: number {} added.", text("number")),
        AccountEventKind::NumberReleased => {
            format!("{account}: number {} released.", text("number"))
        }
        AccountEventKind::DailyUsage => format!(
            "{account}: usage on {}: {} calls, {} minutes, {} SMS, spend {}.",
            text("date"),
            text("calls_completed"),
            text("minutes"),
            text("sms_sent"),
            text("spend")
        ),
        AccountEventKind::ServicesChanged => {
            let changed = changed_services(&details["from"], &details["to"]);
            if changed.is_empty() {
                format!("{account}: services changed.")
            } else {
                format!(
                    "{account}: services changed: {}.",
                    quote(&changed.join(", "))
                )
            }
        }
    }
}

/// The services (top-level keys) whose settings differ between `from` and `to`, in order.
fn changed_services(from: &Value, to: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (from, to) = (
        from.as_object().unwrap_or(&empty),
        to.as_object().unwrap_or(&empty),
    );
    let mut names: Vec<&String> = from.keys().chain(to.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| from.get(*name) != to.get(*name))
        .map(|name| {
            let enabled = |side: &serde_json::Map<String, Value>| {
                side.get(name).and_then(|s| s["enabled"].as_bool())
            };
            match (enabled(from), enabled(to)) {
                (Some(false) | None, Some(true)) => format!("{name} enabled"),
                (Some(true), Some(false) | None) => format!("{name} disabled"),
                _ => format!("{name} settings"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_reads_back_from_its_column_text() {
        for kind in AccountEventKind::ALL {
            assert_eq!(AccountEventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AccountEventKind::parse("account_created"), None);
    }

    #[test]
    fn a_note_says_what_changed_from_what() {
        let suspended = json!({"from": "ACTIVE", "to": "SUSPENDED"});
        assert_eq!(
            account_event_note(AccountEventKind::Suspended, &suspended, "GT-000000001"),
            "WARP billing account <b>GT-000000001</b> suspended (was ACTIVE)."
        );
        let limit = json!({"from": "1500.00", "to": "2500.00"});
        assert_eq!(
            account_event_note(AccountEventKind::CreditLimitChanged, &limit, "GT-000000001"),
            "WARP billing account <b>GT-000000001</b>: credit limit changed from 1500.00 to 2500.00."
        );
    }

    #[test]
    fn usage_and_service_events_say_what_happened() {
        let alert = json!({"spend": "850.00", "percent": "80", "credit_limit": "1000.00"});
        assert_eq!(
            account_event_summary(AccountEventKind::SpendThreshold, &alert, "GT-000000001"),
            "WARP billing account GT-000000001: spend this month 850.00 reached 80% of the credit limit 1000.00."
        );
        assert_eq!(
            account_event_note(
                AccountEventKind::TrunkCreated,
                &json!({"name": "<Main>"}),
                "GT-000000001"
            ),
            "WARP billing account <b>GT-000000001</b>: SIP trunk &lt;Main&gt; created."
        );
    }

    #[test]
    fn services_name_each_one_switched_or_changed() {
        let details = json!({
            "from": {"voice": {"enabled": true}, "sms": {"enabled": false}, "data": {"enabled": true, "limit": 5}},
            "to": {"voice": {"enabled": false}, "sms": {"enabled": true}, "data": {"enabled": true, "limit": 9}, "<x>": {"enabled": true}}
        });
        assert_eq!(
            account_event_note(AccountEventKind::ServicesChanged, &details, "GT-000000001"),
            "WARP billing account <b>GT-000000001</b>: services changed: &lt;x&gt; enabled, data settings, sms enabled, voice disabled."
        );
        assert_eq!(
            account_event_summary(AccountEventKind::ServicesChanged, &details, "GT-000000001"),
            "WARP billing account GT-000000001: services changed: <x> enabled, data settings, sms enabled, voice disabled.",
            "plain text for a custom event's property"
        );
    }
}
