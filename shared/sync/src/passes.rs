//! The local loops of work that is claimed in batches (onboardings, finished calls): a pass,
//! then at once another while passes come back full, else a pause.

use std::future::Future;
use std::time::Duration;

/// Runs `pass` until `shutdown` completes: again at once while it says it claimed a full batch
/// (`Ok(true)`), else after `interval`. A failed pass is logged as `what` and tried at the next
/// tick.
pub async fn run_passes<F, Fut, E>(
    what: &'static str,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, E>>,
    E: std::fmt::Display,
{
    tokio::pin!(shutdown);
    loop {
        let outcome = tokio::select! {
            biased;
            () = &mut shutdown => return,
            outcome = pass() => outcome,
        };
        let full = match outcome {
            Ok(full) => full,
            Err(error) => {
                tracing::warn!(%error, what, "a pass failed; retrying at the next tick");
                false
            }
        };
        if full {
            continue;
        }
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn full_passes_run_back_to_back_and_a_short_one_waits_for_the_interval() {
        let passes = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&passes);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(run_passes(
            "test",
            Duration::from_secs(3600),
            async move {
                let _ = stopped.await;
            },
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                // Two full passes, then a failing one (which waits like a short one).
                async move {
                    if n < 2 {
                        Ok(true)
                    } else {
                        Err("the database is away")
                    }
                }
            },
        ));
        let three = async {
            while passes.load(Ordering::SeqCst) < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), three)
            .await
            .expect("the passes after full ones ran at once, not after the hour");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            passes.load(Ordering::SeqCst),
            3,
            "the failed pass waits for the interval"
        );
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .expect("the loop stops when told, mid-pause")
            .unwrap();
    }
}
