//! The receiver's configuration: the app's client secret, how to rebuild the URL HubSpot
//! signed, whether legacy (v1/v2) signatures are accepted, and the body size limit.
//!
//! The signed URL is the deployment's own, never the caller's word: `WEBHOOK_PUBLIC_URL`
//! (required in Lambda), or locally the listener's `http://HTTP_ADDR`. The request's Host,
//! `X-Forwarded-Proto` and `X-Forwarded-Host` are believed only when
//! `WEBHOOK_TRUST_FORWARDED_HEADERS=true` says a proxy in front sets them.

use secrecy::SecretString;

use crate::source_ip::{SourceAllowList, SourceAllowListError};

/// Largest body accepted; HubSpot sends fewer than 100 events, far below this.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// A URL scheme HubSpot calls; with trusted forwarding headers, the one assumed when the
/// request does not say (no `X-Forwarded-Proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// `http` or `https`, any case; anything else is not a scheme HubSpot calls.
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if text.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }
}

/// The public base URL HubSpot calls (`WEBHOOK_PUBLIC_URL`): scheme, host and an optional base
/// path, e.g. `https://hooks.example.com` or `https://api.example.com/prod`. The request's own
/// path and query are appended to it (see [`crate::signed_url`]), so one setting serves both
/// webhook routes. Kept as written (minus a trailing `/`): HubSpot signs the text it calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn parse(text: &str) -> Result<Self, WebhookConfigError> {
        let text = text.trim();
        let invalid = |reason: &str| WebhookConfigError::InvalidPublicUrl {
            reason: reason.to_owned(),
        };
        let parsed = url::Url::parse(text).map_err(|error| invalid(&error.to_string()))?;
        if Scheme::parse(parsed.scheme()).is_none() {
            return Err(invalid("the scheme must be http or https"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid("the URL has no host"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid(
                "give scheme, host and base path only: the request's path and query are appended",
            ));
        }
        Ok(PublicUrl(text.trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How the receiver knows the URL HubSpot signed (v2 and v3 signatures cover it, so a
/// delivery signed for another URL, another deployment's or an attacker's, must not verify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedUrlBase {
    /// This base followed by the request's raw path and query; the request's Host and
    /// forwarding headers are ignored (the caller chooses them). `WEBHOOK_PUBLIC_URL`, or
    /// locally, without it, the listener's own `http://HTTP_ADDR`.
    Fixed(PublicUrl),
    /// Rebuilt from the request: `X-Forwarded-Proto` (else `default_scheme`) + `://` +
    /// `X-Forwarded-Host` (else Host) + raw path and query. Only with
    /// `WEBHOOK_TRUST_FORWARDED_HEADERS=true`, behind a proxy that sets these headers itself
    /// and drops the client's.
    ForwardedHeaders { default_scheme: Scheme },
}

/// Why the environment does not make a [`WebhookConfig`].
#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("WEBHOOK_PUBLIC_URL is not a usable public base URL: {reason}")]
    InvalidPublicUrl { reason: String },
    #[error(
        "WEBHOOK_PUBLIC_URL must be set in Lambda: the base URL HubSpot calls (the webhook \
         Function URL, https://<id>.lambda-url.<region>.on.aws, or its custom domain). \
         HubSpot's signature covers that URL, and without it the receiver would have to \
         believe the Host header, which the caller chooses"
    )]
    PublicUrlRequiredInLambda,
    #[error(
        "WEBHOOK_PUBLIC_URL and WEBHOOK_TRUST_FORWARDED_HEADERS=true are both set: give the \
         public URL, or trust the proxy's headers, not both"
    )]
    PublicUrlAndForwardedHeaders,
    #[error("WEBHOOK_TRUST_FORWARDED_HEADERS must be true or false, got {value:?}")]
    InvalidTrustForwarded { value: String },
    #[error("WEBHOOK_ACCEPT_LEGACY_SIGNATURES must be true or false, got {value:?}")]
    InvalidAcceptLegacy { value: String },
    #[error("HTTP_ADDR must be an address such as 127.0.0.1:3000, got {value:?}")]
    InvalidHttpAddr { value: String },
    #[error(transparent)]
    AllowList(#[from] SourceAllowListError),
}

/// The local listener's address when `HTTP_ADDR` is not set (as `warp_runtime::Config`).
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:3000";

/// Everything the receiver needs. `Debug` never shows the secret (`SecretString`).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The HubSpot app's client secret, the key of every signature recipe.
    pub secret: SecretString,
    /// How the URL HubSpot signed is rebuilt.
    pub signed_url: SignedUrlBase,
    /// Accept v1/v2 signatures when no v3 signature is sent. Off by default: they carry no
    /// timestamp, so a captured delivery could be replayed forever.
    pub accept_legacy: bool,
    pub max_body_bytes: usize,
    /// Where deliveries may come from (`WEBHOOK_ALLOWED_CIDRS`); `None`: anywhere.
    pub allow_list: Option<SourceAllowList>,
}

impl WebhookConfig {
    /// A receiver HubSpot calls at `public_url` (plus the webhook path): v3 only, 1 MiB.
    pub fn new(secret: SecretString, public_url: PublicUrl) -> Self {
        WebhookConfig {
            secret,
            signed_url: SignedUrlBase::Fixed(public_url),
            accept_legacy: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            allow_list: None,
        }
    }

    /// Reads `WEBHOOK_PUBLIC_URL`, `WEBHOOK_TRUST_FORWARDED_HEADERS`,
    /// `WEBHOOK_ACCEPT_LEGACY_SIGNATURES`, `WEBHOOK_ALLOWED_CIDRS`, `WEBHOOK_CLIENT_IP_HEADER`,
    /// `WEBHOOK_TRUSTED_PROXY_CIDRS`
    /// ([`SourceAllowList`]) and `HTTP_ADDR`. Inside Lambda
    /// (`AWS_LAMBDA_FUNCTION_NAME` set) the public URL is required; locally it defaults to the
    /// listener's own `http://HTTP_ADDR`, and the request's Host and forwarding headers count
    /// only with `WEBHOOK_TRUST_FORWARDED_HEADERS=true`. The secret comes from the caller
    /// (Secrets Manager in Lambda, an environment variable locally).
    pub fn from_env(secret: SecretString) -> Result<Self, WebhookConfigError> {
        Self::from_lookup(secret, |name| std::env::var(name).ok())
    }

    /// As [`WebhookConfig::from_env`], with the variables read through `lookup`.
    pub fn from_lookup(
        secret: SecretString,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, WebhookConfigError> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let public_url = set("WEBHOOK_PUBLIC_URL")
            .map(|text| PublicUrl::parse(&text))
            .transpose()?;
        let in_lambda = set("AWS_LAMBDA_FUNCTION_NAME").is_some();
        let trust_forwarded = match set("WEBHOOK_TRUST_FORWARDED_HEADERS") {
            None => false,
            Some(value) => {
                parse_flag(&value).ok_or(WebhookConfigError::InvalidTrustForwarded { value })?
            }
        };
        let accept_legacy = match set("WEBHOOK_ACCEPT_LEGACY_SIGNATURES") {
            None => false,
            Some(value) => {
                parse_flag(&value).ok_or(WebhookConfigError::InvalidAcceptLegacy { value })?
            }
        };
        let signed_url = match (public_url, trust_forwarded) {
            (Some(_), true) => return Err(WebhookConfigError::PublicUrlAndForwardedHeaders),
            (Some(public_url), false) => SignedUrlBase::Fixed(public_url),
            (None, _) if in_lambda => return Err(WebhookConfigError::PublicUrlRequiredInLambda),
            (None, true) => SignedUrlBase::ForwardedHeaders {
                default_scheme: Scheme::Http,
            },
            (None, false) => {
                let value = set("HTTP_ADDR").unwrap_or_else(|| DEFAULT_HTTP_ADDR.to_owned());
                let address: std::net::SocketAddr = value
                    .trim()
                    .parse()
                    .map_err(|_| WebhookConfigError::InvalidHttpAddr { value })?;
                SignedUrlBase::Fixed(PublicUrl::parse(&format!("http://{address}"))?)
            }
        };
        let allow_list = SourceAllowList::parse(
            set("WEBHOOK_ALLOWED_CIDRS").as_deref(),
            set("WEBHOOK_CLIENT_IP_HEADER").as_deref(),
            set("WEBHOOK_TRUSTED_PROXY_CIDRS").as_deref(),
        )?;
        Ok(WebhookConfig {
            secret,
            signed_url,
            accept_legacy,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            allow_list,
        })
    }
}

/// `true`/`1`/`yes` or `false`/`0`/`no`, any case.
fn parse_flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<WebhookConfig, WebhookConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        WebhookConfig::from_lookup(SecretString::from("s3cret"), |name| vars.get(name).cloned())
    }

    fn fixed(url: &str) -> SignedUrlBase {
        SignedUrlBase::Fixed(PublicUrl::parse(url).unwrap())
    }

    #[test]
    fn locally_the_signed_url_is_the_listeners_own_v3_only_and_one_mebibyte() {
        let config = from(&[]).unwrap();
        assert_eq!(config.signed_url, fixed("http://127.0.0.1:3000"));
        assert!(!config.accept_legacy);
        assert_eq!(config.max_body_bytes, 1024 * 1024);
        assert_eq!(config.secret.expose_secret(), "s3cret");
        assert!(!format!("{config:?}").contains("s3cret"));
        let config = from(&[("HTTP_ADDR", "127.0.0.1:3100")]).unwrap();
        assert_eq!(config.signed_url, fixed("http://127.0.0.1:3100"));
    }

    #[test]
    fn reads_public_url_and_legacy_flag() {
        let config = from(&[
            ("WEBHOOK_PUBLIC_URL", "https://hooks.example.com/prod/"),
            ("WEBHOOK_ACCEPT_LEGACY_SIGNATURES", "TRUE"),
            ("AWS_LAMBDA_FUNCTION_NAME", "hubspot-webhook"),
        ])
        .unwrap();
        assert_eq!(config.signed_url, fixed("https://hooks.example.com/prod"));
        assert!(config.accept_legacy);
        assert!(
            !from(&[("WEBHOOK_ACCEPT_LEGACY_SIGNATURES", "false")])
                .unwrap()
                .accept_legacy
        );
    }

    #[test]
    fn lambda_refuses_to_start_without_the_public_url() {
        for vars in [
            &[("AWS_LAMBDA_FUNCTION_NAME", "hubspot-webhook")][..],
            &[
                ("AWS_LAMBDA_FUNCTION_NAME", "hubspot-webhook"),
                ("WEBHOOK_PUBLIC_URL", "  "),
            ],
            &[
                ("AWS_LAMBDA_FUNCTION_NAME", "hubspot-webhook"),
                ("WEBHOOK_TRUST_FORWARDED_HEADERS", "true"),
            ],
        ] {
            let error = from(vars).unwrap_err();
            assert!(
                matches!(error, WebhookConfigError::PublicUrlRequiredInLambda),
                "{vars:?}"
            );
            assert!(
                error
                    .to_string()
                    .starts_with("WEBHOOK_PUBLIC_URL must be set in Lambda")
            );
        }
    }

    #[test]
    fn forwarded_headers_are_trusted_only_when_configured_and_never_with_a_public_url() {
        let config = from(&[("WEBHOOK_TRUST_FORWARDED_HEADERS", "true")]).unwrap();
        assert_eq!(
            config.signed_url,
            SignedUrlBase::ForwardedHeaders {
                default_scheme: Scheme::Http
            }
        );
        let config = from(&[("WEBHOOK_TRUST_FORWARDED_HEADERS", "no")]).unwrap();
        assert_eq!(config.signed_url, fixed("http://127.0.0.1:3000"));
        assert!(matches!(
            from(&[
                ("WEBHOOK_TRUST_FORWARDED_HEADERS", "true"),
                ("WEBHOOK_PUBLIC_URL", "https://hooks.example.com"),
            ]),
            Err(WebhookConfigError::PublicUrlAndForwardedHeaders)
        ));
    }

    #[test]
    fn rejects_unusable_values() {
        for bad in [
            "hooks.example.com",
            "ftp://hooks.example.com",
            "https://hooks.example.com/?a=1",
            "https://hooks.example.com/#x",
        ] {
            assert!(
                matches!(
                    from(&[("WEBHOOK_PUBLIC_URL", bad)]),
                    Err(WebhookConfigError::InvalidPublicUrl { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            from(&[("WEBHOOK_ACCEPT_LEGACY_SIGNATURES", "maybe")]),
            Err(WebhookConfigError::InvalidAcceptLegacy { .. })
        ));
        assert!(matches!(
            from(&[("WEBHOOK_TRUST_FORWARDED_HEADERS", "sometimes")]),
            Err(WebhookConfigError::InvalidTrustForwarded { .. })
        ));
        assert!(matches!(
            from(&[("HTTP_ADDR", "localhost")]),
            Err(WebhookConfigError::InvalidHttpAddr { .. })
        ));
    }
}
