//! Canonical string forms of field values, so that WARP's and HubSpot's ways of writing the
//! same value compare equal ("1500.00" and "1500", "TRUE" and "true", "" and no value).
//!
//! Every comparison in the sync rules goes through [`canonical`]; [`FieldValues`] only ever
//! holds canonical values, so two `FieldValues` can be compared field by field with `==`.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

use super::mapping::WarpField;

/// The canonical form of `raw` as a value of `field`; `None` means "no value".
///
/// Rules (each one idempotent: `canonical(f, canonical(f, x)) == canonical(f, x)`):
/// - every field: surrounding whitespace is trimmed, and an empty result is `None`, because
///   HubSpot clears a property by setting it to "" and reports a cleared property as "".
/// - ban, status, customer_type: upper-case ASCII (they are codes: `ZT-487392012`, `ACTIVE`).
/// - domain: lower-case, trailing dots removed (DNS names are case-insensitive).
/// - credit_limit, current_balance: a decimal number with exactly two places, rounded half away
///   from zero, so "1500", "1500.0" and "1500.00" are one value ("-0" is "0.00"). Text that is
///   not a number is kept as trimmed, so it still shows up as a difference.
/// - services.*: "true" or "false" (also from TRUE, 1, yes, on / FALSE, 0, no, off); any other
///   text is kept as trimmed.
/// - contact.email: the domain part lower-cased; the local part is kept, since it may be
///   case-sensitive.
/// - contact.phone: spaces, hyphens, dots and parentheses removed when what remains is digits
///   with an optional leading '+' (HubSpot may format "+1 555-010-0000"); else kept as trimmed.
/// - company_name: trimmed only.
pub fn canonical(field: WarpField, raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return None;
    }
    let value = match field {
        WarpField::Ban | WarpField::Status | WarpField::CustomerType => {
            trimmed.to_ascii_uppercase()
        }
        WarpField::CompanyName => trimmed.to_owned(),
        WarpField::Domain => canonical_domain(trimmed),
        WarpField::CreditLimit | WarpField::CurrentBalance => canonical_money(trimmed),
        WarpField::ServicesVoice | WarpField::ServicesMessaging | WarpField::ServicesData => {
            canonical_bool(trimmed)
        }
        WarpField::ContactEmail => canonical_email(trimmed),
        WarpField::ContactPhone | WarpField::Phone => canonical_phone(trimmed),
        // A login email, stored lower-cased; HubSpot keeps contact emails lower-cased too.
        WarpField::Email | WarpField::UserId | WarpField::Role => trimmed.to_lowercase(),
        WarpField::FirstName | WarpField::LastName | WarpField::JobTitle => trimmed.to_owned(),
        WarpField::TwoFactorEnabled => canonical_bool(trimmed),
        WarpField::ApiKeyCount => canonical_integer(trimmed),
        WarpField::LastApiCallAt | WarpField::LastLoginAt => canonical_instant(trimmed),
    };
    // A rule may strip characters (a lone "." domain); keep "empty means none" true afterwards.
    if value.is_empty() { None } else { Some(value) }
}

/// [`canonical`] of an optional raw value (a database NULL is no value).
pub fn canonical_opt(field: WarpField, raw: Option<&str>) -> Option<String> {
    raw.and_then(|raw| canonical(field, raw))
}

fn canonical_domain(trimmed: &str) -> String {
    trimmed
        .to_lowercase()
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .to_owned()
}

fn canonical_money(trimmed: &str) -> String {
    let parsed = Decimal::from_str(trimmed).or_else(|_| Decimal::from_scientific(trimmed));
    match parsed {
        Ok(amount) => {
            let mut rounded =
                amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
            if rounded.is_zero() {
                // Avoid "-0.00": negative zero is the same amount as zero.
                rounded = Decimal::ZERO;
            }
            rounded.rescale(2);
            rounded.to_string()
        }
        Err(_) => trimmed.to_owned(),
    }
}

fn canonical_integer(trimmed: &str) -> String {
    match trimmed.parse::<i64>() {
        Ok(number) => number.to_string(),
        Err(_) => canonical_money(trimmed)
            .strip_suffix(".00")
            .map_or_else(|| trimmed.to_owned(), str::to_owned),
    }
}

/// A HubSpot datetime property reads back as ISO 8601 in UTC (and may be written as epoch
/// milliseconds): one instant is one text, RFC 3339 with milliseconds and `Z`.
fn canonical_instant(trimmed: &str) -> String {
    let parsed = chrono::DateTime::parse_from_rfc3339(trimmed)
        .map(|at| at.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            trimmed
                .parse::<i64>()
                .ok()
                .and_then(chrono::DateTime::from_timestamp_millis)
        });
    match parsed {
        Some(at) => at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => trimmed.to_owned(),
    }
}

fn canonical_bool(trimmed: &str) -> String {
    match trimmed.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => "true".to_owned(),
        "false" | "0" | "no" | "off" => "false".to_owned(),
        _ => trimmed.to_owned(),
    }
}

fn canonical_email(trimmed: &str) -> String {
    match trimmed.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => trimmed.to_owned(),
    }
}

fn canonical_phone(trimmed: &str) -> String {
    let compact: String = trimmed
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        compact
    } else {
        trimmed.to_owned()
    }
}

/// The canonical values of the mapped fields on one side (WARP's current values, or the values
/// HubSpot holds or is known to hold).
///
/// A field that is absent is *unknown*; a field present with `None` is known to have no value.
/// The difference matters: an unknown HubSpot value is always pushed, a known empty one is not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldValues {
    values: BTreeMap<WarpField, Option<String>>,
}

impl FieldValues {
    pub fn new() -> Self {
        FieldValues::default()
    }

    /// Records `raw` (canonicalised) as the value of `field`; `None` or "" means no value.
    pub fn set(&mut self, field: WarpField, raw: Option<&str>) {
        self.values.insert(field, canonical_opt(field, raw));
    }

    /// Builder form of [`FieldValues::set`].
    pub fn with(mut self, field: WarpField, raw: Option<&str>) -> Self {
        self.set(field, raw);
        self
    }

    /// Forgets `field`: its value becomes unknown.
    pub fn forget(&mut self, field: WarpField) {
        self.values.remove(&field);
    }

    /// `None` when the field is unknown, `Some(None)` when it is known to have no value.
    pub fn get(&self, field: WarpField) -> Option<Option<&str>> {
        self.values.get(&field).map(Option::as_deref)
    }

    /// Whether the field's value is known.
    pub fn contains(&self, field: WarpField) -> bool {
        self.values.contains_key(&field)
    }

    /// The known fields and their canonical values, in field order.
    pub fn iter(&self) -> impl Iterator<Item = (WarpField, Option<&str>)> {
        self.values.iter().map(|(f, v)| (*f, v.as_deref()))
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl<'a> FromIterator<(WarpField, Option<&'a str>)> for FieldValues {
    fn from_iter<I: IntoIterator<Item = (WarpField, Option<&'a str>)>>(iter: I) -> Self {
        let mut values = FieldValues::new();
        for (field, raw) in iter {
            values.set(field, raw);
        }
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(field: WarpField, raw: &str) -> Option<String> {
        canonical(field, raw)
    }

    #[test]
    fn empty_and_blank_are_no_value_for_every_field() {
        for field in WarpField::ALL {
            assert_eq!(c(field, ""), None, "{field}");
            assert_eq!(c(field, "  \t"), None, "{field}");
        }
    }

    #[test]
    fn money_forms_compare_equal() {
        for field in [WarpField::CreditLimit, WarpField::CurrentBalance] {
            let expected = Some("1500.00".to_owned());
            assert_eq!(c(field, "1500"), expected);
            assert_eq!(c(field, "1500.0"), expected);
            assert_eq!(c(field, "1500.00"), expected);
            assert_eq!(c(field, " 1500.000 "), expected);
            assert_eq!(c(field, "1.5e3"), expected);
            assert_eq!(c(field, "-0"), Some("0.00".to_owned()));
            assert_eq!(c(field, "-12.345"), Some("-12.35".to_owned()));
            assert_eq!(c(field, "0.005"), Some("0.01".to_owned()));
            assert_eq!(c(field, "abc"), Some("abc".to_owned()));
            assert_ne!(c(field, "1500.01"), expected);
        }
    }

    #[test]
    fn money_extremes_stay_idempotent() {
        for raw in [
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "7922816251426433759354395033.5",
            "0.0000000000000000000000000001",
            "1e28",
            "1e-40",
            "+5",
            "1_000",
        ] {
            let once = c(WarpField::CreditLimit, raw);
            let twice = once.as_deref().and_then(|v| c(WarpField::CreditLimit, v));
            assert_eq!(once, twice, "{raw}");
        }
        assert_eq!(c(WarpField::CreditLimit, "+5").as_deref(), Some("5.00"));
    }

    #[test]
    fn booleans_are_true_or_false() {
        for raw in ["true", "TRUE", "True", "1", "yes", "on"] {
            assert_eq!(
                c(WarpField::ServicesVoice, raw).as_deref(),
                Some("true"),
                "{raw}"
            );
        }
        for raw in ["false", "FALSE", "0", "no", "off"] {
            assert_eq!(
                c(WarpField::ServicesData, raw).as_deref(),
                Some("false"),
                "{raw}"
            );
        }
        assert_eq!(
            c(WarpField::ServicesMessaging, "maybe").as_deref(),
            Some("maybe")
        );
    }

    #[test]
    fn domain_is_lower_cased_without_trailing_dot() {
        assert_eq!(
            c(WarpField::Domain, " Example.COM. .").as_deref(),
            Some("example.com")
        );
        assert_eq!(c(WarpField::Domain, "."), None);
    }

    #[test]
    fn names_are_trimmed_but_keep_case() {
        assert_eq!(
            c(WarpField::CompanyName, "  Acme  Ltd ").as_deref(),
            Some("Acme  Ltd")
        );
    }

    #[test]
    fn codes_are_upper_cased() {
        assert_eq!(
            c(WarpField::Ban, "zt-487392012").as_deref(),
            Some("ZT-487392012")
        );
        assert_eq!(c(WarpField::Status, "active").as_deref(), Some("ACTIVE"));
        assert_eq!(
            c(WarpField::CustomerType, "Prepaid").as_deref(),
            Some("PREPAID")
        );
    }

    #[test]
    fn email_domain_is_lower_cased_local_part_kept() {
        assert_eq!(
            c(WarpField::ContactEmail, "John.Doe@Example.COM").as_deref(),
            Some("John.Doe@example.com")
        );
    }

    #[test]
    fn phone_formatting_is_removed() {
        assert_eq!(
            c(WarpField::ContactPhone, "+1 (555) 010-0000").as_deref(),
            Some("+15550100000")
        );
        assert_eq!(
            c(WarpField::ContactPhone, "ext. 12a").as_deref(),
            Some("ext. 12a")
        );
    }

    #[test]
    fn field_values_distinguish_unknown_from_empty() {
        let values = FieldValues::new().with(WarpField::Domain, Some(""));
        assert_eq!(values.get(WarpField::Domain), Some(None));
        assert_eq!(values.get(WarpField::CompanyName), None);
        let values = FieldValues::new().with(WarpField::CreditLimit, Some("10"));
        assert_eq!(values.get(WarpField::CreditLimit), Some(Some("10.00")));
    }
}
