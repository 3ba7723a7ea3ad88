//! The pure domain of WARP's customer sync: customer value types, BAN rules, and the sync rules
//! (field mapping, diffing, conflict decisions). No I/O, no async, no AWS or Lambda types.

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
pub mod storable;
pub mod strict_json;
pub mod support_ticket;
pub mod sync;
pub mod user;
