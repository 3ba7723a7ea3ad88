//! JSON parsing that refuses an object naming the same key twice.
//!
//! serde_json keeps the last of duplicate keys, so `{"customer_type":"BOGUS","customer_type":
//! "PREPAID"}` would pass validation while a proxy, a WAF or a log reader that keeps the first
//! sees another request. Every JSON body WARP accepts from outside (API bodies, token payloads,
//! webhook deliveries) is parsed here, so all of them read one meaning or are refused.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a JSON text was refused.
#[derive(Debug, thiserror::Error)]
pub enum StrictJsonError {
    /// An object names `key` twice; `path` is where, dotted from the root (`contact.email`,
    /// `items[2].name`; the key itself at top level).
    #[error("the key '{path}' appears more than once")]
    DuplicateKey { path: String },
    /// Not JSON at all, or trailing data: serde_json's own error (positions, never values).
    #[error(transparent)]
    Syntax(#[from] serde_json::Error),
}

impl StrictJsonError {
    /// The dotted path of a duplicate key, if that is what was wrong.
    pub fn duplicate_path(&self) -> Option<&str> {
        match self {
            StrictJsonError::DuplicateKey { path } => Some(path),
            StrictJsonError::Syntax(_) => None,
        }
    }
}

/// Parses `bytes` as one JSON value, refusing duplicate object keys at any depth.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictValue {
        path: &Path::Root,
        duplicate: &duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        Ok(value) => Ok(value),
        Err(error) => match duplicate.into_inner() {
            Some(path) => Err(StrictJsonError::DuplicateKey { path }),
            None => Err(StrictJsonError::Syntax(error)),
        },
    }
}

/// Where a value sits, built on the stack as the parser descends (no allocation per value).
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// A seed producing a [`Value`] exactly as serde_json would, except for duplicate keys: the
/// first one found is recorded in `duplicate` and parsing stops.
struct StrictValue<'p, 'd> {
    path: &'p Path<'p>,
    duplicate: &'d RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_, '_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            let path = Path::Index(self.path, items.len());
            let element = StrictValue {
                path: &path,
                duplicate: self.duplicate,
            };
            match seq.next_element_seed(element)? {
                Some(value) => items.push(value),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = Path::Key(self.path, &key);
            if object.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(path.to_string());
                return Err(A::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(StrictValue {
                path: &path,
                duplicate: self.duplicate,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn duplicate(text: &str) -> Option<String> {
        parse_strict(text.as_bytes())
            .err()
            .and_then(|e| e.duplicate_path().map(str::to_owned))
    }

    #[test]
    fn a_duplicate_key_is_refused_with_its_path() {
        assert_eq!(
            duplicate(r#"{"customer_type":"BOGUS","customer_type":"PREPAID"}"#).as_deref(),
            Some("customer_type")
        );
        assert_eq!(
            duplicate(r#"{"contact":{"email":"a@b.c","email":"x@y.z"}}"#).as_deref(),
            Some("contact.email")
        );
        assert_eq!(
            duplicate(r#"[{"a":1},{"b":[{"c":1,"c":2}]}]"#).as_deref(),
            Some("[1].b[0].c")
        );
        // An escaped spelling is the same key.
        assert_eq!(
            duplicate(r#"{"roles":["viewer"],"rol\u0065s":["admin"]}"#).as_deref(),
            Some("roles")
        );
    }

    #[test]
    fn syntax_errors_and_trailing_data_are_not_duplicates() {
        for text in [r#"{"a":"#, "{} {}", "nul", r#"{"a":1,}"#] {
            let error = parse_strict(text.as_bytes()).unwrap_err();
            assert!(error.duplicate_path().is_none(), "{text}");
        }
    }

    #[test]
    fn numbers_keep_serde_json_precision() {
        let text = r#"{"big":-1.7976931348623157e308,"int":18446744073709551615,"neg":-9223372036854775808,"f":0.1}"#;
        assert_eq!(
            parse_strict(text.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("\\PC{0,6}", inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Without duplicates, the strict parser reads exactly what serde_json reads.
        #[test]
        fn agrees_with_serde_json_on_every_document_without_duplicates(value in json_value()) {
            let text = serde_json::to_vec(&value).unwrap();
            prop_assert_eq!(parse_strict(&text).unwrap(), serde_json::from_slice::<Value>(&text).unwrap());
        }

        /// Any key repeated in any object is found.
        #[test]
        fn a_repeated_key_is_always_found(value in json_value(), key in "[a-z]{1,5}") {
            let inner = serde_json::to_string(&value).unwrap();
            let key = serde_json::to_string(&key).unwrap();
            let text = format!("{{\"wrap\":{{{key}:{inner},{key}:{inner}}}}}");
            prop_assert!(parse_strict(text.as_bytes()).unwrap_err().duplicate_path().is_some());
        }
    }
}
