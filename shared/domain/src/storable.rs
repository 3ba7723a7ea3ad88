//! Text from outside (HubSpot values and error messages, webhook bodies, token subjects) made
//! safe to store in PostgreSQL, which refuses the NUL character (U+0000) in `text` and its
//! `\u0000` escape in `jsonb`. One such character would fail the whole statement, and with it
//! every other row the statement carried (a delivery's events, a batch of repairs).
//!
//! Every writer of outside text passes it through here: [`storable`] for a `text` column,
//! [`storable_json`] for a `jsonb` one. Both replace each NUL with U+FFFD, the Unicode
//! replacement character, and leave every other character as it is: what was received stays
//! readable, and a replaced text never contains a NUL again.
//!
//! Replacing is for keeping a record of what came in. A value WARP would *act on* (apply to a
//! customer, keep in a conflict for a person) is refused instead, with [`nul_reason`]: the
//! replaced text is not the value HubSpot holds, so applying it would be a silent change.

use std::borrow::Cow;

/// The character PostgreSQL cannot store.
pub const NUL: char = '\0';
/// What replaces it: U+FFFD REPLACEMENT CHARACTER.
pub const REPLACEMENT: char = '\u{FFFD}';

/// Whether `text` holds a character PostgreSQL cannot store.
pub fn has_nul(text: &str) -> bool {
    text.contains(NUL)
}

/// `text` with every NUL replaced by U+FFFD; borrowed (no copy) when there is none.
pub fn storable(text: &str) -> Cow<'_, str> {
    if has_nul(text) {
        Cow::Owned(text.replace(NUL, "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// [`storable`] of an owned text, without a copy when there is no NUL.
pub fn into_storable(text: String) -> String {
    if has_nul(&text) {
        text.replace(NUL, "\u{FFFD}")
    } else {
        text
    }
}

/// [`storable`] of an optional text (a NULL stays NULL).
pub fn storable_opt(text: Option<&str>) -> Option<Cow<'_, str>> {
    text.map(storable)
}

/// Whether any string or member name inside `value` holds a NUL (nothing is copied).
pub fn json_has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => has_nul(text),
        serde_json::Value::Array(items) => items.iter().any(json_has_nul),
        serde_json::Value::Object(members) => members
            .iter()
            .any(|(name, member)| has_nul(name) || json_has_nul(member)),
        _ => false,
    }
}

/// Replaces every NUL in the strings and member names of `value`, in place. Returns where NULs
/// were found: the names of the top-level members holding one (in the object's order, after
/// the replacement), or `["value"]` when `value` is not an object. Empty when nothing changed.
///
/// Two member names of one object that differ only by a NUL and a U+FFFD at the same place
/// become one after the replacement; the later one is kept.
pub fn storable_json(value: &mut serde_json::Value) -> Vec<String> {
    let serde_json::Value::Object(members) = value else {
        return if replace_nested(value) {
            vec!["value".to_owned()]
        } else {
            Vec::new()
        };
    };
    let mut found = Vec::new();
    if members.keys().any(|name| has_nul(name)) {
        for (name, mut member) in std::mem::take(members) {
            let replaced = replace_nested(&mut member) | has_nul(&name);
            let name = storable(&name).into_owned();
            if replaced {
                found.push(name.clone());
            }
            members.insert(name, member);
        }
    } else {
        for (name, member) in members.iter_mut() {
            if replace_nested(member) {
                found.push(name.clone());
            }
        }
    }
    found
}

/// Replaces NULs anywhere inside `value`; true when one was found.
fn replace_nested(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) if has_nul(text) => {
            *text = text.replace(NUL, "\u{FFFD}");
            true
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .fold(false, |found, item| replace_nested(item) | found),
        serde_json::Value::Object(_) => !storable_json(value).is_empty(),
        _ => false,
    }
}

/// Why a value with a NUL is refused, naming where it was (`what`: a JSON member such as
/// `propertyValue`, or a field), never the value itself.
pub fn nul_reason(what: &str) -> String {
    format!("{what} contains a NUL character (U+0000), which cannot be stored")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn text_without_nul_is_borrowed_unchanged() {
        for text in ["", "Acme Ltd", "é\u{1f}\t\u{FFFD}", "\\u0000"] {
            assert!(
                matches!(storable(text), Cow::Borrowed(t) if t == text),
                "{text:?}"
            );
            assert!(!has_nul(text));
        }
    }

    #[test]
    fn every_nul_becomes_a_replacement_character() {
        assert_eq!(storable("nul\0byte"), "nul\u{FFFD}byte");
        assert_eq!(storable("\0\0"), "\u{FFFD}\u{FFFD}");
        assert_eq!(storable_opt(Some("a\0")).as_deref(), Some("a\u{FFFD}"));
        assert_eq!(storable_opt(None), None);
        assert!(has_nul("a\0"));
        assert_eq!(into_storable("a\0b".to_owned()), "a\u{FFFD}b");
        assert_eq!(into_storable("ab".to_owned()), "ab");
    }

    #[test]
    fn json_strings_and_member_names_are_replaced_and_their_members_named() {
        let mut event = json!({
            "eventId": 1,
            "propertyName": "name",
            "propertyValue": "nul\u{0}byte",
            "nested": {"list": ["ok", "x\u{0}"], "k\u{0}": true},
            "n\u{0}me": "v",
        });
        let found = storable_json(&mut event);
        assert_eq!(found, ["n\u{FFFD}me", "nested", "propertyValue"]);
        assert_eq!(event["propertyValue"], "nul\u{FFFD}byte");
        assert_eq!(event["nested"]["list"][1], "x\u{FFFD}");
        assert_eq!(event["nested"]["k\u{FFFD}"], true);
        assert_eq!(event["n\u{FFFD}me"], "v");
        assert_eq!(event["eventId"], 1);
        assert!(!event.to_string().contains("\\u0000"));

        let mut clean = json!({"propertyValue": "fine", "list": [1, null, "two"]});
        let before = clean.clone();
        assert!(storable_json(&mut clean).is_empty());
        assert_eq!(clean, before);

        let mut array = json!(["a\u{0}"]);
        assert_eq!(storable_json(&mut array), ["value"]);
        assert_eq!(array, json!(["a\u{FFFD}"]));
        let mut scalar = json!(5);
        assert!(storable_json(&mut scalar).is_empty());
    }

    #[test]
    fn the_reason_names_the_place_not_the_value() {
        assert_eq!(
            nul_reason("propertyValue"),
            "propertyValue contains a NUL character (U+0000), which cannot be stored"
        );
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let text = "[a\\x00\u{FFFD} ]{0,6}";
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            text.prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(text, inner, 0..4)
                    .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn storable_text_never_holds_a_nul_and_keeps_everything_else(text in "\\PC{0,12}|[a\\x00]{0,8}") {
            let stored = storable(&text);
            prop_assert!(!has_nul(&stored));
            prop_assert_eq!(stored.chars().count(), text.chars().count());
            let kept: Vec<(char, char)> = text.chars().zip(stored.chars()).collect();
            for (original, now) in kept {
                prop_assert_eq!(now, if original == NUL { REPLACEMENT } else { original });
            }
        }

        #[test]
        fn storable_json_leaves_no_nul_and_reports_a_change_exactly_when_there_was_one(mut value in json_value()) {
            let had_nul = value.to_string().contains("\\u0000");
            prop_assert_eq!(json_has_nul(&value), had_nul);
            let found = storable_json(&mut value);
            prop_assert!(!value.to_string().contains("\\u0000"));
            prop_assert!(!json_has_nul(&value));
            prop_assert_eq!(!found.is_empty(), had_nul);
        }
    }
}
