//! HTTPS clients for the process: every reqwest client built here shares one TLS configuration,
//! so the system's trust roots are read once per process (cold starts read them once per client
//! before: four times in the customer API, a few milliseconds each).

/// A reqwest client builder over the process's shared TLS ([`warp_store::tls::https_client_config`]).
/// Without system roots it falls back to reqwest's own TLS (which will refuse the same way).
pub fn client_builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match warp_store::tls::https_client_config() {
        Ok(tls) => builder.tls_backend_preconfigured(tls),
        Err(error) => {
            tracing::warn!(%error, "no shared TLS configuration: this client reads its own roots");
            builder
        }
    }
}
