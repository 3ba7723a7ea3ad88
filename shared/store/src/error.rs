//! The errors every repository returns; the API maps each to an HTTP status.

use crate::DatabaseError;
use tokio_postgres::error::SqlState;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The caller's expected version (If-Match) is not the stored one.
    #[error("version mismatch: the current version is {current}")]
    VersionMismatch { current: i64 },
    /// The database cannot be reached now (refused, closed, pool timeout): retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The write conflicts with stored state (a unique value taken, a deleted customer).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The same idempotency key came with a different request.
    #[error("the idempotency key was used for a different request")]
    IdempotencyKeyReused,
    /// The first request with this idempotency key has not finished.
    #[error("a request with this idempotency key is still in progress")]
    IdempotencyInProgress,
    /// The database refused a value (SQLSTATE class 22); the input was bad, not the server.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// A pre-commit step (HubSpot, in strict create mode) refused the write; nothing was
    /// stored. `fields` names the properties at fault, never their values.
    #[error("refused before commit: {detail}")]
    Refused { detail: String, fields: Vec<String> },
    #[error("invalid cursor")]
    InvalidCursor,
    /// A field names something the write cannot use (a trunk of another customer).
    #[error("{field} {message}")]
    InvalidReference {
        field: &'static str,
        message: &'static str,
    },
    /// The write would change a field that has its own route (the HubSpot link).
    #[error("the field {0} cannot be changed by this write")]
    ReadOnlyField(&'static str),
    /// Postgres failed the statement; `failure` is what its SQLSTATE (or the lack of an
    /// answer) means for the caller. The text is [`describe_postgres_error`]'s: it never
    /// quotes a value.
    #[error("{}", postgres_text(*.failure, .source))]
    Postgres {
        failure: PostgresFailure,
        #[source]
        source: tokio_postgres::Error,
    },
    /// A fault that is not the database's (a stored row that no longer parses, say).
    #[error("{0}")]
    Other(String),
}

/// What a Postgres error means for the caller, decided by SQLSTATE class, never by text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostgresFailure {
    /// A deadlock or serialization victim (class 40): end the transaction at once and retry.
    LockConflict,
    /// The server or the connection cannot serve now (shutting down, too many connections, a
    /// closed connection, I/O): retry later.
    NotNow,
    /// Anything else: a fault to look at.
    Fault,
}

fn postgres_text(failure: PostgresFailure, source: &tokio_postgres::Error) -> String {
    match failure {
        PostgresFailure::LockConflict | PostgresFailure::NotNow => {
            format!("database unavailable: {}", describe_postgres_error(source))
        }
        PostgresFailure::Fault => describe_postgres_error(source),
    }
}

impl StoreError {
    /// The transaction was chosen as a deadlock or serialization victim. Unlike the other
    /// "not now" states, the locks the transaction still holds are what the other side waits
    /// for, so it should end at once rather than go on to more work.
    pub fn is_lock_conflict(&self) -> bool {
        matches!(
            self,
            StoreError::Postgres {
                failure: PostgresFailure::LockConflict,
                ..
            }
        )
    }

    /// The same work may succeed if tried again later: the database or pool could not serve
    /// now, or the transaction lost a lock conflict.
    pub fn is_temporary(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Postgres { failure, .. } => *failure != PostgresFailure::Fault,
            _ => false,
        }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.as_db_error() {
            // The constraint's name is ours, not the caller's business: logged, not answered.
            Some(db) if db.code() == &SqlState::UNIQUE_VIOLATION => {
                tracing::info!(constraint = db.constraint(), "unique value taken");
                StoreError::Conflict("a value that must be unique is already taken".to_owned())
            }
            Some(db) if db.code().code().starts_with("22") => {
                StoreError::InvalidValue(db.code().code().to_owned())
            }
            Some(db) => {
                let failure = if LOCK_CONFLICT_STATES.contains(db.code()) {
                    PostgresFailure::LockConflict
                } else if is_unavailable_state(db.code()) {
                    PostgresFailure::NotNow
                } else {
                    PostgresFailure::Fault
                };
                StoreError::Postgres {
                    failure,
                    source: error,
                }
            }
            // No server answer: the connection closed or failed (I/O), or a value did not
            // convert (a fault).
            None => {
                let lost_connection = error.is_closed()
                    || std::error::Error::source(&error).is_some_and(|s| s.is::<std::io::Error>());
                StoreError::Postgres {
                    failure: if lost_connection {
                        PostgresFailure::NotNow
                    } else {
                        PostgresFailure::Fault
                    },
                    source: error,
                }
            }
        }
    }
}

/// What a Postgres error may say in a log line or an error text: its SQLSTATE, the names of the
/// constraint, table and column when the server gave them, and its message only for the
/// SQLSTATE classes whose messages never quote a value. Data exceptions (class 22: `invalid
/// input syntax for type numeric: "…"`), integrity details, raised exceptions and internal
/// errors can carry the very value that was refused (personal data, or a HubSpot value), so
/// theirs is left out: the SQLSTATE and names are enough to find the cause.
pub fn describe_db_error(db: &tokio_postgres::error::DbError) -> String {
    let code = db.code().code();
    let mut text = format!("SQLSTATE {code}");
    for (what, name) in [
        ("constraint", db.constraint()),
        ("table", db.table()),
        ("column", db.column()),
    ] {
        if let Some(name) = name {
            text.push_str(&format!(", {what} {name}"));
        }
    }
    if MESSAGE_WITHOUT_VALUES
        .iter()
        .any(|class| code.starts_with(class))
    {
        text.push_str(": ");
        text.push_str(db.message());
    }
    text
}

/// [`describe_db_error`] for any error of the Postgres client; errors that are not the
/// server's (I/O, a closed connection, a parameter that did not convert) quote no value.
pub fn describe_postgres_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => describe_db_error(db),
        None => error.to_string(),
    }
}

/// SQLSTATE classes whose messages name objects, types or states but never quote a value:
/// connection, feature not supported, transaction state, authorization, rollback (deadlocks),
/// syntax and access rules, resources, limits, object state, operator intervention, system.
/// Class 23 (integrity) is left out too: its message is safe but its detail is not, and one
/// rule for the whole class is easier to keep right.
const MESSAGE_WITHOUT_VALUES: [&str; 12] = [
    "08", "0A", "25", "28", "3D", "3F", "40", "42", "53", "54", "55", "57",
];

/// A deadlock or serialization victim.
const LOCK_CONFLICT_STATES: [SqlState; 2] = [
    SqlState::T_R_DEADLOCK_DETECTED,
    SqlState::T_R_SERIALIZATION_FAILURE,
];

/// Server states meaning "not now": shutting down, too many connections, cannot connect (the
/// same work succeeds when retried).
fn is_unavailable_state(state: &SqlState) -> bool {
    [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::CONNECTION_EXCEPTION,
        SqlState::CONNECTION_FAILURE,
        SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
    ]
    .contains(state)
}

impl From<DatabaseError> for StoreError {
    fn from(error: DatabaseError) -> Self {
        if error.is_unavailable() {
            StoreError::Unavailable(error.to_string())
        } else {
            StoreError::Other(error.to_string())
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}
