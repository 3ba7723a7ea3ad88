//! Batch calls: HubSpot takes at most 100 inputs a call, so larger sets are split; partial
//! failures (207) come back as results plus per-input errors, and a call that fails as a
//! whole is reported with the inputs it carried rather than hiding the calls that succeeded.

use crate::error::{ErrorBody, ErrorDetail, HubSpotError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;

/// HubSpot's limit on inputs per batch call.
pub const BATCH_INPUT_LIMIT: usize = 100;

/// The index ranges of `len` inputs split into calls of at most `limit` inputs, in order.
pub fn batch_ranges(len: usize, limit: usize) -> Vec<Range<usize>> {
    let limit = limit.max(1);
    (0..len)
        .step_by(limit)
        .map(|start| start..(start + limit).min(len))
        .collect()
}

/// An error HubSpot reported for some inputs of a batch call (a 207 answer's `errors`).
/// `context` names the inputs (e.g. `{"ids": ["..."]}` or the unique values).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "ErrorBody")]
pub struct BatchItemError {
    /// The HTTP status HubSpot would have given this input alone, e.g. "400", "409".
    pub status: String,
    pub category: String,
    pub message: String,
    pub context: BTreeMap<String, Vec<String>>,
    pub errors: Vec<ErrorDetail>,
    pub sub_category: Option<serde_json::Value>,
}

impl From<ErrorBody> for BatchItemError {
    fn from(body: ErrorBody) -> Self {
        Self {
            status: body.status.unwrap_or_default(),
            category: body.category.unwrap_or_default(),
            message: body.message.unwrap_or_default(),
            context: body.context,
            errors: body.errors,
            sub_category: body.sub_category,
        }
    }
}

/// A batch call that failed as a whole (after retries): which inputs it carried and why.
#[derive(Debug)]
pub struct FailedBatchCall {
    /// Indexes into the inputs the caller passed.
    pub inputs: Range<usize>,
    pub error: HubSpotError,
}

/// The combined outcome of one logical batch operation over any number of inputs.
#[derive(Debug)]
pub struct BatchResult<T> {
    pub results: Vec<T>,
    /// Per-input errors HubSpot reported in 207 answers.
    pub errors: Vec<BatchItemError>,
    /// Calls that failed as a whole; their inputs were not (or not knowingly) written.
    pub failed_calls: Vec<FailedBatchCall>,
    /// How many HTTP calls carried the inputs (not counting retries).
    pub calls: usize,
}

impl<T> Default for BatchResult<T> {
    fn default() -> Self {
        Self {
            results: Vec::new(),
            errors: Vec::new(),
            failed_calls: Vec::new(),
            calls: 0,
        }
    }
}

impl<T> BatchResult<T> {
    /// True when every input was written: no per-input errors and no failed calls.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty() && self.failed_calls.is_empty()
    }

    pub(crate) fn absorb(&mut self, answer: BatchAnswer<T>) {
        self.results.extend(answer.results);
        self.errors.extend(answer.errors);
    }
}

/// HubSpot's batch answer body (200, 201 or 207).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchAnswer<T> {
    #[serde(default = "Vec::new")]
    pub results: Vec<T>,
    #[serde(default)]
    pub errors: Vec<BatchItemError>,
}

/// The request body of every batch call: `{"inputs": [...]}`.
#[derive(Debug, Serialize)]
pub(crate) struct BatchInputs<'a, T> {
    pub inputs: &'a [T],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_into_calls_of_at_most_one_hundred() {
        assert_eq!(batch_ranges(0, 100), Vec::<Range<usize>>::new());
        assert_eq!(batch_ranges(1, 100), vec![0..1]);
        assert_eq!(batch_ranges(100, 100), vec![0..100]);
        assert_eq!(batch_ranges(101, 100), vec![0..100, 100..101]);
        assert_eq!(batch_ranges(250, 100), vec![0..100, 100..200, 200..250]);
        for len in 0..=1_000 {
            let ranges = batch_ranges(len, BATCH_INPUT_LIMIT);
            assert!(
                ranges
                    .iter()
                    .all(|r| !r.is_empty() && r.len() <= BATCH_INPUT_LIMIT)
            );
            assert_eq!(ranges.iter().map(Range::len).sum::<usize>(), len);
            assert!(
                ranges.windows(2).all(|w| w[0].end == w[1].start),
                "contiguous, in order"
            );
        }
    }

    #[test]
    fn reads_a_207_answer_with_results_and_errors() {
        let json = r#"{"status":"COMPLETE","results":[{"id":"1","properties":{},"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z","archived":false,"new":true}],
            "numErrors":1,"errors":[{"status":"error","category":"VALIDATION_ERROR","message":"Property values were not valid","context":{"ids":["ZT-000000001"]},"errors":[{"message":"bad","in":"warp_status"}]}],
            "startedAt":"2024-01-01T00:00:00Z","completedAt":"2024-01-01T00:00:01Z"}"#;
        let answer: BatchAnswer<crate::record::UpsertedRecord> =
            serde_json::from_str(json).unwrap();
        let mut result = BatchResult::default();
        result.absorb(answer);
        assert_eq!(result.results.len(), 1);
        assert_eq!(result.errors.len(), 1);
        assert_eq!(result.errors[0].category, "VALIDATION_ERROR");
        assert_eq!(
            result.errors[0].context["ids"],
            vec!["ZT-000000001".to_owned()]
        );
        assert_eq!(
            result.errors[0].errors[0].location.as_deref(),
            Some("warp_status")
        );
        assert!(!result.is_complete());
    }
}
