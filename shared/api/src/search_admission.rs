//! Admission for HubSpot searches made through the API. HubSpot allows a portal 5 searches a
//! second, shared by every caller; without a limit, one editor firing 100 searches queues
//! everyone's behind them for 20 s. Each caller may have a few searches outstanding (running
//! or waiting for the budget), the process a few more in all; past that the answer is 429
//! with `Retry-After` at once, rather than a wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Problem;

/// Outstanding searches one caller may have.
pub const PER_CALLER: usize = 3;
/// Outstanding searches this process admits in all (about 4 s of the 5-per-second budget).
pub const IN_TOTAL: usize = 20;
/// What `Retry-After` says: in a second the budget has room for five more.
const RETRY_AFTER_SECONDS: u64 = 1;

/// Counts outstanding searches per caller; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct SearchAdmission {
    outstanding: Arc<Mutex<Outstanding>>,
}

#[derive(Debug, Default)]
struct Outstanding {
    by_caller: HashMap<String, usize>,
    total: usize,
}

/// A search let in; dropping it (the answer sent, or the request abandoned) frees its place.
#[derive(Debug)]
pub(crate) struct Admitted {
    outstanding: Arc<Mutex<Outstanding>>,
    caller: String,
}

/// A search turned away: 429 problem with `Retry-After`.
#[derive(Debug)]
pub(crate) struct TooManySearches(Problem);

impl SearchAdmission {
    /// Lets `caller`'s search in, or says to come back shortly.
    pub(crate) fn admit(&self, caller: &str) -> Result<Admitted, TooManySearches> {
        let mut outstanding = self.outstanding.lock().unwrap_or_else(|e| e.into_inner());
        let mine = outstanding.by_caller.get(caller).copied().unwrap_or(0);
        if mine >= PER_CALLER {
            return Err(TooManySearches(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "at most {PER_CALLER} HubSpot searches at a time per caller; retry shortly"
                ),
            )));
        }
        if outstanding.total >= IN_TOTAL {
            return Err(TooManySearches(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "HubSpot's search budget is taken by other searches; retry shortly",
            )));
        }
        *outstanding.by_caller.entry(caller.to_owned()).or_default() += 1;
        outstanding.total += 1;
        Ok(Admitted {
            outstanding: self.outstanding.clone(),
            caller: caller.to_owned(),
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut outstanding = self.outstanding.lock().unwrap_or_else(|e| e.into_inner());
        outstanding.total = outstanding.total.saturating_sub(1);
        if let Some(count) = outstanding.by_caller.get_mut(&self.caller) {
            *count -= 1;
            if *count == 0 {
                outstanding.by_caller.remove(&self.caller);
            }
        }
    }
}

impl IntoResponse for TooManySearches {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_past_its_share_is_turned_away_until_one_finishes() {
        let admission = SearchAdmission::default();
        let mine: Vec<_> = (0..PER_CALLER)
            .map(|_| admission.admit("alice").unwrap())
            .collect();
        let refused = admission.admit("alice").unwrap_err().into_response();
        assert_eq!(refused.status(), 429);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        // Another caller is not held up by alice.
        let bob = admission.admit("bob").unwrap();
        drop(mine);
        assert!(admission.admit("alice").is_ok());
        drop(bob);
        assert_eq!(admission.outstanding.lock().unwrap().total, 0);
    }

    #[test]
    fn the_process_admits_at_most_its_total() {
        let admission = SearchAdmission::default();
        let held: Vec<_> = (0..IN_TOTAL)
            .map(|i| admission.admit(&format!("caller-{i}")).unwrap())
            .collect();
        assert!(admission.admit("late").is_err());
        drop(held);
        assert!(admission.admit("late").is_ok());
    }
}
