//! HubSpot's webhook signing recipes (v1, v2, v3), exactly as hubspot/FACTS.md states them.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// v1: lower-case hex of SHA-256(secret ++ body). A plain hash, not an HMAC.
pub fn v1(secret: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(secret.as_bytes());
    hasher.update(body);
    hex(&hasher.finalize())
}

/// v2: lower-case hex of SHA-256(secret ++ method ++ uri ++ body).
pub fn v2(secret: &str, method: &str, uri: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(secret.as_bytes());
    hasher.update(method.as_bytes());
    hasher.update(uri.as_bytes());
    hasher.update(body);
    hex(&hasher.finalize())
}

/// v3: padded base64 of HMAC-SHA256(secret, method ++ decoded uri ++ body ++ timestamp).
pub fn v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp_ms: &str) -> String {
    // HMAC-SHA256 accepts keys of any length, so this cannot fail; fall back to an empty
    // signature rather than panic should that ever change.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(method.as_bytes());
    mac.update(decode_uri_for_v3(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp_ms.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Decodes only the escapes HubSpot decodes before signing; every other escape stays.
pub fn decode_uri_for_v3(uri: &str) -> String {
    const DECODED: [(&str, char); 12] = [
        ("3A", ':'),
        ("2F", '/'),
        ("3F", '?'),
        ("40", '@'),
        ("21", '!'),
        ("24", '$'),
        ("27", '\''),
        ("28", '('),
        ("29", ')'),
        ("2A", '*'),
        ("2C", ','),
        ("3B", ';'),
    ];
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(position) = rest.find('%') {
        out.push_str(&rest[..position]);
        let after = &rest[position + 1..];
        let code = after.get(..2).map(str::to_ascii_uppercase);
        match code.and_then(|code| DECODED.iter().find(|(hex, _)| *hex == code)) {
            Some((_, decoded)) => {
                out.push(*decoded);
                rest = &after[2..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const URI: &str = "https://www.example.com/webhook_uri";

    #[test]
    fn v3_matches_hubspots_public_vector() {
        let signature = v3(
            SECRET,
            "POST",
            URI,
            b"{'example_field':'example_value'}",
            "15000000",
        );
        assert_eq!(signature, "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=");
    }

    #[test]
    fn v2_matches_hubspots_public_vectors() {
        assert_eq!(
            v2(SECRET, "GET", URI, b""),
            "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
        );
        assert_eq!(
            v2(SECRET, "POST", URI, br#"{"example_field":"example_value"}"#),
            "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"
        );
    }

    #[test]
    fn v1_matches_hubspots_public_vector() {
        let body = br#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
        assert_eq!(
            v1(SECRET, body),
            "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
        );
    }

    #[test]
    fn v3_decodes_only_the_listed_escapes() {
        assert_eq!(
            decode_uri_for_v3("https://x.test/a%3Ab%2fc?q=%20%40%2C%zz%"),
            "https://x.test/a:b/c?q=%20@,%zz%"
        );
        let encoded = v3(SECRET, "POST", "https://x.test/a%3Ab", b"{}", "1");
        let decoded = v3(SECRET, "POST", "https://x.test/a:b", b"{}", "1");
        assert_eq!(encoded, decoded);
        assert_ne!(
            encoded,
            v3(SECRET, "POST", "https://x.test/a%20b", b"{}", "1")
        );
    }
}
