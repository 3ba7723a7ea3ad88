//! Counters served at `GET /_sandbox/stats`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the sandbox has seen and done since it started (or was reset).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// API requests (not `/_sandbox`), any answer included.
    pub requests_total: u64,
    /// By route template, e.g. `POST /crm/v3/objects/companies/batch/upsert`.
    pub requests_by_route: BTreeMap<String, u64>,
    /// By token: `app`, `user`, `invalid`, `missing`.
    pub requests_by_token: BTreeMap<String, u64>,
    /// By route template and token, e.g. `app POST /crm/v3/objects/companies`.
    pub requests_by_route_and_token: BTreeMap<String, u64>,
    /// Integration requests by the portal they called (id as text, for JSON).
    #[serde(default)]
    pub requests_by_portal: BTreeMap<String, u64>,
    /// 429s from the real limits.
    pub rate_limited_real: u64,
    /// 429s from the real limits, by portal.
    #[serde(default)]
    pub rate_limited_real_by_portal: BTreeMap<String, u64>,
    /// 429s injected by the `rate_429` fault.
    pub rate_limited_injected: u64,
    /// 5xx injected by the `rate_5xx` fault.
    pub server_errors_injected: u64,
    /// Requests hung by the `rate_timeout` fault.
    pub timeouts_injected: u64,
    /// Webhook POSTs attempted (retries included).
    pub webhook_requests_sent: u64,
    /// Webhook POSTs that failed (error status, refused, timed out).
    pub webhook_requests_failed: u64,
    /// Deliveries given up after every attempt failed.
    pub webhook_deliveries_abandoned: u64,
    /// Events in successful deliveries.
    pub webhook_events_delivered: u64,
    /// Events removed by the `drop_webhooks` fault.
    pub webhook_events_dropped: u64,
    /// Extra copies sent by the `duplicate_webhooks` fault.
    pub webhook_events_duplicated: u64,
    /// Events produced while no webhook target was set.
    pub webhook_events_discarded_no_target: u64,
    /// Events written to the Webhooks Journal (covered by a journal subscription).
    #[serde(default)]
    pub journal_events_written: u64,
    /// Journal files fetched through their pre-signed links.
    #[serde(default)]
    pub journal_files_fetched: u64,
    /// Companies not archived.
    pub companies: u64,
    /// Archived companies.
    pub companies_archived: u64,
    /// Contacts not archived.
    #[serde(default)]
    pub contacts: u64,
    /// Archived contacts.
    #[serde(default)]
    pub contacts_archived: u64,
    /// Deals not archived.
    #[serde(default)]
    pub deals: u64,
    /// Archived deals.
    #[serde(default)]
    pub deals_archived: u64,
    /// Notes not archived.
    #[serde(default)]
    pub notes: u64,
    /// Archived notes.
    #[serde(default)]
    pub notes_archived: u64,
    /// Calls not archived.
    #[serde(default)]
    pub calls: u64,
    /// Archived calls.
    #[serde(default)]
    pub calls_archived: u64,
    /// Tickets not archived.
    #[serde(default)]
    pub tickets: u64,
    /// Archived tickets.
    #[serde(default)]
    pub tickets_archived: u64,
}
