//! Deciding whether a delivery is HubSpot's: which signature header to check, with which
//! recipe (`warp_domain::hubspot_signature`), before anything is parsed or stored.
//!
//! A v3 signature, when present, is the only one checked (a bad v3 never falls back to v1/v2).
//! Without one, v1/v2 (`X-HubSpot-Signature` + `X-HubSpot-Signature-Version`) are checked only
//! when the configuration accepts legacy signatures.

use axum::http::HeaderMap;
use secrecy::ExposeSecret as _;
use warp_domain::hubspot_signature::{
    self, MAX_TIMESTAMP_SKEW_MS, SignatureError, verify_v1, verify_v2, verify_v3,
};

use crate::config::WebhookConfig;

pub const SIGNATURE_V3_HEADER: &str = "x-hubspot-signature-v3";
pub const TIMESTAMP_HEADER: &str = "x-hubspot-request-timestamp";
pub const SIGNATURE_HEADER: &str = "x-hubspot-signature";
pub const SIGNATURE_VERSION_HEADER: &str = "x-hubspot-signature-version";

/// The recipe a delivery was accepted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    V1,
    V2,
    V3,
}

/// Why a delivery is not accepted as HubSpot's. All are answered 401; the variant is logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no HubSpot signature header")]
    MissingSignature,
    #[error("a v3 signature without a request timestamp")]
    MissingTimestamp,
    #[error("a signature header is not visible ASCII")]
    UnreadableHeader,
    #[error("only a legacy (v1/v2) signature, and legacy signatures are not accepted")]
    LegacyNotAccepted,
    #[error("unknown signature version {0:?}")]
    UnknownVersion(String),
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// Checks the delivery's signature over `method`, the rebuilt `url` and the raw `body`.
pub fn verify_delivery(
    config: &WebhookConfig,
    method: &str,
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
    now_ms: i64,
) -> Result<SignatureVersion, Rejection> {
    let secret = config.secret.expose_secret();
    if let Some(signature) = header_text(headers, SIGNATURE_V3_HEADER)? {
        let timestamp =
            header_text(headers, TIMESTAMP_HEADER)?.ok_or(Rejection::MissingTimestamp)?;
        verify_v3(
            secret,
            method,
            url,
            body,
            timestamp,
            signature,
            now_ms,
            MAX_TIMESTAMP_SKEW_MS,
        )?;
        return Ok(SignatureVersion::V3);
    }
    let Some(signature) = header_text(headers, SIGNATURE_HEADER)? else {
        return Err(Rejection::MissingSignature);
    };
    if !config.accept_legacy {
        return Err(Rejection::LegacyNotAccepted);
    }
    // CRM object subscriptions sign with v1; a missing version header means v1.
    match header_text(headers, SIGNATURE_VERSION_HEADER)?.map(str::trim) {
        None => verify_legacy_v1(secret, body, signature),
        Some(version) if version.eq_ignore_ascii_case("v1") => {
            verify_legacy_v1(secret, body, signature)
        }
        Some(version) if version.eq_ignore_ascii_case("v2") => {
            verify_v2(secret, method, url, body, signature)?;
            Ok(SignatureVersion::V2)
        }
        Some(other) => Err(Rejection::UnknownVersion(other.chars().take(16).collect())),
    }
}

fn verify_legacy_v1(
    secret: &str,
    body: &[u8],
    signature: &str,
) -> Result<SignatureVersion, Rejection> {
    verify_v1(secret, body, signature)?;
    Ok(SignatureVersion::V1)
}

/// The header's text, `None` when absent or empty.
fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Rejection> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => {
            let text = value.to_str().map_err(|_| Rejection::UnreadableHeader)?;
            Ok(Some(text).filter(|text| !text.trim().is_empty()))
        }
    }
}

/// Signs a delivery the way HubSpot does (v3 with its timestamp): for tests and local tools.
pub fn sign_v3(
    secret: &str,
    method: &str,
    url: &str,
    body: &[u8],
    now_ms: i64,
) -> [(&'static str, String); 2] {
    let timestamp = now_ms.to_string();
    let signature = hubspot_signature::v3(secret, method, url, body, &timestamp);
    [
        (SIGNATURE_V3_HEADER, signature),
        (TIMESTAMP_HEADER, timestamp),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use secrecy::SecretString;

    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const URL: &str = "https://www.example.com/webhook_uri";
    const NOW: i64 = 1_800_000_000_000;

    fn config(accept_legacy: bool) -> WebhookConfig {
        WebhookConfig {
            accept_legacy,
            ..WebhookConfig::new(
                SecretString::from(SECRET),
                crate::config::PublicUrl::parse("https://www.example.com").unwrap(),
            )
        }
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn accepts_hubspots_public_v3_vector_near_its_timestamp() {
        let headers = headers(&[
            (
                SIGNATURE_V3_HEADER,
                "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=".into(),
            ),
            (TIMESTAMP_HEADER, "15000000".into()),
        ]);
        let body = b"{'example_field':'example_value'}";
        let verdict = verify_delivery(
            &config(false),
            "POST",
            URL,
            &headers,
            body,
            15_000_000 + 60_000,
        );
        assert_eq!(verdict, Ok(SignatureVersion::V3));
        let verdict = verify_delivery(
            &config(false),
            "POST",
            URL,
            &headers,
            body,
            15_000_000 + 600_000,
        );
        assert!(matches!(
            verdict,
            Err(Rejection::Signature(SignatureError::Stale { .. }))
        ));
    }

    #[test]
    fn v3_needs_its_timestamp_and_never_falls_back_to_v1() {
        let body = b"[]";
        let [signature, _timestamp] = sign_v3(SECRET, "POST", URL, body, NOW);
        let no_timestamp = headers(std::slice::from_ref(&signature));
        assert_eq!(
            verify_delivery(&config(true), "POST", URL, &no_timestamp, body, NOW),
            Err(Rejection::MissingTimestamp)
        );
        let bad_v3_good_v1 = headers(&[
            (SIGNATURE_V3_HEADER, "AAAA".into()),
            (TIMESTAMP_HEADER, NOW.to_string()),
            (SIGNATURE_HEADER, hubspot_signature::v1(SECRET, body)),
        ]);
        assert_eq!(
            verify_delivery(&config(true), "POST", URL, &bad_v3_good_v1, body, NOW),
            Err(Rejection::Signature(SignatureError::Mismatch))
        );
    }

    #[test]
    fn legacy_signatures_only_when_accepted() {
        let body = b"[]";
        let v1 = headers(&[(SIGNATURE_HEADER, hubspot_signature::v1(SECRET, body))]);
        assert_eq!(
            verify_delivery(&config(false), "POST", URL, &v1, body, NOW),
            Err(Rejection::LegacyNotAccepted)
        );
        assert_eq!(
            verify_delivery(&config(true), "POST", URL, &v1, body, NOW),
            Ok(SignatureVersion::V1)
        );
        let v2 = headers(&[
            (
                SIGNATURE_HEADER,
                hubspot_signature::v2(SECRET, "POST", URL, body),
            ),
            (SIGNATURE_VERSION_HEADER, "v2".into()),
        ]);
        assert_eq!(
            verify_delivery(&config(true), "POST", URL, &v2, body, NOW),
            Ok(SignatureVersion::V2)
        );
        assert_eq!(
            verify_delivery(
                &config(true),
                "POST",
                "https://elsewhere.test/",
                &v2,
                body,
                NOW
            ),
            Err(Rejection::Signature(SignatureError::Mismatch))
        );
        let v9 = headers(&[
            (SIGNATURE_HEADER, "00".into()),
            (SIGNATURE_VERSION_HEADER, "v9".into()),
        ]);
        assert!(matches!(
            verify_delivery(&config(true), "POST", URL, &v9, body, NOW),
            Err(Rejection::UnknownVersion(_))
        ));
        assert_eq!(
            verify_delivery(&config(true), "POST", URL, &HeaderMap::new(), body, NOW),
            Err(Rejection::MissingSignature)
        );
    }
}
