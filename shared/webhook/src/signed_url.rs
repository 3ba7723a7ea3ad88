//! Rebuilding the URL HubSpot signed (v2 and v3 cover it) from the request we received.
//!
//! - With `WEBHOOK_PUBLIC_URL` set: that base (scheme, host, optional base path) followed by the
//!   request's raw path and query. A proxy, custom domain or API Gateway stage changes the host
//!   and may strip a base path, but passes path and query on unchanged; appending them lets one
//!   setting serve both routes and any query HubSpot's target URL carries.
//! - Otherwise: scheme (`X-Forwarded-Proto`, else the configured default) + `://` + Host header
//!   (else the request URI's authority) + raw path and query.
//!
//! The path and query are taken as received, never decoded or re-encoded: FACTS.md's decoding
//! table is applied afterwards by the v3 recipe (`warp_domain::hubspot_signature`).

use axum::http::{HeaderMap, Uri, header};

use crate::config::{PublicUrl, Scheme};

/// The request carries no host to rebuild the URL from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request has no Host header, so the signed URL cannot be rebuilt")]
pub struct MissingHost;

/// The URL HubSpot called, as it signed it (before the v3 decoding).
pub fn signed_url(
    public_url: Option<&PublicUrl>,
    default_scheme: Scheme,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<String, MissingHost> {
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    if let Some(public_url) = public_url {
        return Ok(format!("{}{path_and_query}", public_url.as_str()));
    }
    let scheme = forwarded_scheme(headers).unwrap_or(default_scheme);
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .or_else(|| uri.authority().map(|authority| authority.as_str()))
        .ok_or(MissingHost)?;
    Ok(format!("{}://{host}{path_and_query}", scheme.as_str()))
}

/// The scheme the client used, from the first `X-Forwarded-Proto` value (the one the outermost
/// proxy saw). Anything but http/https is ignored.
fn forwarded_scheme(headers: &HeaderMap) -> Option<Scheme> {
    let value = headers.get("x-forwarded-proto")?.to_str().ok()?;
    Scheme::parse(value.split(',').next()?.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn uri(text: &str) -> Uri {
        text.parse().unwrap()
    }

    #[test]
    fn host_path_and_query_with_the_default_scheme() {
        let url = signed_url(
            None,
            Scheme::Http,
            &headers(&[("host", "127.0.0.1:3000")]),
            &uri("/webhooks/hubspot?x=1&y=%20"),
        );
        assert_eq!(
            url.unwrap(),
            "http://127.0.0.1:3000/webhooks/hubspot?x=1&y=%20"
        );
        let url = signed_url(
            None,
            Scheme::Https,
            &headers(&[("host", "abc.lambda-url.eu-west-1.on.aws")]),
            &uri("/webhooks/hubspot/company"),
        );
        assert_eq!(
            url.unwrap(),
            "https://abc.lambda-url.eu-west-1.on.aws/webhooks/hubspot/company"
        );
    }

    #[test]
    fn forwarded_proto_wins_over_the_default_and_only_its_first_value_counts() {
        let at = |proto: &str| {
            signed_url(
                None,
                Scheme::Http,
                &headers(&[("host", "h.test"), ("x-forwarded-proto", proto)]),
                &uri("/p"),
            )
            .unwrap()
        };
        assert_eq!(at("https"), "https://h.test/p");
        assert_eq!(at("HTTPS, http"), "https://h.test/p");
        assert_eq!(at("http"), "http://h.test/p");
        assert_eq!(at("gopher"), "http://h.test/p");
    }

    #[test]
    fn escapes_are_kept_as_received() {
        let url = signed_url(
            None,
            Scheme::Https,
            &headers(&[("host", "h.test")]),
            &uri("/a%3Ab/c?q=%2C%20"),
        );
        assert_eq!(url.unwrap(), "https://h.test/a%3Ab/c?q=%2C%20");
    }

    #[test]
    fn public_url_replaces_scheme_and_host_and_keeps_path_and_query() {
        let public = PublicUrl::parse("https://hooks.example.com/prod/").unwrap();
        let url = signed_url(
            Some(&public),
            Scheme::Http,
            &headers(&[("host", "internal:8080"), ("x-forwarded-proto", "http")]),
            &uri("/webhooks/hubspot?x=1"),
        );
        assert_eq!(
            url.unwrap(),
            "https://hooks.example.com/prod/webhooks/hubspot?x=1"
        );
        let url = signed_url(Some(&public), Scheme::Http, &HeaderMap::new(), &uri("/w"));
        assert_eq!(url.unwrap(), "https://hooks.example.com/prod/w");
    }

    #[test]
    fn falls_back_to_the_uri_authority_and_fails_without_any_host() {
        let url = signed_url(
            None,
            Scheme::Https,
            &HeaderMap::new(),
            &uri("https://h2.test/webhooks/hubspot"),
        );
        assert_eq!(url.unwrap(), "https://h2.test/webhooks/hubspot");
        assert_eq!(
            signed_url(
                None,
                Scheme::Https,
                &HeaderMap::new(),
                &uri("/webhooks/hubspot")
            ),
            Err(MissingHost)
        );
    }
}
