//! The pure domain of WARP's customer sync: customer value types, BAN rules, and the sync rules
//! (field mapping, diffing, conflict decisions). No I/O, no async, no AWS or Lambda types.

/// A closed set of codes written as lower-case text (a role, a status, a number type): parsed
/// from exactly that text, served as it.
macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Result<Self, $crate::customer::InvalidValue> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|value| value.as_str() == text)
                    .ok_or($crate::customer::InvalidValue(concat!("must be one of ", $($text, " "),+)))
            }
        }
    };
}

pub mod account_event;
pub mod call;
pub mod customer;
pub mod deal;
pub mod fuzz_checks;
pub mod html;
pub mod hubspot_signature;
pub mod import;
mod json_input;
pub mod onboarding;
pub mod phone_number;
pub mod service_objects;
pub mod storable;
pub mod strict_json;
pub mod support_ticket;
pub mod sync;
pub mod trunk;
pub mod usage;
pub mod user;
