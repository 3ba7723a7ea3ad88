//! HubSpot's webhook signing recipes (v1, v2, v3). One implementation, in the domain crate
//! (`warp_domain::hubspot_signature`, tested there against FACTS.md's public vectors); the
//! sandbox signs its deliveries with it, the receiver verifies with it.

pub use warp_domain::hubspot_signature::*;
