//! Reading request bodies field by field: every error collected with its path, unknown and
//! read-only members refused, `null` told apart from absent (JSON merge-patch, RFC 7396).

use serde_json::{Map, Value};

use crate::customer::FieldError;

/// What an update does to an optional field.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Change<T> {
    /// Absent from the body: keep the current value.
    #[default]
    Keep,
    /// `null` in the body: remove the value.
    Clear,
    Set(T),
}

impl<T: Clone> Change<T> {
    /// The value after the change.
    pub fn apply(&self, current: &Option<T>) -> Option<T> {
        match self {
            Change::Keep => current.clone(),
            Change::Clear => None,
            Change::Set(value) => Some(value.clone()),
        }
    }

    /// The value a create gets: set, or none.
    pub fn into_option(self) -> Option<T> {
        match self {
            Change::Set(value) => Some(value),
            Change::Keep | Change::Clear => None,
        }
    }
}

/// Collects field errors while reading one body.
pub(crate) struct Reader {
    errors: Vec<FieldError>,
    /// Top-level members a client may read but not write ("is read-only").
    read_only: &'static [&'static str],
}

pub(crate) type Parse<T> = fn(&Value) -> Result<T, String>;

impl Reader {
    pub(crate) fn new(read_only: &'static [&'static str]) -> Self {
        Reader {
            errors: Vec::new(),
            read_only,
        }
    }

    pub(crate) fn into_errors(self) -> Vec<FieldError> {
        self.errors
    }

    pub(crate) fn error_count(&self) -> usize {
        self.errors.len()
    }

    pub(crate) fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// The object at `path`, or an error. Unknown keys are reported.
    pub(crate) fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        known: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(map) = value.as_object() else {
            self.error(
                if path.is_empty() { "body" } else { path },
                "must be a JSON object",
            );
            return None;
        };
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                let message = if path.is_empty() && self.read_only.contains(&key.as_str()) {
                    "is read-only"
                } else {
                    "is not a known field"
                };
                self.error(join(path, key), message);
            }
        }
        Some(map)
    }

    /// A field that may change but never be null.
    pub(crate) fn required<T>(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        key: &str,
        parse: Parse<T>,
    ) -> Option<T> {
        match map.get(key)? {
            Value::Null => {
                self.error(join(path, key), "must not be null");
                None
            }
            value => parse(value)
                .map_err(|message| self.error(join(path, key), message))
                .ok(),
        }
    }

    /// A field that `null` clears.
    pub(crate) fn clearable<T>(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        key: &str,
        parse: Parse<T>,
    ) -> Change<T> {
        match map.get(key) {
            None => Change::Keep,
            Some(Value::Null) => Change::Clear,
            Some(value) => match parse(value) {
                Ok(parsed) => Change::Set(parsed),
                Err(message) => {
                    self.error(join(path, key), message);
                    Change::Keep
                }
            },
        }
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn text(value: &Value) -> Result<&str, String> {
    value.as_str().ok_or_else(|| "must be a string".to_owned())
}

/// A whole number within `range`: JSON has one number type, so `100.0` is the number 100 (as
/// JSON Schema's `integer` says), while `100.5` is not whole.
pub(crate) fn whole_number(
    value: &Value,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, String> {
    let whole = value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|n| n.fract() == 0.0 && n.abs() < 9.0e15)
            .map(|n| n as i64)
    });
    whole.filter(|n| range.contains(n)).ok_or_else(|| {
        format!(
            "must be a whole number from {} to {}",
            range.start(),
            range.end()
        )
    })
}
