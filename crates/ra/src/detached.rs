//! Cycles detached from their callers. An HTTP handler's future is dropped when the
//! client disconnects; a cycle run inside it would stop wherever it was, between a
//! ledger entry and its effect. [`detached`] runs the work in a task of its own and
//! waits for it, so a dropped caller only stops waiting: the work runs to its end.

use crate::RaError;
use std::future::Future;

/// Runs `work` in a task of its own and waits for its answer. If the caller is dropped,
/// `work` still runs to its end. A panic in `work` is answered as unavailable.
pub async fn detached<T, F>(work: F) -> Result<T, RaError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, RaError>> + Send + 'static,
{
    tokio::spawn(work)
        .await
        .map_err(|e| RaError::Unavailable(Box::new(e)))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn dropping_the_caller_does_not_stop_the_work() {
        let finished = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let work = {
            let finished = finished.clone();
            async move {
                let _ = started_tx.send(());
                tokio::time::sleep(Duration::from_millis(50)).await;
                finished.store(true, Ordering::SeqCst);
                Ok::<_, RaError>(())
            }
        };
        // The caller (a request future) is dropped once the work has started.
        let caller = tokio::spawn(detached(work));
        started_rx.await.unwrap();
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(finished.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_panicking_cycle_is_answered_as_unavailable() {
        let answer = detached(async {
            if true {
                panic!("boom");
            }
            Ok::<(), RaError>(())
        })
        .await;
        assert!(matches!(answer, Err(RaError::Unavailable(_))));
    }
}
