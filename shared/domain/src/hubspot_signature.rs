//! HubSpot's webhook signing recipes (v1, v2, v3), exactly as hubspot/FACTS.md states them, and
//! their verification: constant-time comparison and, for v3, the 5-minute timestamp window in
//! both directions. The one implementation the sandbox (signing) and the receiver (verifying)
//! share. Pure: the caller passes the current time.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// How far a v3 timestamp may lie from now, in either direction (FACTS.md: 5 minutes).
pub const MAX_TIMESTAMP_SKEW_MS: i64 = 5 * 60 * 1000;

/// Why a delivery's signature is not accepted. The variants say what to log; the caller
/// answers every one of them the same way (401), so nothing leaks to the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request timestamp is not milliseconds since the epoch")]
    MalformedTimestamp,
    #[error("the request timestamp is {skew_ms} ms in the past, outside the window")]
    Stale { skew_ms: i64 },
    #[error("the request timestamp is {skew_ms} ms in the future, outside the window")]
    FromTheFuture { skew_ms: i64 },
    #[error("the signature does not match")]
    Mismatch,
}

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
    // signature (which never verifies: see `same_text`) rather than panic should that change.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(method.as_bytes());
    mac.update(decode_uri_for_v3(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp_ms.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a v3 signature: the timestamp first (|now − timestamp| ≤ `window_ms`, past and
/// future alike, so a captured delivery cannot be replayed later), then the HMAC in constant
/// time. `timestamp_header` is hashed as the text received, not re-formatted.
#[allow(clippy::too_many_arguments)] // the recipe's inputs, each a different thing
pub fn verify_v3(
    secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_header: &str,
    signature_header: &str,
    now_ms: i64,
    window_ms: i64,
) -> Result<(), SignatureError> {
    let timestamp_ms: i64 = timestamp_header
        .trim()
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    let skew_ms = now_ms.saturating_sub(timestamp_ms);
    if skew_ms > window_ms {
        return Err(SignatureError::Stale { skew_ms });
    }
    if skew_ms < window_ms.saturating_neg() {
        return Err(SignatureError::FromTheFuture {
            skew_ms: skew_ms.saturating_neg(),
        });
    }
    let expected = v3(secret, method, uri, body, timestamp_header);
    same_text(&expected, signature_header.trim())
}

/// Checks a v1 signature (hex, either case) in constant time. v1 covers neither the URL nor a
/// time, so a captured delivery can be replayed: accept it only when asked to.
pub fn verify_v1(secret: &str, body: &[u8], signature_header: &str) -> Result<(), SignatureError> {
    same_text(
        &v1(secret, body),
        &signature_header.trim().to_ascii_lowercase(),
    )
}

/// Checks a v2 signature (hex, either case) in constant time. Like v1, it carries no time.
pub fn verify_v2(
    secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    signature_header: &str,
) -> Result<(), SignatureError> {
    same_text(
        &v2(secret, method, uri, body),
        &signature_header.trim().to_ascii_lowercase(),
    )
}

/// Constant-time equality of the expected and the received signature text. The length is not
/// secret (every valid signature of a version has the same length); an empty expected value
/// never matches.
fn same_text(expected: &str, received: &str) -> Result<(), SignatureError> {
    if !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(received.as_bytes())) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
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
    const V3_BODY: &[u8] = b"{'example_field':'example_value'}";
    const V3_SIGNATURE: &str = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=";
    const V1_BODY: &[u8] = br#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
    const V1_SIGNATURE: &str = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de";

    #[test]
    fn v3_matches_hubspots_public_vector() {
        assert_eq!(v3(SECRET, "POST", URI, V3_BODY, "15000000"), V3_SIGNATURE);
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
        assert_eq!(v1(SECRET, V1_BODY), V1_SIGNATURE);
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

    fn verify_vector(now_ms: i64) -> Result<(), SignatureError> {
        verify_v3(
            SECRET,
            "POST",
            URI,
            V3_BODY,
            "15000000",
            V3_SIGNATURE,
            now_ms,
            MAX_TIMESTAMP_SKEW_MS,
        )
    }

    #[test]
    fn verify_v3_accepts_the_public_vector_inside_the_window_on_both_sides() {
        assert_eq!(verify_vector(15_000_000), Ok(()));
        assert_eq!(verify_vector(15_000_000 + 1_000), Ok(()));
        assert_eq!(verify_vector(15_000_000 + MAX_TIMESTAMP_SKEW_MS), Ok(()));
        assert_eq!(verify_vector(15_000_000 - MAX_TIMESTAMP_SKEW_MS), Ok(()));
    }

    #[test]
    fn verify_v3_rejects_stale_and_future_timestamps() {
        assert_eq!(
            verify_vector(15_000_000 + MAX_TIMESTAMP_SKEW_MS + 1),
            Err(SignatureError::Stale {
                skew_ms: MAX_TIMESTAMP_SKEW_MS + 1
            })
        );
        assert_eq!(
            verify_vector(15_000_000 - MAX_TIMESTAMP_SKEW_MS - 1),
            Err(SignatureError::FromTheFuture {
                skew_ms: MAX_TIMESTAMP_SKEW_MS + 1
            })
        );
        // Extreme values neither overflow nor pass.
        assert!(matches!(
            verify_v3(
                SECRET,
                "POST",
                URI,
                V3_BODY,
                "-9223372036854775808",
                V3_SIGNATURE,
                i64::MAX,
                MAX_TIMESTAMP_SKEW_MS
            ),
            Err(SignatureError::Stale { .. })
        ));
    }

    #[test]
    fn verify_v3_rejects_any_change_to_what_was_signed() {
        let now = 15_000_000;
        let check = |method: &str, uri: &str, body: &[u8], timestamp: &str, signature: &str| {
            verify_v3(
                SECRET,
                method,
                uri,
                body,
                timestamp,
                signature,
                now,
                MAX_TIMESTAMP_SKEW_MS,
            )
        };
        let mismatch = Err(SignatureError::Mismatch);
        assert_eq!(
            check("GET", URI, V3_BODY, "15000000", V3_SIGNATURE),
            mismatch
        );
        assert_eq!(
            check(
                "POST",
                "https://www.example.com/other",
                V3_BODY,
                "15000000",
                V3_SIGNATURE
            ),
            mismatch
        );
        assert_eq!(
            check("POST", URI, b"{}", "15000000", V3_SIGNATURE),
            mismatch
        );
        assert_eq!(
            check("POST", URI, V3_BODY, "15000001", V3_SIGNATURE),
            mismatch
        );
        assert_eq!(check("POST", URI, V3_BODY, "15000000", ""), mismatch);
        assert_eq!(
            check(
                "POST",
                URI,
                V3_BODY,
                "15000000",
                &V3_SIGNATURE.to_lowercase()
            ),
            mismatch
        );
        assert_eq!(
            verify_v3(
                "other",
                "POST",
                URI,
                V3_BODY,
                "15000000",
                V3_SIGNATURE,
                now,
                MAX_TIMESTAMP_SKEW_MS
            ),
            mismatch
        );
        assert_eq!(
            check("POST", URI, V3_BODY, "soon", V3_SIGNATURE),
            Err(SignatureError::MalformedTimestamp)
        );
    }

    #[test]
    fn verify_v1_and_v2_accept_the_vectors_and_nothing_else() {
        assert_eq!(verify_v1(SECRET, V1_BODY, V1_SIGNATURE), Ok(()));
        assert_eq!(
            verify_v1(SECRET, V1_BODY, &V1_SIGNATURE.to_uppercase()),
            Ok(())
        );
        assert_eq!(
            verify_v1(SECRET, b"[]", V1_SIGNATURE),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_v1("other", V1_BODY, V1_SIGNATURE),
            Err(SignatureError::Mismatch)
        );
        let v2_get = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e";
        assert_eq!(verify_v2(SECRET, "GET", URI, b"", v2_get), Ok(()));
        assert_eq!(
            verify_v2(SECRET, "POST", URI, b"", v2_get),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_v2(SECRET, "GET", "https://www.example.com/x", b"", v2_get),
            Err(SignatureError::Mismatch)
        );
    }
}
