//! Outbound sync: from the transactional outbox to HubSpot companies (DESIGN §1, §4 guarantees
//! 1–5). `outbound` is the worker's core (coalesce, diff, batch upsert, record); `relay`
//! re-publishes outbox rows that were never sent or whose lease expired; `queue` carries outbox
//! ids over SQS; `portals` sends each row through its portal's worker (home and customer
//! portals, each with its own token and request budget); `onboarding` turns won deals into
//! customers.

pub mod account_events;
pub mod adapters;
pub mod call_log;
pub mod capture;
pub mod mapping_admin;
pub mod onboarding;
pub mod outbound;
pub mod passes;
pub mod portals;
pub mod queue;
pub mod relay;
pub mod service_objects;
pub mod support_tickets;
pub mod usage_push;
pub mod wiring;
pub mod work_items;
