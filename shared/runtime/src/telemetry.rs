//! Tracing set-up: JSON lines in Lambda (CloudWatch), readable lines locally. Logs carry ids and
//! field names, never customer values or secrets: callers log those, this only formats.

use crate::config::LogFormat;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

static COLD: AtomicBool = AtomicBool::new(true);

/// Installs the global subscriber once; later calls are no-ops (tests call it repeatedly).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(fmt::layer().compact()).try_init(),
    };
}

/// True for the first invocation of this execution environment, false afterwards: the
/// cold-start flag for logs and metrics.
pub fn take_cold_start() -> bool {
    COLD.swap(false, Ordering::Relaxed)
}
