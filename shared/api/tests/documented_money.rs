//! The money pattern the OpenAPI document gives the portal accepts exactly what the API parses.

use proptest::prelude::*;
use warp_domain::customer::Money;

fn documented_pattern() -> regex::Regex {
    let document = serde_json::to_value(warp_api::openapi::document()).unwrap();
    let pattern = document["components"]["schemas"]["MoneyText"]["pattern"]
        .as_str()
        .expect("MoneyText documents a pattern");
    regex::Regex::new(pattern).unwrap()
}

proptest! {
    #[test]
    fn documented_money_text_is_what_the_api_accepts(text in r"-?[0-9]{1,15}(\.[0-9]{0,5})?|[0-9 .e+-]{0,8}") {
        let documented = documented_pattern().is_match(&text);
        prop_assert_eq!(documented, Money::parse(&text).is_ok(), "{:?}", text);
    }
}
