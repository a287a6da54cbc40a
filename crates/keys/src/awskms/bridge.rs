//! The KMS client's own runtime. [`crate::Signer::sign`] is synchronous (as PKCS#11 is),
//! while the AWS SDK is async: the SDK's futures run on a current-thread runtime owned by
//! a thread of its own, and the caller waits on a channel. That works from a plain thread
//! and from inside another tokio runtime alike (the caller blocks its thread for one
//! round trip, as a PKCS#11 call would). Dropping the bridge stops the thread, which
//! drops the runtime where that is allowed.

use crate::KeyError;
use std::future::Future;

/// A runtime on its own thread, for the SDK's futures.
#[derive(Debug)]
pub(super) struct Bridge {
    handle: tokio::runtime::Handle,
    /// Dropped with the bridge: the runtime's thread then returns.
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn stopped() -> KeyError {
    KeyError::Service {
        service: "AWS KMS",
        operation: "client runtime",
        detail: "the client's runtime thread has stopped".into(),
        retryable: false,
    }
}

impl Bridge {
    /// Starts the runtime thread.
    pub(super) fn start() -> Result<Bridge, KeyError> {
        let (handle_tx, handle_rx) = std::sync::mpsc::sync_channel(1);
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("shuin-awskms".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => {
                        let _ = handle_tx.send(Ok(runtime.handle().clone()));
                        // Runs the spawned SDK futures until the bridge is dropped.
                        runtime.block_on(async {
                            let _ = stop_rx.await;
                        });
                    }
                    Err(e) => {
                        let _ = handle_tx.send(Err(e));
                    }
                }
            })?;
        let handle = handle_rx.recv().map_err(|_| stopped())??;
        Ok(Bridge {
            handle,
            _stop: stop,
        })
    }

    /// Runs `future` on the bridge's runtime and waits for its output.
    pub(super) fn run<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, KeyError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().map_err(|_| stopped())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn runs_futures_from_a_plain_thread() {
        let bridge = Bridge::start().unwrap();
        assert_eq!(bridge.run(async { 40 + 2 }).unwrap(), 42);
    }

    #[test]
    fn runs_futures_from_inside_another_runtime_and_drops_there() {
        let outer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        outer.block_on(async {
            let bridge = Bridge::start().unwrap();
            let slept = bridge
                .run(async {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    "slept"
                })
                .unwrap();
            assert_eq!(slept, "slept");
            drop(bridge);
        });
    }
}
