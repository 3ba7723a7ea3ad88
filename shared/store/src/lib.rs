//! The Postgres store: connection pool, migrations, and the repositories over the schema in
//! `migrations/`. Queries use `query_typed*` (unnamed statements) so nothing pins an RDS Proxy
//! connection.

pub mod database;

pub use database::{Database, DatabaseError};
