//! Connecting, creating the database when missing, migrating, and per-test databases.

use crate::tls::{RustlsConnect, TlsError, split_tls_options};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_postgres::config::{Host, SslMode as PgSslMode};
use tokio_postgres::{Client, Config as PgConfig, NoTls, types::Type};

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
    Tls(#[from] TlsError),
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
    let (url, _) = split_tls_options(url).ok()?;
    PgConfig::from_str(&url)
        .ok()?
        .get_dbname()
        .map(str::to_owned)
}

/// A pooled connection idle this long is checked with an empty query before it is handed out.
/// The fast check (is the socket closed?) misses a close that happened while a Lambda execution
/// environment was frozen: the connection task has not run since, so the pool would hand out a
/// dead connection and the invocation would fail. RDS Proxy closes clients idle for 30 minutes.
pub const IDLE_CHECK_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// The error a [`PasswordSource`] reports; only its message is logged.
pub type PasswordError = Box<dyn std::error::Error + Send + Sync>;

/// Supplies the password at each new connection: an RDS IAM auth token is valid for 15 minutes,
/// so it is made afresh for every connect rather than once at start.
pub trait PasswordSource: Send + Sync {
    fn password<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        user: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<String, PasswordError>> + Send + 'a>>;
}

/// Where a connection's password comes from.
#[derive(Clone, Default)]
pub enum Credentials {
    /// The URL's own password, if any (local mode, trust auth).
    #[default]
    FromUrl,
    /// A fixed password held apart from the URL (read from Secrets Manager in Lambda).
    Password(String),
    /// A password made for each new connection (RDS IAM auth tokens).
    Source(Arc<dyn PasswordSource>),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::FromUrl => "Credentials::FromUrl",
            Credentials::Password(_) => "Credentials::Password([redacted])",
            Credentials::Source(_) => "Credentials::Source",
        })
    }
}

/// Every session WARP opens says so at its start (a startup parameter, not a SET: nothing for a
/// proxy to pin on), so the change-capture triggers (migration V22) leave WARP's own writes to
/// the outbox rows they queue themselves and capture only writers that bypass WARP.
pub const WARP_WRITER_OPTION: &str = "-c warp.writer=warp";

/// Opens connections with the URL's TLS settings and the password of [`Credentials`]; also the
/// pool's connector, so every reconnect gets TLS and, for IAM, a fresh token.
struct Connector {
    tls: Option<RustlsConnect>,
    password: Option<Arc<dyn PasswordSource>>,
}

impl Connector {
    /// The tokio-postgres config and connector for `url`; `sslmode` and `sslrootcert` are ours.
    fn for_url(url: &str, credentials: Credentials) -> Result<(PgConfig, Self), DatabaseError> {
        let (pg_url, options) = split_tls_options(url)?;
        let mut config =
            PgConfig::from_str(&pg_url).map_err(|e| DatabaseError::InvalidUrl(e.to_string()))?;
        let tls = RustlsConnect::for_options(&options)?;
        let startup_options = match config.get_options() {
            Some(given) if !given.trim().is_empty() => format!("{given} {WARP_WRITER_OPTION}"),
            _ => WARP_WRITER_OPTION.to_owned(),
        };
        config.options(&startup_options);
        // tokio-postgres defaults to `prefer`; we never fall back to plain text once TLS is asked.
        config.ssl_mode(if tls.is_some() {
            PgSslMode::Require
        } else {
            PgSslMode::Disable
        });
        let password = match credentials {
            Credentials::FromUrl => None,
            Credentials::Password(password) => {
                config.password(password);
                None
            }
            Credentials::Source(source) => Some(source),
        };
        Ok((config, Self { tls, password }))
    }

    async fn open(
        &self,
        config: &PgConfig,
    ) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error> {
        let mut config = config.clone();
        if let Some(source) = &self.password {
            let (host, port) = first_tcp_host(&config);
            let user = config.get_user().unwrap_or_default().to_owned();
            match source.password(&host, port, &user).await {
                Ok(password) => {
                    config.password(password);
                }
                // Connecting anyway lets the server's refusal surface through the pool's usual
                // error path (503 and retry); this line says why it was refused.
                Err(error) => {
                    tracing::error!(%error, %host, port, "no database password for this connection")
                }
            }
        }
        Ok(match &self.tls {
            None => {
                let (client, connection) = config.connect(NoTls).await?;
                (client, spawn_connection(connection))
            }
            Some(tls) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                (client, spawn_connection(connection))
            }
        })
    }
}

fn spawn_connection<F>(connection: F) -> JoinHandle<()>
where
    F: Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "database connection ended with an error");
        }
    })
}

fn first_tcp_host(config: &PgConfig) -> (String, u16) {
    let host = config
        .get_hosts()
        .iter()
        .find_map(|h| match h {
            Host::Tcp(name) => Some(name.clone()),
            #[cfg(unix)]
            Host::Unix(_) => None,
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    (host, port)
}

impl deadpool_postgres::Connect for Connector {
    fn connect(
        &self,
        pg_config: &PgConfig,
    ) -> Pin<
        Box<
            dyn Future<Output = Result<(Client, JoinHandle<()>), tokio_postgres::Error>>
                + Send
                + '_,
        >,
    > {
        let pg_config = pg_config.clone();
        Box::pin(async move { self.open(&pg_config).await })
    }
}

impl Database {
    /// A pool of at most `max_size` connections. Connections open lazily; recycling checks them
    /// so a connection the server (or RDS Proxy) closed is replaced, not handed out. TLS follows
    /// the URL's `sslmode` (see [`crate::tls`]).
    pub fn connect(url: &str, max_size: usize) -> Result<Self, DatabaseError> {
        Self::connect_with(url, Credentials::FromUrl, max_size)
    }

    /// As [`Database::connect`], with the password supplied apart from the URL (read from
    /// Secrets Manager in Lambda, so it never sits in an environment variable).
    pub fn connect_with_password(
        url: &str,
        password: Option<&str>,
        max_size: usize,
    ) -> Result<Self, DatabaseError> {
        let credentials = match password {
            Some(password) => Credentials::Password(password.to_owned()),
            None => Credentials::FromUrl,
        };
        Self::connect_with(url, credentials, max_size)
    }

    /// As [`Database::connect`], with the password from `credentials`. In Lambda the pool holds
    /// one connection per execution environment (`max_size` 1), reused across invocations.
    pub fn connect_with(
        url: &str,
        credentials: Credentials,
        max_size: usize,
    ) -> Result<Self, DatabaseError> {
        Self::build(url, credentials, max_size, IDLE_CHECK_AFTER)
    }

    fn build(
        url: &str,
        credentials: Credentials,
        max_size: usize,
        idle_check_after: std::time::Duration,
    ) -> Result<Self, DatabaseError> {
        let (config, connector) = Connector::for_url(url, credentials)?;
        let manager = Manager::from_connect(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .wait_timeout(Some(std::time::Duration::from_secs(5)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .post_recycle(deadpool_postgres::Hook::async_fn(move |client, metrics| {
                Box::pin(async move {
                    if metrics.last_used() < idle_check_after {
                        return Ok(());
                    }
                    client
                        .simple_query("")
                        .await
                        .map(drop)
                        .map_err(deadpool_postgres::HookError::Backend)
                })
            }))
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

    /// Applies the migrations up to and including `version` only: for tests that start from
    /// an older schema with data in it.
    pub async fn migrate_to(&self, version: i32) -> Result<(), DatabaseError> {
        let mut client = self.client().await?;
        embedded::migrations::runner()
            .set_target(refinery::Target::Version(version))
            .run_async(&mut **client)
            .await
            .map_err(|e| DatabaseError::Migration(e.to_string()))?;
        Ok(())
    }

    /// Creates the database named in `url` when it does not exist, by connecting to the
    /// server's `postgres` database. Idempotent and safe when several processes race.
    pub async fn create_if_missing(url: &str) -> Result<(), DatabaseError> {
        let (config, connector) = Connector::for_url(url, Credentials::FromUrl)?;
        let name = config
            .get_dbname()
            .ok_or_else(|| DatabaseError::InvalidUrl("no database name".into()))?
            .to_owned();
        let mut admin = config.clone();
        admin.dbname("postgres");
        let (client, task) = connector
            .open(&admin)
            .await
            .map_err(|e| DatabaseError::Unavailable(e.to_string()))?;
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
        let db = Self::empty_for_test(server_url).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// [`Database::fresh_for_test`] without the migrations (see [`Database::migrate_to`]).
    pub async fn empty_for_test(server_url: &str) -> Result<Self, DatabaseError> {
        let name = format!("warp_test_{}", uuid::Uuid::new_v4().simple());
        let url = with_dbname(server_url, &name);
        Self::create_if_missing(&url).await?;
        Self::connect(&url, 16)
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

    // TLS against the local server: Debian's PostgreSQL runs with ssl=on and the snakeoil
    // certificate (self-signed, CN and SAN "localhost"), which serves as the CA for verify-full.
    const SNAKEOIL_CA: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    const OTHER_CA: &str = "/etc/ssl/certs/Amazon_Root_CA_1.pem";
    const LOCAL_TLS: &str = "postgres://postgres@localhost:5432/postgres";

    async fn uses_tls(db: &Database) -> Result<bool, DatabaseError> {
        let client = db.client().await?;
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn backend_pid(db: &Database) -> i32 {
        let client = db.client().await.unwrap();
        client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0)
    }

    #[tokio::test]
    async fn verify_full_checks_the_chain_and_the_host_name() {
        let verified = Database::connect(
            &format!("{LOCAL_TLS}?sslmode=verify-full&sslrootcert={SNAKEOIL_CA}"),
            1,
        )
        .unwrap();
        assert!(
            uses_tls(&verified).await.expect(
                "verify-full to localhost failed: is ssl on with the snakeoil certificate?"
            )
        );

        // The same server with another CA as the only root (AWS's, as a Lambda would use).
        let unknown_ca = Database::connect(
            &format!("{LOCAL_TLS}?sslmode=verify-full&sslrootcert={OTHER_CA}"),
            1,
        )
        .unwrap();
        let error = uses_tls(&unknown_ca).await.unwrap_err();
        assert!(
            error.is_unavailable() && error.to_string().contains("TLS"),
            "{error}"
        );

        // The right CA but a name the certificate does not carry.
        let wrong_name = Database::connect(
            &format!(
                "postgres://postgres@127.0.0.1:5432/postgres?sslmode=verify-full&sslrootcert={SNAKEOIL_CA}"
            ),
            1,
        )
        .unwrap();
        let error = uses_tls(&wrong_name).await.unwrap_err();
        assert!(error.to_string().contains("TLS"), "{error}");
    }

    #[tokio::test]
    async fn require_encrypts_without_checking_and_the_default_stays_plain() {
        let required = Database::connect(
            "postgres://postgres@127.0.0.1:5432/postgres?sslmode=require",
            1,
        )
        .unwrap();
        assert!(uses_tls(&required).await.unwrap());
        let plain = Database::connect("postgres://postgres@127.0.0.1:5432/postgres", 1).unwrap();
        assert!(!uses_tls(&plain).await.unwrap());
    }

    #[tokio::test]
    async fn create_if_missing_goes_over_tls_too() {
        let name = format!("warp_test_{}", uuid::Uuid::new_v4().simple());
        let url = format!(
            "postgres://postgres@localhost:5432/{name}?sslmode=verify-full&sslrootcert={SNAKEOIL_CA}"
        );
        Database::create_if_missing(&url).await.unwrap();
        let db = Database::connect(&url, 1).unwrap();
        assert!(uses_tls(&db).await.unwrap());
        drop(db);
        let admin = Database::connect("postgres://postgres@127.0.0.1:5432/postgres", 1).unwrap();
        admin
            .client()
            .await
            .unwrap()
            .batch_execute(&format!(
                "DROP DATABASE {} WITH (FORCE)",
                quote_ident(&name)
            ))
            .await
            .unwrap();
    }

    /// Counts the passwords asked for: one per new connection.
    struct CountingSource {
        calls: std::sync::atomic::AtomicUsize,
        seen: std::sync::Mutex<Vec<(String, u16, String)>>,
    }

    impl PasswordSource for CountingSource {
        fn password<'a>(
            &'a self,
            host: &'a str,
            port: u16,
            user: &'a str,
        ) -> Pin<Box<dyn Future<Output = Result<String, PasswordError>> + Send + 'a>> {
            Box::pin(async move {
                self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                self.seen
                    .lock()
                    .unwrap()
                    .push((host.to_owned(), port, user.to_owned()));
                Ok("ignored-by-trust-auth".to_owned())
            })
        }
    }

    /// Ends the backend `pid` from another thread and runtime, so this test's runtime does not
    /// run in between: like a Lambda environment frozen while RDS Proxy closed its connection.
    fn terminate_while_frozen(pid: i32) {
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async move {
                    let admin = Database::connect("postgres://postgres@127.0.0.1:5432/postgres", 1)
                        .unwrap();
                    let client = admin.client().await.unwrap();
                    client
                        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
                        .await
                        .unwrap();
                    // The backend is gone once it no longer shows in pg_stat_activity.
                    for _ in 0..100 {
                        let left = client
                            .query_one(
                                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
                                &[&pid],
                            )
                            .await
                            .unwrap()
                            .get::<_, i64>(0);
                        if left == 0 {
                            return;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    panic!("backend {pid} did not end");
                })
        })
        .join()
        .unwrap();
    }

    #[tokio::test]
    async fn a_connection_closed_while_idle_is_replaced_with_a_fresh_password() {
        let source = Arc::new(CountingSource {
            calls: Default::default(),
            seen: Default::default(),
        });
        let db = Database::build(
            &format!("{LOCAL_TLS}?sslmode=verify-full&sslrootcert={SNAKEOIL_CA}"),
            Credentials::Source(source.clone()),
            1,
            std::time::Duration::ZERO,
        )
        .unwrap();
        let first = backend_pid(&db).await;
        assert_eq!(backend_pid(&db).await, first, "one connection, reused");
        assert_eq!(source.calls.load(std::sync::atomic::Ordering::SeqCst), 1);

        terminate_while_frozen(first);
        let second = backend_pid(&db).await;
        assert_ne!(second, first);
        assert_eq!(source.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(
            source.seen.lock().unwrap()[0],
            ("localhost".to_owned(), 5432, "postgres".to_owned())
        );
    }

    #[tokio::test]
    async fn without_the_idle_check_a_connection_closed_while_frozen_is_handed_out() {
        // The control for the test above: it shows the idle check is what saves the invocation.
        let db = Database::build(
            "postgres://postgres@127.0.0.1:5432/postgres",
            Credentials::FromUrl,
            1,
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let first = backend_pid(&db).await;
        terminate_while_frozen(first);
        let client = db.client().await.unwrap();
        let error = client.query_one("SELECT 1", &[]).await.unwrap_err();
        assert!(
            error.is_closed() || error.as_db_error().is_some(),
            "{error}"
        );
    }

    #[test]
    fn credentials_never_show_the_password() {
        let shown = format!("{:?}", Credentials::Password("hunter2".into()));
        assert!(!shown.contains("hunter2"));
    }
}
