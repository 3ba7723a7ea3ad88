//! Databases for tests: each test gets its own, created with a random name on the test server
//! (`TEST_DATABASE_URL`, else the local trust-auth server) and migrated.

use tokio_postgres::types::FromSql;
use warp_store::Database;

/// The test server: `TEST_DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh database with every migration applied.
pub async fn fresh_database() -> Database {
    Database::fresh_for_test(&server_url())
        .await
        .expect("a fresh test database (is Postgres running? `make postgres`)")
}

/// A fresh database with no migration applied, for tests that start from an older schema.
pub async fn empty_database() -> Database {
    Database::empty_for_test(&server_url())
        .await
        .expect("an empty test database (is Postgres running? `make postgres`)")
}

/// Plain SQL for arranging and checking a test's database; panics on any error, as a test
/// should.
#[allow(async_fn_in_trait)]
pub trait Sql {
    /// Runs statements that answer nothing (`;`-separated).
    async fn execute(&self, sql: &str);
    /// The first column of the one row `sql` answers.
    async fn one<T: for<'a> FromSql<'a>>(&self, sql: &str) -> T;
    /// A count or any other `bigint`.
    async fn scalar(&self, sql: &str) -> i64 {
        self.one(sql).await
    }
    /// A text value, `None` for NULL.
    async fn text(&self, sql: &str) -> Option<String> {
        self.one(sql).await
    }
}

impl Sql for Database {
    async fn execute(&self, sql: &str) {
        let client = self.client().await.expect("a database connection");
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    async fn one<T: for<'a> FromSql<'a>>(&self, sql: &str) -> T {
        let client = self.client().await.expect("a database connection");
        client
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
            .get(0)
    }
}

/// A session of a writer that bypasses WARP (billing setting a balance in SQL, a support
/// script): a plain connection to `database` without the startup parameter WARP's own sessions
/// send, so the change-capture triggers (V22) record what it writes.
pub async fn outside_writer(database: &Database) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(database.url(), tokio_postgres::NoTls)
        .await
        .expect("a plain connection to the test database");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}
