//! The Postgres store: connection pool, migrations, and the repositories over the schema in
//! `migrations/`. Queries use `query_typed*` (unnamed statements) so nothing pins an RDS Proxy
//! connection.

pub mod account_events;
pub mod activity;
pub mod audit;
pub mod calls;
pub mod change_capture;
pub mod company_candidates;
pub mod conflicts;
pub mod customers;
pub mod database;
pub mod deals;
pub mod error;
pub mod field_state;
pub mod idempotency;
pub mod imports;
pub mod inbound;
pub mod installations;
pub mod journal_cursors;
pub mod links;
pub mod manual_links;
pub mod onboardings;
pub mod outbox;
pub mod outbox_failures;
pub mod phone_numbers;
pub mod reconciliation_runs;
pub mod service_push;
pub mod services;
pub mod support_tickets;
pub mod sync_config;
pub mod sync_log;
pub mod sync_metrics;
pub mod sync_reports;
pub mod tls;
pub mod trunks;
pub mod usage;
pub mod usage_properties;
pub mod users;
pub mod webhook_events;
pub mod work_items;

pub use customers::{Created, CustomerStore, ListQuery, Page, Update, Written};
pub use database::{Credentials, Database, DatabaseError, PasswordSource};
pub use error::{PostgresFailure, StoreError};
pub use idempotency::{IdempotentRequest, StoredResponse};
pub use outbox::OutboxOperation;

/// An `object_type` column's text as the [`ObjectType`](warp_domain::sync::ObjectType) it must
/// be (the tables' CHECKs guarantee it; anything else is a schema out of step with the code).
pub(crate) fn object_type_column(
    text: String,
) -> Result<warp_domain::sync::ObjectType, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Other(format!("unexpected object_type {text:?}")))
}

/// `%`, `_` and `\` match themselves in a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A `COLUMNS` list (`"id, ban, ..."`) with each column qualified by a table alias, for
/// statements that join or update through an alias (`"c.id, c.ban, ..."`).
pub(crate) fn qualified(columns: &str, alias: &str) -> String {
    columns
        .split(',')
        .map(|column| format!("{alias}.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn qualified_columns_carry_the_alias_whatever_the_spacing() {
        assert_eq!(
            super::qualified("id, ban,\n  version", "c"),
            "c.id, c.ban, c.version"
        );
    }
}
