//! The webhook's optional source-address allow-list (issue 23, seed 002's security points):
//! `WEBHOOK_ALLOWED_CIDRS` lists the networks deliveries may come from; anything else is
//! refused (403) before the body is read or the signature computed. The client's address is
//! the connection's peer (locally) or the Function URL's `sourceIp` (in Lambda); behind a proxy
//! (CloudFront) it is read **only** from the header the operator names in
//! `WEBHOOK_CLIENT_IP_HEADER`, and from a list (`X-Forwarded-For`) only its last entry, the one
//! the trusted proxy appended: the entries before it are whatever the client sent. The header
//! is believed only on a connection from the proxy itself (`WEBHOOK_TRUSTED_PROXY_CIDRS`, e.g.
//! CloudFront's origin-facing ranges, required with a header): the Function URL stays public,
//! and a caller going around the proxy could write any address in it.
//!
//! Off by default: HubSpot does not commit to fixed source addresses, so an allow-list is an
//! operator's choice (for example HubSpot's published ranges, kept up to date by them).

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, HeaderName};
use ipnet::IpNet;

/// Where deliveries may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAllowList {
    networks: Vec<IpNet>,
    /// The header the trusted proxy writes the client's address into.
    client_ip_header: Option<HeaderName>,
    /// Where the proxy connects from: the header counts on its connections only.
    trusted_proxies: Vec<IpNet>,
}

/// A bad `WEBHOOK_ALLOWED_CIDRS` or `WEBHOOK_CLIENT_IP_HEADER`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceAllowListError {
    #[error("WEBHOOK_ALLOWED_CIDRS: {entry:?} is not an address or a CIDR network")]
    InvalidNetwork { entry: String },
    #[error("WEBHOOK_CLIENT_IP_HEADER: {value:?} is not a header name")]
    InvalidHeader { value: String },
    #[error("WEBHOOK_CLIENT_IP_HEADER is set but WEBHOOK_ALLOWED_CIDRS is not")]
    HeaderWithoutList,
    #[error(
        "WEBHOOK_CLIENT_IP_HEADER needs WEBHOOK_TRUSTED_PROXY_CIDRS: where the proxy connects \
         from (a caller going around it could write any address in the header)"
    )]
    HeaderWithoutProxies,
    #[error("WEBHOOK_TRUSTED_PROXY_CIDRS is set but WEBHOOK_CLIENT_IP_HEADER is not")]
    ProxiesWithoutHeader,
}

impl SourceAllowList {
    /// From the two settings; `None` when no list is configured (every source allowed).
    pub fn parse(
        cidrs: Option<&str>,
        client_ip_header: Option<&str>,
        trusted_proxies: Option<&str>,
    ) -> Result<Option<Self>, SourceAllowListError> {
        let header = client_ip_header
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(|value| {
                HeaderName::try_from(value.to_ascii_lowercase()).map_err(|_| {
                    SourceAllowListError::InvalidHeader {
                        value: value.to_owned(),
                    }
                })
            })
            .transpose()?;
        let networks = parse_networks(cidrs)?;
        let trusted_proxies = parse_networks(trusted_proxies)?;
        match (networks.is_empty(), &header, trusted_proxies.is_empty()) {
            (true, None, true) => return Ok(None),
            (true, Some(_), _) => return Err(SourceAllowListError::HeaderWithoutList),
            (_, Some(_), true) => return Err(SourceAllowListError::HeaderWithoutProxies),
            (_, None, false) => return Err(SourceAllowListError::ProxiesWithoutHeader),
            _ => {}
        }
        Ok(Some(SourceAllowList {
            networks,
            client_ip_header: header,
            trusted_proxies,
        }))
    }

    /// The client's address as this list reads it; `None` when it cannot be told.
    pub fn client_ip(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        let peer = lambda_source_ip(extensions).or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip())
        });
        match &self.client_ip_header {
            Some(name) => {
                // The header is the proxy's word only on the proxy's own connection.
                let peer = canonical(peer?);
                if !self
                    .trusted_proxies
                    .iter()
                    .any(|proxy| proxy.contains(&peer))
                {
                    return None;
                }
                // Several headers of the name: the last one is the proxy's.
                let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
                address_in_header(value.rsplit(',').next()?)
            }
            None => peer,
        }
    }

    /// Whether a delivery from `ip` is let in.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks.iter().any(|network| network.contains(&ip))
    }
}

/// Addresses or CIDR networks, comma or space separated (none: empty).
fn parse_networks(list: Option<&str>) -> Result<Vec<IpNet>, SourceAllowListError> {
    list.unwrap_or_default()
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map(|network| network.trunc())
                .map_err(|_| SourceAllowListError::InvalidNetwork {
                    entry: entry.to_owned(),
                })
        })
        .collect()
}

/// The Function URL's `requestContext.http.sourceIp` (lambda_http puts the context in the
/// request's extensions).
fn lambda_source_ip(extensions: &Extensions) -> Option<IpAddr> {
    match extensions.get::<lambda_http::request::RequestContext>()? {
        lambda_http::request::RequestContext::ApiGatewayV2(context) => {
            context.http.source_ip.as_deref()?.parse().ok()
        }
        #[allow(unreachable_patterns)] // other event sources, when lambda_http's features add them
        _ => None,
    }
}

/// An address as a proxy writes it: `203.0.113.7`, `203.0.113.7:443`, `2001:db8::1`,
/// `[2001:db8::1]:443`.
fn address_in_header(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    // CloudFront-Viewer-Address writes an IPv6 address and its port without brackets.
    let (address, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    address.parse::<IpAddr>().ok()
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(cidrs: &str, header: Option<&str>) -> SourceAllowList {
        let proxies = header.map(|_| "203.0.113.9, 127.0.0.1");
        SourceAllowList::parse(Some(cidrs), header, proxies)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn nothing_configured_allows_everything_and_bad_settings_are_named() {
        assert_eq!(SourceAllowList::parse(None, None, None), Ok(None));
        assert_eq!(SourceAllowList::parse(Some(" , "), None, None), Ok(None));
        assert_eq!(
            SourceAllowList::parse(Some("10.0.0.0/8, nope"), None, None),
            Err(SourceAllowListError::InvalidNetwork {
                entry: "nope".into()
            })
        );
        assert_eq!(
            SourceAllowList::parse(Some("10.0.0.0/33"), None, None),
            Err(SourceAllowListError::InvalidNetwork {
                entry: "10.0.0.0/33".into()
            })
        );
        assert_eq!(
            SourceAllowList::parse(None, Some("X-Forwarded-For"), Some("10.0.0.1")),
            Err(SourceAllowListError::HeaderWithoutList)
        );
        assert_eq!(
            SourceAllowList::parse(Some("10.0.0.0/8"), Some("X-Forwarded-For"), None),
            Err(SourceAllowListError::HeaderWithoutProxies)
        );
        assert_eq!(
            SourceAllowList::parse(Some("10.0.0.0/8"), None, Some("10.0.0.1")),
            Err(SourceAllowListError::ProxiesWithoutHeader)
        );
        assert!(matches!(
            SourceAllowList::parse(Some("10.0.0.1"), Some("bad header"), Some("10.0.0.2")),
            Err(SourceAllowListError::InvalidHeader { .. })
        ));
    }

    #[test]
    fn networks_and_single_addresses_match_v4_v6_and_mapped_v4() {
        let allowed = list("54.174.60.0/23 2001:db8::/32,127.0.0.1", None);
        for ip in [
            "54.174.61.255",
            "2001:db8::7",
            "127.0.0.1",
            "::ffff:54.174.60.1",
        ] {
            assert!(allowed.allows(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["54.174.62.0", "2001:db9::1", "127.0.0.2", "::1"] {
            assert!(!allowed.allows(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn behind_a_proxy_only_the_last_entry_of_its_header_counts() {
        let allowed = list("203.0.113.0/24", Some("X-Forwarded-For"));
        let mut headers = HeaderMap::new();
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo::<SocketAddr>(
            "203.0.113.9:443".parse().unwrap(),
        ));
        // No header: the peer (the proxy itself) is not the client.
        assert_eq!(allowed.client_ip(&headers, &extensions), None);
        // A caller going around the proxy: its header is not believed.
        let mut around = Extensions::new();
        around.insert(ConnectInfo::<SocketAddr>(
            "198.51.100.200:443".parse().unwrap(),
        ));
        let mut forged = HeaderMap::new();
        forged.insert("x-forwarded-for", "203.0.113.5".parse().unwrap());
        assert_eq!(allowed.client_ip(&forged, &around), None);
        // A client forging the first entry gains nothing: the proxy appended the real one.
        headers.insert(
            "x-forwarded-for",
            "203.0.113.5, 198.51.100.7".parse().unwrap(),
        );
        assert_eq!(
            allowed.client_ip(&headers, &extensions),
            Some("198.51.100.7".parse().unwrap())
        );
        let viewer = list("2001:db8::/32", Some("CloudFront-Viewer-Address"));
        headers.insert(
            "cloudfront-viewer-address",
            "2001:db8::5:46532".parse().unwrap(),
        );
        assert_eq!(
            viewer.client_ip(&headers, &extensions),
            Some("2001:db8::5".parse().unwrap())
        );
        headers.insert(
            "cloudfront-viewer-address",
            "203.0.113.4:443".parse().unwrap(),
        );
        assert_eq!(
            viewer.client_ip(&headers, &extensions),
            Some("203.0.113.4".parse().unwrap())
        );
    }

    #[test]
    fn without_a_header_the_peer_is_the_client() {
        let allowed = list("10.1.0.0/16", None);
        let mut extensions = Extensions::new();
        assert_eq!(allowed.client_ip(&HeaderMap::new(), &extensions), None);
        extensions.insert(ConnectInfo::<SocketAddr>("10.1.2.3:5000".parse().unwrap()));
        assert_eq!(
            allowed.client_ip(&HeaderMap::new(), &extensions),
            Some("10.1.2.3".parse().unwrap())
        );
    }
}
