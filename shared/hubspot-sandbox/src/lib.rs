//! An in-memory HubSpot for development, tests and benchmarks.
//!
//! It speaks HubSpot's real paths (dated and v3), bodies, errors and rate-limit headers for CRM
//! companies, contacts, deals (with their pipelines) and notes, and their properties, and posts
//! signed webhook events for every change HubSpot announces (none for notes), so HubSpot clients
//! work against it unchanged. Start one with [`spawn`]; control it over HTTP under
//! `/_sandbox` (faults, stats, reset, webhook target) or through [`SandboxHandle`].

mod associations;
mod config;
mod custom_events;
mod custom_objects;
pub mod error;
mod http;
pub mod journal;
pub mod oauth;
pub mod objects;
mod pipelines;
mod portal;
mod properties;
mod rate_limit;
mod search;
pub mod signature;
mod state;
mod stats;
mod store;
mod time;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use warp_http_server::ServerLimits;

pub use config::{Faults, SandboxConfig, SandboxConfigError};
pub use http::router;
pub use objects::ObjectKind;
pub use state::SandboxState;
pub use stats::Stats;
pub use store::PropertyValues;
pub use webhooks::{MAX_ATTEMPTS as WEBHOOK_MAX_ATTEMPTS, MAX_EVENTS_PER_REQUEST};

/// Why seeding companies directly into the store failed.
#[derive(Debug, thiserror::Error)]
#[error("seeding company #{index} failed: {message}")]
pub struct SeedError {
    pub index: usize,
    pub message: String,
}

/// The sandbox's server limits: the defaults, except that a kept-alive connection stays open
/// longer than the HubSpot client keeps an idle one in its pool (60 s), so the client does not
/// race the server's close when it reuses a connection (hyper closes an unused kept-alive
/// connection at the header read timeout).
const SANDBOX_LIMITS: ServerLimits = ServerLimits {
    header_read_timeout: std::time::Duration::from_secs(75),
    request_timeout: std::time::Duration::from_secs(30),
    idle_timeout: std::time::Duration::from_secs(120),
    max_connections: 1024,
};

/// A running sandbox. Dropping it stops the server and the webhook dispatcher.
pub struct SandboxHandle {
    addr: SocketAddr,
    state: Arc<SandboxState>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    dispatcher: Option<JoinHandle<()>>,
}

/// Binds `addr` (port 0 picks a free port) and serves the sandbox on a background task.
pub async fn spawn(config: SandboxConfig, addr: SocketAddr) -> std::io::Result<SandboxHandle> {
    let state = SandboxState::new(config);
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = router(Arc::clone(&state));
    let mut stopped = state.shutdown.subscribe();
    let server = tokio::spawn(async move {
        warp_http_server::serve(listener, app, SANDBOX_LIMITS, async move {
            let _ = stopped.wait_for(|stopped| *stopped).await;
        })
        .await
    });
    let dispatcher = tokio::spawn(webhooks::run_dispatcher(Arc::clone(&state)));
    Ok(SandboxHandle {
        addr,
        state,
        server: Some(server),
        dispatcher: Some(dispatcher),
    })
}

impl SandboxHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the value for a HubSpot client's base URL.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// Where webhook events go from now on; `None` stops deliveries.
    pub fn set_webhook_target(&self, target: Option<String>) {
        self.state.set_webhook_target(target);
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        self.state.set_faults(faults);
    }

    /// The same counters as `GET /_sandbox/stats`.
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// The shared state, for embedding the router elsewhere or inspecting it in tests.
    pub fn state(&self) -> &Arc<SandboxState> {
        &self.state
    }

    /// Inserts companies straight into the store (no HTTP, no rate limits, no webhook events),
    /// checking property names, values and unique values. Returns their ids in order.
    pub fn seed_companies<I>(&self, companies: I) -> Result<Vec<u64>, SeedError>
    where
        I: IntoIterator<Item = PropertyValues>,
    {
        self.seed(ObjectKind::Companies, companies)
    }

    /// [`SandboxHandle::seed_companies`] for contacts.
    pub fn seed_contacts<I>(&self, contacts: I) -> Result<Vec<u64>, SeedError>
    where
        I: IntoIterator<Item = PropertyValues>,
    {
        self.seed(ObjectKind::Contacts, contacts)
    }

    fn seed<I>(&self, kind: ObjectKind, records: I) -> Result<Vec<u64>, SeedError>
    where
        I: IntoIterator<Item = PropertyValues>,
    {
        let mut store = state::lock(self.state.home().store(kind));
        let now = time::now_ms();
        records
            .into_iter()
            .enumerate()
            .map(|(index, values)| {
                store.seed(&values, now).map_err(|error| SeedError {
                    index,
                    message: error.message,
                })
            })
            .collect()
    }

    /// Stops serving: in-flight requests finish (hung ones are released), deliveries stop.
    pub async fn shutdown(mut self) {
        self.state.shutdown.send_replace(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(dispatcher) = self.dispatcher.take() {
            let _ = dispatcher.await;
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.state.shutdown.send_replace(true);
        if let Some(dispatcher) = self.dispatcher.take() {
            dispatcher.abort();
        }
    }
}
