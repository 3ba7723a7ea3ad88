//! Rebuilding the URL HubSpot signed (v2 and v3 cover it) from the request we received.
//!
//! - [`SignedUrlBase::Fixed`] (`WEBHOOK_PUBLIC_URL`, or locally the listener's own URL): that
//!   base (scheme, host, optional base path) followed by the request's raw path and query. A
//!   proxy, custom domain or API Gateway stage changes the host and may strip a base path, but
//!   passes path and query on unchanged; appending them lets one setting serve both routes and
//!   any query HubSpot's target URL carries. Host and forwarding headers are ignored: the
//!   caller chooses them, so believing them would let a delivery signed for any other URL
//!   (another deployment's, or `https://evil.example/...`) verify here.
//! - [`SignedUrlBase::ForwardedHeaders`] (only with `WEBHOOK_TRUST_FORWARDED_HEADERS=true`):
//!   scheme (`X-Forwarded-Proto`, else the default) + `://` + host (`X-Forwarded-Host`, else
//!   Host, else the request URI's authority) + raw path and query; the first value of a
//!   forwarding header is the one the outermost proxy saw.
//!
//! The path and query are taken as received, never decoded or re-encoded: FACTS.md's decoding
//! table is applied afterwards by the v3 recipe (`warp_domain::hubspot_signature`).

use axum::http::{HeaderMap, Uri, header};

use crate::config::{Scheme, SignedUrlBase};

/// The request carries no host to rebuild the URL from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request has no Host header, so the signed URL cannot be rebuilt")]
pub struct MissingHost;

/// The URL HubSpot called, as it signed it (before the v3 decoding).
pub fn signed_url(
    base: &SignedUrlBase,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<String, MissingHost> {
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let default_scheme = match base {
        SignedUrlBase::Fixed(public_url) => {
            return Ok(format!("{}{path_and_query}", public_url.as_str()));
        }
        SignedUrlBase::ForwardedHeaders { default_scheme } => *default_scheme,
    };
    let scheme = first_value(headers, "x-forwarded-proto")
        .and_then(Scheme::parse)
        .unwrap_or(default_scheme);
    let host = first_value(headers, "x-forwarded-host")
        .or_else(|| first_value(headers, header::HOST.as_str()))
        .or_else(|| uri.authority().map(|authority| authority.as_str()))
        .ok_or(MissingHost)?;
    Ok(format!("{}://{host}{path_and_query}", scheme.as_str()))
}

/// The first (outermost proxy's) value of a header that proxies append to, trimmed; `None`
/// when absent, empty or not visible ASCII.
fn first_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let value = headers.get(name)?.to_str().ok()?;
    Some(value.split(',').next()?.trim()).filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PublicUrl;
    use axum::http::HeaderValue;

    const TRUSTED_HTTP: SignedUrlBase = SignedUrlBase::ForwardedHeaders {
        default_scheme: Scheme::Http,
    };

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

    fn fixed(url: &str) -> SignedUrlBase {
        SignedUrlBase::Fixed(PublicUrl::parse(url).unwrap())
    }

    #[test]
    fn a_fixed_base_ignores_every_header_the_caller_sends() {
        let base = fixed("http://127.0.0.1:3000");
        for pairs in [
            &[][..],
            &[("host", "evil.example"), ("x-forwarded-proto", "https")],
            &[
                ("x-forwarded-host", "evil.example"),
                ("x-forwarded-proto", "https"),
            ],
        ] {
            let url = signed_url(&base, &headers(pairs), &uri("/webhooks/hubspot?x=1&y=%20"));
            assert_eq!(
                url.unwrap(),
                "http://127.0.0.1:3000/webhooks/hubspot?x=1&y=%20",
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn a_public_url_keeps_its_base_path_and_appends_path_and_query() {
        let base = fixed("https://hooks.example.com/prod/");
        let url = signed_url(
            &base,
            &headers(&[("host", "internal:8080"), ("x-forwarded-proto", "http")]),
            &uri("/webhooks/hubspot?x=1"),
        );
        assert_eq!(
            url.unwrap(),
            "https://hooks.example.com/prod/webhooks/hubspot?x=1"
        );
        let url = signed_url(&base, &HeaderMap::new(), &uri("/w"));
        assert_eq!(url.unwrap(), "https://hooks.example.com/prod/w");
    }

    #[test]
    fn trusted_headers_give_host_path_and_query_with_the_default_scheme() {
        let url = signed_url(
            &TRUSTED_HTTP,
            &headers(&[("host", "127.0.0.1:3000")]),
            &uri("/webhooks/hubspot?x=1&y=%20"),
        );
        assert_eq!(
            url.unwrap(),
            "http://127.0.0.1:3000/webhooks/hubspot?x=1&y=%20"
        );
    }

    #[test]
    fn trusted_forwarded_headers_win_and_only_their_first_value_counts() {
        let at = |pairs: &[(&'static str, &str)]| {
            signed_url(&TRUSTED_HTTP, &headers(pairs), &uri("/p")).unwrap()
        };
        assert_eq!(
            at(&[("host", "h.test"), ("x-forwarded-proto", "https")]),
            "https://h.test/p"
        );
        assert_eq!(
            at(&[("host", "h.test"), ("x-forwarded-proto", "HTTPS, http")]),
            "https://h.test/p"
        );
        assert_eq!(
            at(&[("host", "h.test"), ("x-forwarded-proto", "gopher")]),
            "http://h.test/p"
        );
        assert_eq!(
            at(&[
                ("host", "internal:8080"),
                ("x-forwarded-host", "hooks.example.com, internal"),
                ("x-forwarded-proto", "https"),
            ]),
            "https://hooks.example.com/p"
        );
        assert_eq!(
            at(&[("host", "h.test"), ("x-forwarded-host", " ")]),
            "http://h.test/p"
        );
    }

    #[test]
    fn escapes_are_kept_as_received() {
        let url = signed_url(
            &TRUSTED_HTTP,
            &headers(&[("host", "h.test")]),
            &uri("/a%3Ab/c?q=%2C%20"),
        );
        assert_eq!(url.unwrap(), "http://h.test/a%3Ab/c?q=%2C%20");
        let url = signed_url(
            &fixed("https://h.test"),
            &HeaderMap::new(),
            &uri("/a%3Ab/c?q=%2C%20"),
        );
        assert_eq!(url.unwrap(), "https://h.test/a%3Ab/c?q=%2C%20");
    }

    #[test]
    fn trusted_headers_fall_back_to_the_uri_authority_and_fail_without_any_host() {
        let url = signed_url(
            &TRUSTED_HTTP,
            &HeaderMap::new(),
            &uri("https://h2.test/webhooks/hubspot"),
        );
        assert_eq!(url.unwrap(), "http://h2.test/webhooks/hubspot");
        assert_eq!(
            signed_url(&TRUSTED_HTTP, &HeaderMap::new(), &uri("/webhooks/hubspot")),
            Err(MissingHost)
        );
    }
}
