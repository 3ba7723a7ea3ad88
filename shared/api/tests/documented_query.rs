//! The query parameter patterns the OpenAPI document gives the portal accept exactly what the
//! API parses: a client (or schemathesis) that follows the document is not refused.

use std::sync::LazyLock;

use proptest::prelude::*;
use uuid::Uuid;
use warp_store::conflicts::ConflictStatus;
use warp_store::customers::{decode_cursor, encode_cursor};

const PAGED_LISTS: [&str; 3] = [
    "/v1/customers",
    "/v1/sync/conflicts",
    "/v1/sync/reconciliations",
];

static DOCUMENT: LazyLock<serde_json::Value> =
    LazyLock::new(|| serde_json::to_value(warp_api::openapi::document()).unwrap());

fn documented_pattern(path: &str, parameter: &str) -> regex::Regex {
    let pattern = DOCUMENT["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{path} documents its parameters"))
        .iter()
        .find(|documented| documented["name"] == parameter)
        .and_then(|documented| documented["schema"]["pattern"].as_str())
        .unwrap_or_else(|| panic!("{path} documents a pattern for {parameter}"));
    regex::Regex::new(pattern).unwrap()
}

proptest! {
    #[test]
    fn every_cursor_the_api_hands_out_is_documented(bytes in any::<[u8; 16]>()) {
        let cursor = encode_cursor(Uuid::from_bytes(bytes));
        for path in PAGED_LISTS {
            prop_assert!(documented_pattern(path, "cursor").is_match(&cursor), "{} {}", path, cursor);
        }
    }

    #[test]
    fn a_documented_cursor_is_one_the_api_reads(text in "[A-Za-z0-9_-]{21,23}|[A-Za-z0-9_=+/-]{20,23}|.{0,24}") {
        let decodes = decode_cursor(&text).is_ok();
        for path in PAGED_LISTS {
            prop_assert_eq!(documented_pattern(path, "cursor").is_match(&text), decodes, "{} {:?}", path, text);
        }
    }

    #[test]
    fn the_documented_conflict_status_is_what_the_api_reads(text in r"\s{0,2}(OPEN|RESOLVED|open|OPENED|)\s{0,2}|.{0,10}") {
        let documented = documented_pattern("/v1/sync/conflicts", "status").is_match(&text);
        prop_assert_eq!(documented, ConflictStatus::parse(text.trim()).is_some(), "{:?}", text);
    }
}
