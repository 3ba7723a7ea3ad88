//! Money with exactly two decimal places, parsed from text (never through a float).

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Most integer digits a `numeric(14,2)` column holds.
const MAX_INTEGER_DIGITS: u32 = 12;

/// Why a text or number is not money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal number such as \"1500.00\"")]
    NotADecimal,
    #[error("must have at most 2 decimal places")]
    TooManyDecimals,
    #[error("must have at most 12 integer digits")]
    TooLarge,
    #[error("must not be negative")]
    Negative,
    #[error("must be a decimal string or a number")]
    WrongType,
}

/// An amount of money: a decimal with scale 2 that fits `numeric(14,2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::from_parts(0, 0, 0, false, 2));

    /// Parses `-?digits(.digits)?`: no exponent, no sign other than '-', no spaces.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (unsigned, None),
        };
        let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits_only(whole) || fraction.is_some_and(|f| !digits_only(f)) {
            return Err(MoneyError::NotADecimal);
        }
        // Leading zeros are harmless but may push the text past what Decimal parses exactly.
        if whole.trim_start_matches('0').len() > MAX_INTEGER_DIGITS as usize {
            return Err(MoneyError::TooLarge);
        }
        if fraction.is_some_and(|f| f.trim_end_matches('0').len() > 2) {
            return Err(MoneyError::TooManyDecimals);
        }
        // Leading and trailing zeros said nothing: without them any length of them parses.
        let whole = match whole.trim_start_matches('0') {
            "" => "0",
            digits => digits,
        };
        let fraction = fraction.map_or("", |f| f.trim_end_matches('0'));
        let sign = if text.starts_with('-') { "-" } else { "" };
        let exact = if fraction.is_empty() {
            format!("{sign}{whole}")
        } else {
            format!("{sign}{whole}.{fraction}")
        };
        let decimal = Decimal::from_str_exact(&exact).map_err(|_| MoneyError::NotADecimal)?;
        Self::from_decimal(decimal)
    }

    /// Takes a JSON number through its textual form, so 1500.5 stays exactly 1500.50.
    pub fn from_json_number(number: &serde_json::Number) -> Result<Self, MoneyError> {
        let text = number.to_string();
        if text.contains(['e', 'E']) {
            let decimal = Decimal::from_scientific(&text).map_err(|_| MoneyError::TooLarge)?;
            return Self::from_decimal(decimal);
        }
        // serde_json prints whole floats as "1000.0": still exact.
        Self::parse(&text)
    }

    /// A JSON string or number.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, MoneyError> {
        match value {
            serde_json::Value::String(text) => Self::parse(text),
            serde_json::Value::Number(number) => Self::from_json_number(number),
            _ => Err(MoneyError::WrongType),
        }
    }

    /// Checks scale and size; the result always has scale 2.
    pub fn from_decimal(decimal: Decimal) -> Result<Self, MoneyError> {
        let normalized = decimal.normalize();
        if normalized.scale() > 2 {
            return Err(MoneyError::TooManyDecimals);
        }
        let limit = Decimal::from_i128_with_scale(10_i128.pow(MAX_INTEGER_DIGITS), 0);
        if normalized.abs().trunc() >= limit {
            return Err(MoneyError::TooLarge);
        }
        let mut scaled = normalized;
        scaled.rescale(2);
        Ok(Money(scaled))
    }

    pub fn as_decimal(&self) -> Decimal {
        self.0
    }

    pub fn is_negative(&self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    /// The sum, held at the largest amount a `numeric(14,2)` stores (a total of many days may
    /// pass it; no single figure can).
    pub fn saturating_add(self, other: Money) -> Money {
        let largest = Decimal::new(99_999_999_999_999, 2);
        let sum = self.0 + other.0;
        Money(sum.clamp(-largest, largest))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What JSON may carry for money: text, or a number taken through its text.
#[derive(Deserialize)]
#[serde(untagged)]
enum MoneyRepr {
    Text(String),
    Number(serde_json::Number),
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let parsed = match MoneyRepr::deserialize(deserializer)? {
            MoneyRepr::Text(text) => Money::parse(&text),
            MoneyRepr::Number(number) => Money::from_json_number(&number),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

/// A credit limit: money that is not negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct CreditLimit(Money);

impl CreditLimit {
    pub const ZERO: CreditLimit = CreditLimit(Money::ZERO);

    pub fn new(money: Money) -> Result<Self, MoneyError> {
        if money.is_negative() {
            return Err(MoneyError::Negative);
        }
        Ok(CreditLimit(money))
    }

    pub fn from_json(value: &serde_json::Value) -> Result<Self, MoneyError> {
        Self::new(Money::from_json(value)?)
    }

    pub fn money(&self) -> Money {
        self.0
    }

    pub fn as_decimal(&self) -> Decimal {
        self.0.as_decimal()
    }
}

impl<'de> Deserialize<'de> for CreditLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        CreditLimit::new(Money::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for CreditLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_number_of_leading_and_trailing_zeros_is_the_same_amount() {
        assert_eq!(
            Money::parse("0000000000000000000000045534.2000000000000000000000000000000")
                .unwrap()
                .to_string(),
            "45534.20"
        );
        assert_eq!(
            Money::parse("-000.000000000000000000000000000000")
                .unwrap()
                .to_string(),
            "0.00"
        );
        assert_eq!(Money::parse("12.3450"), Err(MoneyError::TooManyDecimals));
    }
    use proptest::prelude::*;

    #[test]
    fn formats_with_two_decimals() {
        assert_eq!(Money::parse("1500").unwrap().to_string(), "1500.00");
        assert_eq!(Money::parse("1500.5").unwrap().to_string(), "1500.50");
        assert_eq!(Money::parse("-3.25").unwrap().to_string(), "-3.25");
        assert_eq!(Money::parse("-0").unwrap().to_string(), "0.00");
        assert_eq!(
            Money::parse("12345678901.23").unwrap().to_string(),
            "12345678901.23"
        );
        assert_eq!(
            Money::parse("999999999999.99").unwrap().to_string(),
            "999999999999.99"
        );
        assert_eq!(Money::parse("1.230").unwrap().to_string(), "1.23");
        assert_eq!(Money::ZERO.to_string(), "0.00");
    }

    #[test]
    fn rejects_malformed_and_out_of_range_text() {
        for bad in [
            "", "-", ".5", "1.", "1e3", "+1", " 1", "1 ", "1,5", "NaN", "0x10", "--1", "1.2.3",
        ] {
            assert_eq!(Money::parse(bad), Err(MoneyError::NotADecimal), "{bad:?}");
        }
        assert_eq!(Money::parse("1.234"), Err(MoneyError::TooManyDecimals));
        assert_eq!(Money::parse("1000000000000"), Err(MoneyError::TooLarge));
        assert_eq!(
            Money::parse("99999999999999999999999999999999999"),
            Err(MoneyError::TooLarge)
        );
    }

    #[test]
    fn json_numbers_go_through_their_text() {
        let value: serde_json::Value = serde_json::from_str("1500.5").unwrap();
        assert_eq!(Money::from_json(&value).unwrap().to_string(), "1500.50");
        let value: serde_json::Value = serde_json::from_str("0.1").unwrap();
        assert_eq!(Money::from_json(&value).unwrap().to_string(), "0.10");
        let value: serde_json::Value = serde_json::from_str("1e3").unwrap();
        assert_eq!(Money::from_json(&value).unwrap().to_string(), "1000.00");
        let value: serde_json::Value = serde_json::from_str("1e300").unwrap();
        assert_eq!(Money::from_json(&value), Err(MoneyError::TooLarge));
        let value: serde_json::Value = serde_json::from_str("0.125").unwrap();
        assert_eq!(Money::from_json(&value), Err(MoneyError::TooManyDecimals));
        assert_eq!(
            Money::from_json(&serde_json::Value::Bool(true)),
            Err(MoneyError::WrongType)
        );
        let sum =
            Money::parse("0.1").unwrap().as_decimal() + Money::parse("0.2").unwrap().as_decimal();
        assert_eq!(Money::from_decimal(sum).unwrap().to_string(), "0.30");
    }

    #[test]
    fn serde_round_trip_uses_strings() {
        let money: Money = serde_json::from_str("\"42.1\"").unwrap();
        assert_eq!(serde_json::to_string(&money).unwrap(), "\"42.10\"");
        let money: Money = serde_json::from_str("42.1").unwrap();
        assert_eq!(serde_json::to_string(&money).unwrap(), "\"42.10\"");
        assert!(serde_json::from_str::<CreditLimit>("\"-1\"").is_err());
        assert_eq!(
            CreditLimit::new(Money::parse("-0.01").unwrap()),
            Err(MoneyError::Negative)
        );
    }

    proptest! {
        #[test]
        fn money_round_trips_through_its_string(units in -99_999_999_999_999_i64..=99_999_999_999_999_i64) {
            let decimal = Decimal::new(units, 2);
            let money = Money::from_decimal(decimal).unwrap();
            let text = money.to_string();
            let parsed = Money::parse(&text).unwrap();
            prop_assert_eq!(parsed, money);
            prop_assert_eq!(parsed.as_decimal(), decimal);
            prop_assert_eq!(parsed.to_string(), text);
        }

        #[test]
        fn three_significant_decimals_are_rejected(units in 0i64..1_000_000_000, last in 1i64..10) {
            let text = Decimal::new(units * 10 + last, 3).to_string();
            prop_assert_eq!(Money::parse(&text), Err(MoneyError::TooManyDecimals));
        }
    }
}
