//! Connecting, creating the database when missing, migrating, and per-test databases.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::str::FromStr;
use tokio_postgres::{Config as PgConfig, NoTls, types::Type};

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("invalid database url: {0}")]
    InvalidUrl(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Pool(#[from] deadpool_postgres::PoolError),
}

impl DatabaseError {
    /// True when the database cannot be reached right now (the caller answers 503 and retries).
    pub fn is_unavailable(&self) -> bool {
        match self {
            DatabaseError::Unavailable(_) => true,
            DatabaseError::Pool(_) => true,
            DatabaseError::Postgres(e) => e.is_closed() || e.as_db_error().is_none(),
            _ => false,
        }
    }
}

/// A pool of connections to one database.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    url: String,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("dbname", &dbname_of(&self.url))
            .finish()
    }
}

fn dbname_of(url: &str) -> Option<String> {
    PgConfig::from_str(url)
        .ok()?
        .get_dbname()
        .map(str::to_owned)
}

impl Database {
    /// A pool of at most `max_size` connections. Connections open lazily; recycling checks them
    /// so a connection the server (or RDS Proxy) closed is replaced, not handed out.
    pub fn connect(url: &str, max_size: usize) -> Result<Self, DatabaseError> {
        Self::connect_with_password(url, None, max_size)
    }

    /// As [`Database::connect`], with the password supplied apart from the URL (read from
    /// Secrets Manager in Lambda, so it never sits in an environment variable).
    pub fn connect_with_password(
        url: &str,
        password: Option<&str>,
        max_size: usize,
    ) -> Result<Self, DatabaseError> {
        let mut config =
            PgConfig::from_str(url).map_err(|e| DatabaseError::InvalidUrl(e.to_string()))?;
        if let Some(password) = password {
            config.password(password);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .wait_timeout(Some(std::time::Duration::from_secs(5)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| DatabaseError::InvalidUrl(e.to_string()))?;
        Ok(Self {
            pool,
            url: url.to_owned(),
        })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub async fn client(&self) -> Result<deadpool_postgres::Object, DatabaseError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(err) => {
                DatabaseError::Unavailable(err.to_string())
            }
            other => DatabaseError::Unavailable(other.to_string()),
        })
    }

    /// Applies every migration in `migrations/` not yet applied. Idempotent.
    pub async fn migrate(&self) -> Result<(), DatabaseError> {
        let mut client = self.client().await?;
        embedded::migrations::runner()
            .run_async(&mut **client)
            .await
            .map_err(|e| DatabaseError::Migration(e.to_string()))?;
        Ok(())
    }

    /// Creates the database named in `url` when it does not exist, by connecting to the
    /// server's `postgres` database. Idempotent and safe when several processes race.
    pub async fn create_if_missing(url: &str) -> Result<(), DatabaseError> {
        let config =
            PgConfig::from_str(url).map_err(|e| DatabaseError::InvalidUrl(e.to_string()))?;
        let name = config
            .get_dbname()
            .ok_or_else(|| DatabaseError::InvalidUrl("no database name".into()))?
            .to_owned();
        let mut admin = config.clone();
        admin.dbname("postgres");
        let (client, connection) = admin
            .connect(NoTls)
            .await
            .map_err(|e| DatabaseError::Unavailable(e.to_string()))?;
        let task = tokio::spawn(connection);
        let exists = !client
            .query_typed(
                "SELECT 1 FROM pg_database WHERE datname = $1",
                &[(&name, Type::TEXT)],
            )
            .await?
            .is_empty();
        if !exists {
            let sql = format!("CREATE DATABASE {}", quote_ident(&name));
            if let Err(e) = client.batch_execute(&sql).await {
                // Another process created it between our check and our create.
                if e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) {
                    return Err(e.into());
                }
            }
        }
        drop(client);
        let _ = task.await;
        Ok(())
    }

    /// Creates (if needed), migrates and connects in one step: what local start and tests do.
    pub async fn prepare(url: &str, max_size: usize) -> Result<Self, DatabaseError> {
        Self::create_if_missing(url).await?;
        let db = Self::connect(url, max_size)?;
        db.migrate().await?;
        Ok(db)
    }

    /// A fresh, migrated database with a random name on the server of `server_url`, for one
    /// test. Dropped by [`Database::drop_test_database`] or left for inspection.
    pub async fn fresh_for_test(server_url: &str) -> Result<Self, DatabaseError> {
        let name = format!("warp_test_{}", uuid::Uuid::new_v4().simple());
        let url = with_dbname(server_url, &name);
        Self::prepare(&url, 16).await
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// `url` with its database name replaced by `name`.
pub fn with_dbname(url: &str, name: &str) -> String {
    match url.rsplit_once('/') {
        Some((head, tail)) if !head.ends_with('/') => {
            let query = tail
                .split_once('?')
                .map(|(_, q)| format!("?{q}"))
                .unwrap_or_default();
            format!("{head}/{name}{query}")
        }
        _ => format!("{}/{name}", url.trim_end_matches('/')),
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_dbname_replaces_the_database_and_keeps_the_query() {
        assert_eq!(
            with_dbname("postgres://postgres@127.0.0.1:5432/warp", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_dbname("postgres://u@h:1/warp?sslmode=disable", "y"),
            "postgres://u@h:1/y?sslmode=disable"
        );
    }

    #[test]
    fn quote_ident_escapes_quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
