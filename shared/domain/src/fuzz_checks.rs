//! The properties the fuzz targets in `fuzz/` check, as plain functions that panic when one
//! does not hold. They live here, not in the targets, so the regression test
//! (`tests/fuzz_regressions.rs`) replays every saved input through exactly the same checks.
//!
//! Each takes arbitrary bytes: for untrusted input (a webhook body, a signature header, an API
//! body) the only acceptable outcomes are a value or a typed error, never a panic, and a value
//! must survive its own round trip.

use crate::customer::{Ban, CompanyName, CustomerPatch, Domain, Email, Money, NewCustomer, Phone};
use crate::hubspot_signature::{self, SignatureError};
use crate::sync::parse_webhook_batch_with_raw;

/// A webhook body: parsed into events or refused; what parses keeps each event's raw JSON.
pub fn webhook_body(data: &[u8]) {
    if let Ok(events) = parse_webhook_batch_with_raw(data) {
        for (event, raw) in &events {
            assert!(raw.is_object(), "an event that parses is a JSON object");
            let _ = event.kind();
            let _ = event.object_type();
        }
    }
}

/// Signature inputs cut from the bytes: verification never panics, a signature we compute
/// verifies, and the same signature with one character changed does not.
pub fn signature(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(5, '\u{1f}');
    let secret = parts.next().unwrap_or_default();
    let uri = parts.next().unwrap_or_default();
    let timestamp = parts.next().unwrap_or_default();
    let header = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default().as_bytes();
    let now_ms = 1_700_000_000_000;
    let window_ms = 300_000;

    let _ = hubspot_signature::verify_v3(
        secret, "POST", uri, body, timestamp, header, now_ms, window_ms,
    );
    let _ = hubspot_signature::verify_v1(secret, body, header);
    let _ = hubspot_signature::verify_v2(secret, "POST", uri, body, header);
    let _ = hubspot_signature::decode_uri_for_v3(uri);

    let timestamp = (now_ms - 1_000).to_string();
    let signed = hubspot_signature::v3(secret, "POST", uri, body, &timestamp);
    assert_eq!(
        hubspot_signature::verify_v3(
            secret, "POST", uri, body, &timestamp, &signed, now_ms, window_ms
        ),
        Ok(()),
        "our own v3 signature verifies"
    );
    let mut tampered = signed.into_bytes();
    if let Some(first) = tampered.first_mut() {
        *first = if *first == b'A' { b'B' } else { b'A' };
    }
    let tampered = String::from_utf8_lossy(&tampered).into_owned();
    assert_eq!(
        hubspot_signature::verify_v3(
            secret, "POST", uri, body, &timestamp, &tampered, now_ms, window_ms
        ),
        Err(SignatureError::Mismatch),
        "a changed signature does not verify"
    );
}

/// An API body and the value types: parsed or refused with field errors; every value that
/// parses parses again from its own text to the same value.
pub fn customer_input(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Err(errors) = NewCustomer::from_json(&value) {
            assert!(!errors.is_empty(), "a refusal names at least one field");
        }
        if let Err(errors) = CustomerPatch::from_json(&value) {
            assert!(!errors.is_empty(), "a refusal names at least one field");
        }
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(ban) = Ban::parse(&text) {
        assert_eq!(Ban::parse(ban.as_str()).ok(), Some(ban));
    }
    if let Ok(email) = Email::parse(&text) {
        assert_eq!(Email::parse(email.as_str()).ok(), Some(email));
    }
    if let Ok(phone) = Phone::parse(&text) {
        assert_eq!(Phone::parse(phone.as_str()).ok(), Some(phone));
    }
    if let Ok(domain) = Domain::parse(&text) {
        assert_eq!(Domain::parse(domain.as_str()).ok(), Some(domain));
    }
    if let Ok(name) = CompanyName::parse(&text) {
        assert_eq!(CompanyName::parse(name.as_str()).ok(), Some(name));
    }
    if let Ok(money) = Money::parse(&text) {
        assert_eq!(Money::parse(&money.to_string()).ok(), Some(money));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_accept_ordinary_inputs() {
        webhook_body(br#"[{"eventId":1,"subscriptionId":2,"portalId":3,"appId":4,"occurredAt":5,"subscriptionType":"company.propertyChange","attemptNumber":0,"objectId":6,"propertyName":"name","propertyValue":"x"}]"#);
        signature(
            "secret\u{1f}https://example.com/webhooks/hubspot?a=%20b\u{1f}1\u{1f}sig\u{1f}[]"
                .as_bytes(),
        );
        customer_input(br#"{"company_name":"Acme","customer_type":"POSTPAID"}"#);
        customer_input(b"ZT-487392012");
    }
}
