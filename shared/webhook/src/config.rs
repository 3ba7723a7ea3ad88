//! The receiver's configuration: the app's client secret, how to rebuild the URL HubSpot
//! signed, whether legacy (v1/v2) signatures are accepted, and the body size limit.

use secrecy::SecretString;

/// Largest body accepted; HubSpot sends fewer than 100 events, far below this.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The scheme assumed when the request does not say (no `X-Forwarded-Proto`).
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

/// Why the environment does not make a [`WebhookConfig`].
#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("WEBHOOK_PUBLIC_URL is not a usable public base URL: {reason}")]
    InvalidPublicUrl { reason: String },
    #[error("WEBHOOK_ACCEPT_LEGACY_SIGNATURES must be true or false, got {value:?}")]
    InvalidAcceptLegacy { value: String },
}

/// Everything the receiver needs. `Debug` never shows the secret (`SecretString`).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The HubSpot app's client secret, the key of every signature recipe.
    pub secret: SecretString,
    /// Where HubSpot calls us when a proxy or custom domain hides it from the Host header.
    pub public_url: Option<PublicUrl>,
    /// `http` locally, `https` in Lambda (Function URLs are HTTPS only).
    pub default_scheme: Scheme,
    /// Accept v1/v2 signatures when no v3 signature is sent. Off by default: they carry no
    /// timestamp, so a captured delivery could be replayed forever.
    pub accept_legacy: bool,
    pub max_body_bytes: usize,
}

impl WebhookConfig {
    /// Local defaults: no public URL, `http`, v3 only, 1 MiB.
    pub fn new(secret: SecretString) -> Self {
        WebhookConfig {
            secret,
            public_url: None,
            default_scheme: Scheme::Http,
            accept_legacy: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Reads `WEBHOOK_PUBLIC_URL` and `WEBHOOK_ACCEPT_LEGACY_SIGNATURES`; the default scheme is
    /// `https` inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set). The secret comes from the caller
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
        let accept_legacy = match set("WEBHOOK_ACCEPT_LEGACY_SIGNATURES") {
            None => false,
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => return Err(WebhookConfigError::InvalidAcceptLegacy { value }),
            },
        };
        let default_scheme = if set("AWS_LAMBDA_FUNCTION_NAME").is_some() {
            Scheme::Https
        } else {
            Scheme::Http
        };
        Ok(WebhookConfig {
            public_url,
            default_scheme,
            accept_legacy,
            ..WebhookConfig::new(secret)
        })
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

    #[test]
    fn defaults_are_local_v3_only_and_one_mebibyte() {
        let config = from(&[]).unwrap();
        assert_eq!(config.public_url, None);
        assert_eq!(config.default_scheme, Scheme::Http);
        assert!(!config.accept_legacy);
        assert_eq!(config.max_body_bytes, 1024 * 1024);
        assert_eq!(config.secret.expose_secret(), "s3cret");
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn reads_public_url_legacy_flag_and_lambda_scheme() {
        let config = from(&[
            ("WEBHOOK_PUBLIC_URL", "https://hooks.example.com/prod/"),
            ("WEBHOOK_ACCEPT_LEGACY_SIGNATURES", "TRUE"),
            ("AWS_LAMBDA_FUNCTION_NAME", "hubspot-webhook"),
        ])
        .unwrap();
        assert_eq!(
            config.public_url.unwrap().as_str(),
            "https://hooks.example.com/prod"
        );
        assert!(config.accept_legacy);
        assert_eq!(config.default_scheme, Scheme::Https);
        assert!(
            !from(&[("WEBHOOK_ACCEPT_LEGACY_SIGNATURES", "false")])
                .unwrap()
                .accept_legacy
        );
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
    }
}
