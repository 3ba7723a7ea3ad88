//! Deals, mirrored from HubSpot (seed 002's sales process: the customer starts as a deal).
//! WARP never writes a deal's own fields; it reads HubSpot's and keeps the newest it has seen.
//! What a stage means (open, won, lost) comes from the pipeline's stage metadata, never from a
//! label a portal admin may rename.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// The deal properties WARP reads.
pub const DEAL_PROPERTIES: [&str; 9] = [
    "dealname",
    "amount",
    "deal_currency_code",
    "pipeline",
    "dealstage",
    "closedate",
    "hubspot_owner_id",
    "hs_deal_stage_probability",
    "hs_lastmodifieddate",
];

/// Where a stage leaves a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StageOutcome {
    Open,
    Won,
    Lost,
}

impl StageOutcome {
    /// From a stage's metadata (`isClosed`, `probability`, as HubSpot's text): closed with
    /// probability 1 is won, closed otherwise lost, anything else open. A closed stage with
    /// no readable probability is lost: "won" must be certain before a customer is made.
    pub fn from_metadata(is_closed: Option<&str>, probability: Option<&str>) -> Self {
        let closed = is_closed.is_some_and(|text| text.trim().eq_ignore_ascii_case("true"));
        if !closed {
            return StageOutcome::Open;
        }
        let certain = probability
            .and_then(|text| Decimal::from_str(text.trim()).ok())
            .is_some_and(|p| p >= Decimal::ONE);
        if certain {
            StageOutcome::Won
        } else {
            StageOutcome::Lost
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StageOutcome::Open => "open",
            StageOutcome::Won => "won",
            StageOutcome::Lost => "lost",
        }
    }
}

/// A deal as HubSpot holds it, read from its properties. Values HubSpot should never send
/// (an amount that is not a number, a date that is not one) are dropped rather than refused:
/// the mirror keeps what it can read, and the raw text is HubSpot's to fix.
#[derive(Debug, Clone, PartialEq)]
pub struct DealSnapshot {
    pub hubspot_id: String,
    pub name: Option<String>,
    /// Exact: HubSpot's text parsed as a decimal, never through a float.
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub pipeline_id: Option<String>,
    pub stage_id: Option<String>,
    pub close_date: Option<DateTime<Utc>>,
    pub owner_id: Option<String>,
    pub probability: Option<Decimal>,
    /// HubSpot's last change time of the deal: a read older than the stored one is not kept.
    pub modified_at: Option<DateTime<Utc>>,
}

impl DealSnapshot {
    pub fn from_properties(
        hubspot_id: &str,
        properties: &BTreeMap<String, Option<String>>,
    ) -> Self {
        let text = |name: &str| {
            properties
                .get(name)
                .and_then(|value| value.as_deref())
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        let decimal = |name: &str| text(name).and_then(|value| parse_decimal(&value));
        let time = |name: &str| text(name).and_then(|value| parse_hubspot_time(&value));
        Self {
            hubspot_id: hubspot_id.to_owned(),
            name: text("dealname"),
            amount: decimal("amount"),
            currency: text("deal_currency_code").map(|code| code.to_ascii_uppercase()),
            pipeline_id: text("pipeline"),
            stage_id: text("dealstage"),
            close_date: time("closedate"),
            owner_id: text("hubspot_owner_id"),
            probability: decimal("hs_deal_stage_probability"),
            modified_at: time("hs_lastmodifieddate"),
        }
    }
}

/// HubSpot's number text: plain ("1500.00") or scientific ("1.5E3").
fn parse_decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// HubSpot's time text: ISO 8601, or milliseconds since the epoch (older properties), or a
/// bare date (a date property: midnight UTC).
pub fn parse_hubspot_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    if let Ok(ms) = text.parse::<i64>() {
        return DateTime::from_timestamp_millis(ms);
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn properties(pairs: &[(&str, &str)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Some((*v).to_owned())))
            .collect()
    }

    #[test]
    fn won_is_closed_with_probability_one_whatever_the_label() {
        assert_eq!(
            StageOutcome::from_metadata(Some("true"), Some("1.0")),
            StageOutcome::Won
        );
        assert_eq!(
            StageOutcome::from_metadata(Some("true"), Some("1")),
            StageOutcome::Won
        );
        assert_eq!(
            StageOutcome::from_metadata(Some("true"), Some("0.0")),
            StageOutcome::Lost
        );
        assert_eq!(
            StageOutcome::from_metadata(Some("true"), None),
            StageOutcome::Lost
        );
        assert_eq!(
            StageOutcome::from_metadata(Some("false"), Some("1.0")),
            StageOutcome::Open
        );
        assert_eq!(StageOutcome::from_metadata(None, None), StageOutcome::Open);
    }

    #[test]
    fn a_deal_reads_exact_amounts_and_hubspot_times() {
        let deal = DealSnapshot::from_properties(
            "7",
            &properties(&[
                ("dealname", " WARP SIP rollout "),
                ("amount", "12345.67"),
                ("deal_currency_code", "usd"),
                ("dealstage", "closedwon"),
                ("closedate", "2026-12-01T00:00:00Z"),
                ("hs_lastmodifieddate", "1764547200000"),
                ("hs_deal_stage_probability", "1"),
            ]),
        );
        assert_eq!(deal.name.as_deref(), Some("WARP SIP rollout"));
        assert_eq!(deal.amount, Some(Decimal::new(1_234_567, 2)));
        assert_eq!(deal.currency.as_deref(), Some("USD"));
        assert_eq!(
            deal.close_date.map(|t| t.to_rfc3339()),
            Some("2026-12-01T00:00:00+00:00".to_owned())
        );
        assert_eq!(
            deal.modified_at.map(|t| t.timestamp_millis()),
            Some(1_764_547_200_000)
        );
        assert_eq!(deal.probability, Some(Decimal::ONE));
        assert_eq!(deal.pipeline_id, None);
    }

    #[test]
    fn unreadable_values_are_dropped_not_guessed() {
        let deal = DealSnapshot::from_properties(
            "8",
            &properties(&[("amount", "lots"), ("closedate", "soon"), ("dealname", "")]),
        );
        assert_eq!(
            (deal.amount, deal.close_date, deal.name),
            (None, None, None)
        );
        assert_eq!(parse_decimal("1.5E3"), Some(Decimal::new(1500, 0)));
        assert_eq!(
            parse_hubspot_time("2026-12-05").map(|t| t.to_rfc3339()),
            Some("2026-12-05T00:00:00+00:00".to_owned())
        );
    }

    proptest! {
        /// Any amount with cents survives the read exactly.
        #[test]
        fn amounts_are_exact(units in 0i64..10_000_000_000, cents in 0i64..100) {
            let amount = Decimal::new(units * 100 + cents, 2);
            let deal = DealSnapshot::from_properties(
                "1",
                &properties(&[("amount", &amount.to_string())]),
            );
            prop_assert_eq!(deal.amount, Some(amount));
        }

        /// Only a closed stage can be won, and never with a probability below one.
        #[test]
        fn won_needs_closed_and_certain(closed in any::<bool>(), p in 0u32..=100) {
            let probability = format!("{:.2}", f64::from(p) / 100.0);
            let outcome = StageOutcome::from_metadata(
                Some(if closed { "true" } else { "false" }),
                Some(&probability),
            );
            prop_assert_eq!(outcome == StageOutcome::Won, closed && p == 100);
        }
    }
}
