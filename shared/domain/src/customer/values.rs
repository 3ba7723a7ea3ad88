//! Validated customer values: each type can only hold a valid value ("parse, don't validate").

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a text is not a valid value; the message is safe to show (it never echoes the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub &'static str);

macro_rules! text_value {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::customer::InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use text_value;

text_value!(
    /// Billing account number: two upper-case letters, '-', nine digits (`ZT-487392012`).
    Ban
);

impl Ban {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let bytes = text.as_bytes();
        let well_formed = bytes.len() == 12
            && bytes[..2].iter().all(u8::is_ascii_uppercase)
            && bytes[2] == b'-'
            && bytes[3..].iter().all(u8::is_ascii_digit);
        if well_formed {
            Ok(Ban(text.to_owned()))
        } else {
            Err(InvalidValue(
                "must be two upper-case letters, '-', and nine digits",
            ))
        }
    }

    /// A random BAN. Uniqueness is the store's job (it retries on a collision).
    pub fn generate(rng: &mut impl Rng) -> Self {
        let mut text = String::with_capacity(12);
        for _ in 0..2 {
            text.push(char::from(b'A' + rng.random_range(0..26u8)));
        }
        text.push('-');
        for _ in 0..9 {
            text.push(char::from(b'0' + rng.random_range(0..10u8)));
        }
        Ban(text)
    }
}

text_value!(
    /// A company name: trimmed, 1 to 255 characters, no control characters.
    CompanyName
);

impl CompanyName {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        Ok(CompanyName(bounded_text(text, 255)?))
    }
}

/// Trimmed free text of 1..=max characters without control characters.
pub(crate) fn bounded_text(text: &str, max: usize) -> Result<String, InvalidValue> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(InvalidValue("must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(match max {
            255 => InvalidValue("must be at most 255 characters"),
            200 => InvalidValue("must be at most 200 characters"),
            100 => InvalidValue("must be at most 100 characters"),
            _ => InvalidValue("is too long"),
        });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(InvalidValue("must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

text_value!(
    /// An e-mail address: `local@host.tld`, at most 254 characters.
    Email
);

impl Email {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        const MESSAGE: InvalidValue =
            InvalidValue("must be an e-mail address such as name@example.com");
        let trimmed = text.trim();
        // Characters, not bytes: what PostgreSQL's length() and the document's maxLength count.
        if trimmed.chars().count() > 254
            || trimmed.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(MESSAGE);
        }
        let Some((local, host)) = trimmed.split_once('@') else {
            return Err(MESSAGE);
        };
        let local_ok = !local.is_empty()
            && local.chars().count() <= 64
            && !local.contains(['"', '(', ')', ',', ':', ';', '<', '>', '[', '\\', ']'])
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok || host.contains('@') || !is_hostname(&host.to_ascii_lowercase()) {
            return Err(MESSAGE);
        }
        Ok(Email(trimmed.to_owned()))
    }
}

text_value!(
    /// A phone number in E.164: '+', then 8 to 15 digits, the first not 0.
    Phone
);

impl Phone {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let digits = text.strip_prefix('+').unwrap_or("");
        let well_formed = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if well_formed {
            Ok(Phone(text.to_owned()))
        } else {
            Err(InvalidValue(
                "must be E.164: '+' then 8 to 15 digits, the first not 0",
            ))
        }
    }
}

text_value!(
    /// A company's internet domain: a lower-cased hostname such as `example.com`.
    Domain
);

impl Domain {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let lowered = text.trim().to_ascii_lowercase();
        let host = lowered.strip_suffix('.').unwrap_or(&lowered);
        if is_hostname(host) {
            Ok(Domain(host.to_owned()))
        } else {
            Err(InvalidValue("must be a domain name such as example.com"))
        }
    }
}

/// At least two labels of `[a-z0-9-]`, 1..=63 long, no leading or trailing '-', an
/// alphabetic top-level label, at most 253 characters.
fn is_hostname(host: &str) -> bool {
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().any(|b| b.is_ascii_lowercase()))
}

/// How a customer pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CustomerType {
    Prepaid,
    Postpaid,
    Reseller,
}

impl CustomerType {
    pub const ALL: [CustomerType; 3] = [
        CustomerType::Prepaid,
        CustomerType::Postpaid,
        CustomerType::Reseller,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            CustomerType::Prepaid => "PREPAID",
            CustomerType::Postpaid => "POSTPAID",
            CustomerType::Reseller => "RESELLER",
        }
    }

    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or(InvalidValue("must be one of PREPAID, POSTPAID, RESELLER"))
    }
}

/// Where a customer account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Active,
    Suspended,
    Closed,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Active, Status::Suspended, Status::Closed];

    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Active => "ACTIVE",
            Status::Suspended => "SUSPENDED",
            Status::Closed => "CLOSED",
        }
    }

    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or(InvalidValue("must be one of ACTIVE, SUSPENDED, CLOSED"))
    }
}

impl fmt::Display for CustomerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ban_accepts_the_documented_shape_only() {
        assert!(Ban::parse("ZT-487392012").is_ok());
        for bad in [
            "",
            "zt-487392012",
            "ZT487392012",
            "ZT-48739201",
            "ZT-4873920123",
            "Z1-487392012",
            "ZT_487392012",
            "ZT-48739201a",
            "ÄT-487392012",
        ] {
            assert!(Ban::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn phone_is_e164() {
        assert!(Phone::parse("+4930123456").is_ok());
        assert!(Phone::parse("+123456789012345").is_ok());
        for bad in [
            "",
            "4930123456",
            "+0930123456",
            "+1234567",
            "+1234567890123456",
            "+49 30123456",
            "+49-30123456",
            "++4930123456",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn email_and_domain() {
        assert_eq!(
            Email::parse(" a.b+c@Example.COM ").unwrap().as_str(),
            "a.b+c@Example.COM"
        );
        for bad in [
            "",
            "a",
            "a@",
            "@b.com",
            "a@b",
            "a b@c.com",
            "a@@b.com",
            "a@b..com",
            ".a@b.com",
            "a@-b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Domain::parse("Example.COM.").unwrap().as_str(),
            "example.com"
        );
        for bad in [
            "",
            "localhost",
            "http://x.com",
            "a..b",
            "-a.com",
            "a.123",
            "x_y.com",
        ] {
            assert!(Domain::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn enums_parse_their_wire_names() {
        assert_eq!(CustomerType::parse("RESELLER"), Ok(CustomerType::Reseller));
        assert!(CustomerType::parse("reseller").is_err());
        assert_eq!(Status::parse("SUSPENDED"), Ok(Status::Suspended));
        assert!(Status::parse("DELETED").is_err());
        assert_eq!(
            serde_json::to_string(&Status::Closed).unwrap(),
            "\"CLOSED\""
        );
    }

    proptest! {
        #[test]
        fn generated_bans_parse(seed in any::<u64>()) {
            use rand::SeedableRng;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let ban = Ban::generate(&mut rng);
            prop_assert_eq!(Ban::parse(ban.as_str()), Ok(ban.clone()));
        }

        #[test]
        fn ban_parse_rejects_every_other_shape(text in "\\PC{0,14}") {
            let shaped = text.len() == 12
                && text.as_bytes()[..2].iter().all(u8::is_ascii_uppercase)
                && text.as_bytes()[2] == b'-'
                && text.as_bytes()[3..].iter().all(u8::is_ascii_digit);
            prop_assert_eq!(Ban::parse(&text).is_ok(), shaped);
        }

        #[test]
        fn ban_parse_rejects_one_changed_character(seed in any::<u64>(), position in 0usize..12, replacement in "[a-z_ .+/]") {
            use rand::SeedableRng;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut bytes = Ban::generate(&mut rng).as_str().as_bytes().to_vec();
            bytes[position] = replacement.as_bytes()[0];
            let text = String::from_utf8(bytes).unwrap();
            prop_assert!(Ban::parse(&text).is_err());
        }

        #[test]
        fn company_name_trims_and_bounds(core in "[a-zA-Z0-9&'.,-][a-zA-Z0-9 &'.,-]{0,300}", pad in " {0,3}") {
            let text = format!("{pad}{core}{pad}");
            let trimmed = text.trim();
            let result = CompanyName::parse(&text);
            if trimmed.chars().count() <= 255 {
                let name = result.unwrap();
                prop_assert_eq!(name.as_str(), trimmed);
            } else {
                prop_assert!(result.is_err());
            }
        }
    }

    #[test]
    fn company_name_rejects_blank_and_control_characters() {
        assert!(CompanyName::parse("   ").is_err());
        assert!(CompanyName::parse("a\u{0}b").is_err());
        assert_eq!(
            CompanyName::parse(&"é".repeat(255))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            255
        );
        assert!(CompanyName::parse(&"é".repeat(256)).is_err());
    }
}
