//! TLS for Postgres connections with rustls, configured by libpq's URL parameters.
//!
//! `sslmode` takes `disable` (the default, as the local server needs no TLS), `require`
//! (encrypted, certificate not checked: libpq's meaning) or `verify-full` (chain and host name
//! checked: what RDS Proxy gets). `sslrootcert` names a PEM file of the CAs to trust instead of
//! the system store, as in libpq (e.g. AWS's RDS global bundle). tokio-postgres knows neither
//! `verify-full` nor `sslrootcert`, so both are taken off the URL before it is parsed.
//!
//! Trust roots come from the system store (rustls-native-certs), not a bundled list: the AWS
//! SDK already loads the same store, so Lambda bootstraps carry no second copy of the roots, and
//! Amazon's roots (RDS Proxy serves ACM certificates) are in the al2023 CA bundle.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    #[default]
    Disable,
    Require,
    VerifyFull,
}

impl std::str::FromStr for SslMode {
    type Err = TlsError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "disable" => Ok(SslMode::Disable),
            "require" => Ok(SslMode::Require),
            "verify-full" => Ok(SslMode::VerifyFull),
            other => Err(TlsError::UnsupportedMode(other.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("sslmode {0:?} is not supported: use disable, require or verify-full")]
    UnsupportedMode(String),
    #[error("sslrootcert {path}: {message}")]
    RootCert { path: PathBuf, message: String },
    #[error("no trusted CA certificates for sslmode=verify-full")]
    NoRoots,
    #[error("TLS set-up: {0}")]
    Config(#[from] rustls::Error),
}

/// The TLS parameters of a connection URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

/// Splits `url` into the URL tokio-postgres can parse and our TLS parameters.
pub fn split_tls_options(url: &str) -> Result<(String, TlsOptions), TlsError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), TlsOptions::default()));
    };
    let mut options = TlsOptions::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", value)) => options.mode = value.parse()?,
            Some(("sslrootcert", value)) => options.root_cert = Some(PathBuf::from(value)),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, options))
}

/// A tokio-postgres TLS connector over rustls, cheap to clone.
#[derive(Clone)]
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
}

impl RustlsConnect {
    /// The connector `options` ask for; None for `sslmode=disable`.
    pub fn for_options(options: &TlsOptions) -> Result<Option<Self>, TlsError> {
        let provider = default_provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let config = match options.mode {
            SslMode::Disable => return Ok(None),
            SslMode::Require => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
                .with_no_client_auth(),
            SslMode::VerifyFull => builder
                .with_root_certificates(root_store(options.root_cert.as_deref())?)
                .with_no_client_auth(),
        };
        Ok(Some(Self {
            config: Arc::new(config),
        }))
    }
}

/// The system's trust roots, read once per process. Reading them is a bundle and a directory
/// of a few hundred files to parse: at a cold start each client that read them for itself (the
/// database, HubSpot, JWKS, OAuth) cost milliseconds before the first invocation.
pub fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: LazyLock<Arc<RootCertStore>> = LazyLock::new(|| {
        let mut roots = RootCertStore::empty();
        // Unreadable entries are skipped: one bad file must not stop the rest.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        Arc::new(roots)
    });
    Arc::clone(&ROOTS)
}

/// TLS for the process's HTTPS clients (HubSpot, JWKS, OAuth; reqwest's
/// `tls_backend_preconfigured`): the [`system_roots`], offering HTTP/2 and HTTP/1.1 as
/// reqwest's own configuration does.
pub fn https_client_config() -> Result<ClientConfig, TlsError> {
    let mut config = ClientConfig::builder_with_provider(default_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(trusted_system_roots()?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The process's crypto provider (the binaries install aws-lc-rs), else aws-lc-rs.
fn default_provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// The system roots, refused when there are none (nothing could be verified).
fn trusted_system_roots() -> Result<Arc<RootCertStore>, TlsError> {
    let roots = system_roots();
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    Ok(roots)
}

/// The CAs of `root_cert` (a PEM file, as libpq's `sslrootcert`), else the system's.
fn root_store(root_cert: Option<&Path>) -> Result<Arc<RootCertStore>, TlsError> {
    let Some(path) = root_cert else {
        return trusted_system_roots();
    };
    let root_cert = |message: String| TlsError::RootCert {
        path: path.to_owned(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| root_cert(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| root_cert(e.to_string()))?;
    if certs.is_empty() {
        return Err(root_cert("no certificate in the file".into()));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| root_cert(e.to_string()))?;
    }
    Ok(Arc::new(roots))
}

/// libpq's `sslmode=require`: the session is encrypted and the handshake signatures are
/// checked, but the certificate is not, so it protects against eavesdropping only.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnectHost;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnectHost> {
        let server_name = ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsConnectHost {
            config: self.config.clone(),
            server_name,
        })
    }
}

/// The connector for one host.
pub struct RustlsConnectHost {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnectHost
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            tokio_rustls::TlsConnector::from(self.config)
                .connect(self.server_name, stream)
                .await
                .map(|s| RustlsStream(Box::new(s)))
        })
    }
}

/// A TLS session to the server.
pub struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    // SCRAM channel binding is not offered: RDS Proxy's IAM and password logins do not use it,
    // and computing tls-server-end-point would need certificate parsing we otherwise avoid.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_leave_the_url_and_the_rest_stays() {
        let (url, options) = split_tls_options(
            "postgres://u@h:5432/db?sslmode=verify-full&application_name=warp&sslrootcert=/ca.pem",
        )
        .unwrap();
        assert_eq!(url, "postgres://u@h:5432/db?application_name=warp");
        assert_eq!(options.mode, SslMode::VerifyFull);
        assert_eq!(options.root_cert.as_deref(), Some(Path::new("/ca.pem")));

        let (url, options) = split_tls_options("postgres://u@h/db?sslmode=require").unwrap();
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(options.mode, SslMode::Require);

        let (url, options) = split_tls_options("postgres://u@h/db").unwrap();
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(options, TlsOptions::default());
    }

    #[test]
    fn modes_we_do_not_implement_are_refused_not_ignored() {
        for mode in ["prefer", "allow", "verify-ca", ""] {
            let err = split_tls_options(&format!("postgres://h/db?sslmode={mode}")).unwrap_err();
            assert!(matches!(err, TlsError::UnsupportedMode(_)), "{mode}: {err}");
        }
    }

    #[test]
    fn a_missing_or_empty_root_cert_file_is_an_error() {
        let missing = TlsOptions {
            mode: SslMode::VerifyFull,
            root_cert: Some("/nonexistent/ca.pem".into()),
        };
        assert!(matches!(
            RustlsConnect::for_options(&missing),
            Err(TlsError::RootCert { .. })
        ));
        let empty = std::env::temp_dir().join(format!("warp-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let result = RustlsConnect::for_options(&TlsOptions {
            mode: SslMode::VerifyFull,
            root_cert: Some(empty.clone()),
        });
        std::fs::remove_file(&empty).unwrap();
        assert!(matches!(result, Err(TlsError::RootCert { .. })));
    }
}
