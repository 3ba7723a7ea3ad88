//! A customer's daily usage (seed 002's usage sync): calls completed, minutes, SMS sent,
//! spend, answer-seizure ratio (ASR) and average call duration (ACD), one row per customer and
//! day, sent by the platform in batches and corrected by sending the day again. From the days:
//! the month-to-date figures the company record shows.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::customer::{FieldError, Money};
use crate::json_input::{Reader, join, text, whole_number};

/// Most days one `POST /v1/usage` carries.
pub const MAX_DAYS_PER_BATCH: usize = 1000;
/// The most of any daily count (calls, minutes, messages): far above any switch's day.
pub const MAX_DAILY_COUNT: i64 = 1_000_000_000_000;
/// The longest average call in minutes a day may report (a day has 1,440).
pub const MAX_ACD_MINUTES: f64 = 1440.0;

/// One customer's usage on one day (UTC).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageDay {
    pub customer_id: Uuid,
    pub date: NaiveDate,
    pub calls_completed: i64,
    pub minutes: i64,
    pub sms_sent: i64,
    pub spend: Money,
    /// Answered calls over attempts, 0 to 1; none when no call was attempted.
    pub asr: Option<f64>,
    /// Average call duration in minutes; none when no call was answered.
    pub acd: Option<f64>,
}

impl UsageDay {
    /// The figures a correction compares (the customer and date are the row's key).
    pub fn same_figures(&self, other: &UsageDay) -> bool {
        (
            self.calls_completed,
            self.minutes,
            self.sms_sent,
            self.spend,
        ) == (
            other.calls_completed,
            other.minutes,
            other.sms_sent,
            other.spend,
        ) && self.asr == other.asr
            && self.acd == other.acd
    }
}

const DAY_FIELDS: &[&str] = &[
    "customer_id",
    "date",
    "calls_completed",
    "minutes",
    "sms_sent",
    "spend",
    "asr",
    "acd",
];
const REQUIRED: &[&str] = &[
    "customer_id",
    "date",
    "calls_completed",
    "minutes",
    "sms_sent",
    "spend",
];

/// Reads `{"days": [...]}`: 1 to 1,000 days, each named by its path (`days[3].spend`) when at
/// fault; a (customer, date) given twice is refused, naming the repeat. Dates after `today`
/// (UTC; the platform's day may end a day ahead of it) or before 2000 are refused. Any fault
/// refuses the whole body.
pub fn usage_days_from_json(
    value: &Value,
    today: NaiveDate,
) -> Result<Vec<UsageDay>, Vec<FieldError>> {
    let mut reader = Reader::new(&[]);
    let mut days = Vec::new();
    if let Some(map) = reader.object(value, "", &["days"]) {
        match map.get("days").and_then(Value::as_array) {
            None => reader.error("days", "is required: an array of daily usage rows"),
            Some(items) if items.is_empty() || items.len() > MAX_DAYS_PER_BATCH => reader.error(
                "days",
                format!(
                    "must hold 1 to {MAX_DAYS_PER_BATCH} days, not {}",
                    items.len()
                ),
            ),
            Some(items) => {
                for (index, item) in items.iter().enumerate() {
                    let path = format!("days[{index}]");
                    if let Some(day) = usage_day(&mut reader, item, &path, today) {
                        if let Some(first) = days
                            .iter()
                            .position(|(_, d): &(usize, UsageDay)| {
                                (d.customer_id, d.date) == (day.customer_id, day.date)
                            })
                            .map(|at| days[at].0)
                        {
                            reader.error(
                                path,
                                format!("repeats the customer and date of days[{first}]"),
                            );
                        } else {
                            days.push((index, day));
                        }
                    }
                }
            }
        }
    }
    let errors = reader.into_errors();
    if errors.is_empty() {
        Ok(days.into_iter().map(|(_, day)| day).collect())
    } else {
        Err(errors)
    }
}

fn usage_day(reader: &mut Reader, value: &Value, path: &str, today: NaiveDate) -> Option<UsageDay> {
    let map = reader.object(value, path, DAY_FIELDS)?;
    let before = reader.error_count();
    for key in REQUIRED {
        if !map.contains_key(*key) {
            reader.error(join(path, key), "is required");
        }
    }
    let customer_id = reader.required(map, path, "customer_id", |v| {
        Uuid::parse_str(text(v)?).map_err(|_| "must be a customer id (a UUID)".to_owned())
    });
    let date = reader.required(map, path, "date", |v| {
        NaiveDate::parse_from_str(text(v)?, "%Y-%m-%d")
            .ok()
            .filter(|d| d.year() >= 2000)
            .ok_or_else(|| "must be a date such as 2026-12-01 (2000 or later)".to_owned())
    });
    if let Some(date) = date
        && date > today.succ_opt().unwrap_or(today)
    {
        reader.error(join(path, "date"), "must not be in the future");
    }
    let count = |v: &Value| whole_number(v, 0..=MAX_DAILY_COUNT);
    let calls_completed = reader.required(map, path, "calls_completed", count);
    let minutes = reader.required(map, path, "minutes", count);
    let sms_sent = reader.required(map, path, "sms_sent", count);
    let spend = reader.required(map, path, "spend", |v| {
        let spend = Money::from_json(v).map_err(|e| e.to_string())?;
        if spend.is_negative() {
            return Err("must not be negative".to_owned());
        }
        Ok(spend)
    });
    let asr = ratio(reader, map, path, "asr", 1.0);
    let acd = ratio(reader, map, path, "acd", MAX_ACD_MINUTES);
    if reader.error_count() > before {
        return None;
    }
    Some(UsageDay {
        customer_id: customer_id?,
        date: date?,
        calls_completed: calls_completed?,
        minutes: minutes?,
        sms_sent: sms_sent?,
        spend: spend?,
        asr,
        acd,
    })
}

/// An optional number from 0 to `max` (`null` or absent: none).
fn ratio(
    reader: &mut Reader,
    map: &Map<String, Value>,
    path: &str,
    key: &str,
    max: f64,
) -> Option<f64> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_f64().filter(|n| (0.0..=max).contains(n)) {
            Some(n) => Some(n),
            None => {
                reader.error(join(path, key), format!("must be a number from 0 to {max}"));
                None
            }
        },
    }
}

/// A customer's usage over one calendar month, up to its last reported day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthToDate {
    /// The month's first day.
    pub month: NaiveDate,
    pub days_reported: u32,
    pub calls_completed: i64,
    pub minutes: i64,
    pub sms_sent: i64,
    pub spend: Money,
    pub last_usage_date: Option<NaiveDate>,
}

/// The first day of `date`'s month.
pub fn month_of(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// The month-to-date totals of the days in `month` (other days are ignored).
pub fn month_to_date(month: NaiveDate, days: &[UsageDay]) -> MonthToDate {
    let month = month_of(month);
    let mut totals = MonthToDate {
        month,
        days_reported: 0,
        calls_completed: 0,
        minutes: 0,
        sms_sent: 0,
        spend: Money::ZERO,
        last_usage_date: None,
    };
    for day in days.iter().filter(|day| month_of(day.date) == month) {
        totals.days_reported += 1;
        totals.calls_completed = totals.calls_completed.saturating_add(day.calls_completed);
        totals.minutes = totals.minutes.saturating_add(day.minutes);
        totals.sms_sent = totals.sms_sent.saturating_add(day.sms_sent);
        totals.spend = totals.spend.saturating_add(day.spend);
        totals.last_usage_date = totals.last_usage_date.max(Some(day.date));
    }
    totals
}

/// Whether a customer owes WARP money (our rule from the balance and the credit limit; the
/// billing system has no payment records here): `over_limit` past the limit, `balance_due`
/// with anything owed, `paid` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Paid,
    BalanceDue,
    OverLimit,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 3] = [
        PaymentStatus::Paid,
        PaymentStatus::BalanceDue,
        PaymentStatus::OverLimit,
    ];

    pub fn of(current_balance: Money, credit_limit: Money) -> Self {
        if current_balance.is_negative() || current_balance == Money::ZERO {
            PaymentStatus::Paid
        } else if credit_limit > Money::ZERO && current_balance > credit_limit {
            PaymentStatus::OverLimit
        } else {
            PaymentStatus::BalanceDue
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Paid => "paid",
            PaymentStatus::BalanceDue => "balance_due",
            PaymentStatus::OverLimit => "over_limit",
        }
    }
}

/// The company properties the daily usage push writes by default (a portal may map the figures
/// to others: [`UsagePropertyMap`]).
pub const MTD_MINUTES_PROPERTY: &str = "warp_mtd_minutes";
pub const MTD_SPEND_PROPERTY: &str = "warp_mtd_spend";
pub const MRR_PROPERTY: &str = "warp_mrr";
pub const PAYMENT_STATUS_PROPERTY: &str = "warp_payment_status";
pub const LAST_USAGE_DATE_PROPERTY: &str = "warp_last_usage_date";

code_enum!(
    /// A figure the daily usage push writes on the company.
    UsageFigure {
        MtdMinutes => "mtd_minutes",
        MtdSpend => "mtd_spend",
        Mrr => "mrr",
        PaymentStatus => "payment_status",
        LastUsageDate => "last_usage_date",
    }
);

impl UsageFigure {
    /// The property every portal starts with (`make hubspot-setup` creates it).
    pub fn default_property(self) -> &'static str {
        match self {
            UsageFigure::MtdMinutes => MTD_MINUTES_PROPERTY,
            UsageFigure::MtdSpend => MTD_SPEND_PROPERTY,
            UsageFigure::Mrr => MRR_PROPERTY,
            UsageFigure::PaymentStatus => PAYMENT_STATUS_PROPERTY,
            UsageFigure::LastUsageDate => LAST_USAGE_DATE_PROPERTY,
        }
    }

    /// What a HubSpot property must be able to hold for this figure.
    pub fn value_kind(self) -> crate::sync::ValueKind {
        use crate::sync::ValueKind;
        match self {
            UsageFigure::MtdMinutes | UsageFigure::MtdSpend | UsageFigure::Mrr => ValueKind::Number,
            UsageFigure::PaymentStatus => {
                ValueKind::Choice(PaymentStatus::ALL.iter().map(|s| s.as_str()).collect())
            }
            UsageFigure::LastUsageDate => ValueKind::Date,
        }
    }
}

/// Why a usage property mapping cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageMapError {
    #[error("{0:?} is not a HubSpot internal property name")]
    InvalidProperty(String),
    #[error("HubSpot property {property:?} is mapped to {first} and {second}")]
    DuplicateProperty {
        property: String,
        first: &'static str,
        second: &'static str,
    },
}

/// Which company property carries each usage figure, `None` for a figure not written: mapping
/// as data (a portal's own rows over the defaults), so operations rename or switch off a
/// property without a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePropertyMap(Vec<(UsageFigure, Option<String>)>);

impl Default for UsagePropertyMap {
    fn default() -> Self {
        UsagePropertyMap(
            UsageFigure::ALL
                .iter()
                .map(|f| (*f, Some(f.default_property().to_owned())))
                .collect(),
        )
    }
}

impl UsagePropertyMap {
    /// The defaults with `rows` (figure, property, enabled) over them, checked as a whole: a
    /// property name HubSpot could have, each property carrying one figure.
    pub fn with_rows(
        rows: impl IntoIterator<Item = (UsageFigure, String, bool)>,
    ) -> Result<Self, UsageMapError> {
        let mut map = UsagePropertyMap::default();
        for (figure, property, enabled) in rows {
            let property = property.trim().to_owned();
            check_property_name(&property)?;
            if let Some(slot) = map.0.iter_mut().find(|(f, _)| *f == figure) {
                slot.1 = enabled.then_some(property);
            }
        }
        for (index, (figure, property)) in map.0.iter().enumerate() {
            let Some(property) = property else { continue };
            if let Some((other, _)) = map.0[..index]
                .iter()
                .find(|(_, p)| p.as_deref() == Some(property.as_str()))
            {
                return Err(UsageMapError::DuplicateProperty {
                    property: property.clone(),
                    first: other.as_str(),
                    second: figure.as_str(),
                });
            }
        }
        Ok(map)
    }

    /// The property `figure` is written to, if it is written.
    pub fn property(&self, figure: UsageFigure) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == figure)
            .and_then(|(_, p)| p.as_deref())
    }
}

/// HubSpot's internal names: a lowercase letter, then lowercase letters, digits and `_`, at
/// most 100 characters.
pub fn check_property_name(name: &str) -> Result<(), UsageMapError> {
    let valid = name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(UsageMapError::InvalidProperty(name.to_owned()))
    }
}

/// What the company shows of a customer's usage and billing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CompanyUsageFigures {
    pub mtd_minutes: i64,
    pub mtd_spend: String,
    /// Monthly recurring revenue: the monthly cost of the numbers in service.
    pub mrr: String,
    pub payment_status: String,
    /// `YYYY-MM-DD`, empty before any usage.
    pub last_usage_date: String,
}

impl CompanyUsageFigures {
    pub fn new(
        totals: &MonthToDate,
        mrr: Money,
        payment: PaymentStatus,
        last_usage_date: Option<NaiveDate>,
    ) -> Self {
        CompanyUsageFigures {
            mtd_minutes: totals.minutes,
            mtd_spend: totals.spend.to_string(),
            mrr: mrr.to_string(),
            payment_status: payment.as_str().to_owned(),
            last_usage_date: last_usage_date.map_or_else(String::new, |d| d.to_string()),
        }
    }

    /// One figure's value ("" clears).
    pub fn value(&self, figure: UsageFigure) -> String {
        match figure {
            UsageFigure::MtdMinutes => self.mtd_minutes.to_string(),
            UsageFigure::MtdSpend => self.mtd_spend.clone(),
            UsageFigure::Mrr => self.mrr.clone(),
            UsageFigure::PaymentStatus => self.payment_status.clone(),
            UsageFigure::LastUsageDate => self.last_usage_date.clone(),
        }
    }

    /// The company properties `map` writes and their values.
    pub fn values(&self, map: &UsagePropertyMap) -> std::collections::BTreeMap<String, String> {
        UsageFigure::ALL
            .iter()
            .filter_map(|figure| Some((map.property(*figure)?.to_owned(), self.value(*figure))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        fields
    }

    #[test]
    fn the_issue_example_is_one_day() {
        let customer = Uuid::now_v7();
        let days = usage_days_from_json(
            &json!({"days": [{"customer_id": customer.to_string(), "date": "2026-12-01",
                "calls_completed": 10000, "minutes": 50000, "sms_sent": 5000, "spend": "450.00",
                "asr": 0.65, "acd": 4.5}]}),
            today(),
        )
        .unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].spend.to_string(), "450.00");
        assert_eq!(days[0].asr, Some(0.65));
        assert_eq!(days[0].date, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
    }

    #[test]
    fn every_fault_is_named_by_its_path_and_a_repeat_is_refused() {
        let customer = Uuid::now_v7().to_string();
        let errors = usage_days_from_json(
            &json!({"days": [
                {"customer_id": customer, "date": "2026-12-01", "calls_completed": 1,
                 "minutes": 1, "sms_sent": 0, "spend": 1},
                {"customer_id": "acme", "date": "2026-12-31", "calls_completed": -1,
                 "minutes": 1.5, "sms_sent": 0, "spend": "-1.00", "asr": 1.5, "colour": "red"},
                {"customer_id": customer, "date": "2026-12-01", "calls_completed": 2,
                 "minutes": 2, "sms_sent": 0, "spend": 2},
                {"date": "1999-12-31"},
            ]}),
            today(),
        )
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "days[1].asr",
                "days[1].calls_completed",
                "days[1].colour",
                "days[1].customer_id",
                "days[1].date",
                "days[1].minutes",
                "days[1].spend",
                "days[2]",
                "days[3].calls_completed",
                "days[3].customer_id",
                "days[3].date",
                "days[3].minutes",
                "days[3].sms_sent",
                "days[3].spend",
            ]
        );
        let empty = usage_days_from_json(&json!({"days": []}), today()).unwrap_err();
        assert_eq!(fields(&empty), ["days"]);
    }

    #[test]
    fn month_to_date_sums_the_month_only() {
        let customer = Uuid::now_v7();
        let day = |date: &str, minutes: i64, spend: &str| UsageDay {
            customer_id: customer,
            date: NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(),
            calls_completed: 1,
            minutes,
            sms_sent: 0,
            spend: Money::parse(spend).unwrap(),
            asr: None,
            acd: None,
        };
        let days = [
            day("2026-11-30", 999, "99.00"),
            day("2026-12-01", 100, "1.50"),
            day("2026-12-03", 50, "0.25"),
        ];
        let totals = month_to_date(NaiveDate::from_ymd_opt(2026, 12, 17).unwrap(), &days);
        assert_eq!(totals.month, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!((totals.days_reported, totals.minutes), (2, 150));
        assert_eq!(totals.spend.to_string(), "1.75");
        assert_eq!(totals.last_usage_date, Some(days[2].date));
    }

    #[test]
    fn payment_status_follows_the_balance_and_the_limit() {
        let money = |text: &str| Money::parse(text).unwrap();
        assert_eq!(
            PaymentStatus::of(money("-5.00"), money("100.00")),
            PaymentStatus::Paid
        );
        assert_eq!(
            PaymentStatus::of(money("0"), money("0")),
            PaymentStatus::Paid
        );
        assert_eq!(
            PaymentStatus::of(money("50.00"), money("100.00")),
            PaymentStatus::BalanceDue
        );
        assert_eq!(
            PaymentStatus::of(money("100.01"), money("100.00")),
            PaymentStatus::OverLimit
        );
        assert_eq!(
            PaymentStatus::of(money("5.00"), money("0")),
            PaymentStatus::BalanceDue
        );
    }

    #[test]
    fn a_portal_renames_or_switches_off_a_figure_and_each_property_carries_one() {
        let figures = CompanyUsageFigures {
            mtd_minutes: 50,
            mtd_spend: "4.50".to_owned(),
            mrr: "2.00".to_owned(),
            payment_status: "paid".to_owned(),
            last_usage_date: "2026-12-03".to_owned(),
        };
        let defaults = figures.values(&UsagePropertyMap::default());
        assert_eq!(defaults.len(), 5);
        assert_eq!(defaults["warp_mtd_minutes"], "50");
        let map = UsagePropertyMap::with_rows([
            (UsageFigure::MtdMinutes, "acme_minutes".to_owned(), true),
            (UsageFigure::Mrr, "warp_mrr".to_owned(), false),
        ])
        .unwrap();
        let values = figures.values(&map);
        assert_eq!(values["acme_minutes"], "50");
        assert!(!values.contains_key("warp_mtd_minutes"));
        assert!(!values.contains_key("warp_mrr"), "switched off");
        assert_eq!(values.len(), 4);
        // A switched-off figure frees its property for another.
        assert!(
            UsagePropertyMap::with_rows([
                (UsageFigure::Mrr, "warp_mrr".to_owned(), false),
                (UsageFigure::MtdSpend, "warp_mrr".to_owned(), true),
            ])
            .is_ok()
        );
        assert_eq!(
            UsagePropertyMap::with_rows([(UsageFigure::MtdSpend, "warp_mrr".to_owned(), true)]),
            Err(UsageMapError::DuplicateProperty {
                property: "warp_mrr".to_owned(),
                first: "mtd_spend",
                second: "mrr",
            })
        );
        for bad in ["", "Has Caps", "1st", "dash-ed", &"x".repeat(101)] {
            assert_eq!(
                UsagePropertyMap::with_rows([(UsageFigure::Mrr, bad.to_owned(), true)]),
                Err(UsageMapError::InvalidProperty(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    proptest! {
        /// A month's total is the sum of its days, whatever their order.
        #[test]
        fn totals_do_not_depend_on_order(minutes in proptest::collection::vec(0i64..100_000, 0..20)) {
            let customer = Uuid::nil();
            let days: Vec<UsageDay> = minutes.iter().enumerate().map(|(i, m)| UsageDay {
                customer_id: customer,
                date: NaiveDate::from_ymd_opt(2026, 12, 1 + i as u32).unwrap(),
                calls_completed: 0, minutes: *m, sms_sent: 0, spend: Money::ZERO,
                asr: None, acd: None,
            }).collect();
            let mut reversed = days.clone();
            reversed.reverse();
            let month = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
            prop_assert_eq!(month_to_date(month, &days), month_to_date(month, &reversed));
            prop_assert_eq!(month_to_date(month, &days).minutes, minutes.iter().sum::<i64>());
        }
    }
}
