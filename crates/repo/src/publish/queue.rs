//! The publish queue: one task per publisher, fed by the repository's change signal.
//!
//! Each task remembers the versions it has published (the CRL number; certificates do
//! not change while a process runs), publishes whatever is newer, and on a failure waits
//! with exponential backoff (1 s doubling to 60 s by default) before trying the newest
//! versions again. Versions published in between are skipped: only the newest matters to
//! a verifier. Failures and recoveries are logged; every CRL published is reported to a
//! [`PublicationRecorder`]. Nothing here is awaited by issuance or revocation.

use super::{ItemKind, PublishError, PublishedItem, Publisher};
use crate::Repository;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Records successful publications of CRLs (the ledger, in the `shuin` binary).
#[async_trait::async_trait]
pub trait PublicationRecorder: Send + Sync {
    /// `publisher` has published `item` (a CRL) for the first time in this process.
    async fn record(
        &self,
        publisher: &str,
        item: &PublishedItem,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// Timing of the queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// The first wait after a failure.
    pub initial_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// How long one publication may take before it counts as failed.
    pub attempt_timeout: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(60),
        }
    }
}

/// Exponential backoff: `initial`, doubled after each further failure, at most `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff with no failures yet.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            failures: 0,
        }
    }

    /// Counts a failure and returns how long to wait before the next attempt.
    pub fn failure(&mut self) -> Duration {
        let doublings = self.failures.min(30);
        self.failures = self.failures.saturating_add(1);
        self.initial
            .checked_mul(1u32 << doublings)
            .map_or(self.max, |wait| wait.min(self.max))
    }

    /// Counts a failure that retrying soon cannot help: wait the longest.
    pub fn give_up_for_now(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.max
    }

    /// Resets after a success; returns the number of failures that preceded it.
    pub fn success(&mut self) -> u32 {
        std::mem::take(&mut self.failures)
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// What one publisher has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublisherStatus {
    /// The publisher's name.
    pub name: String,
    /// The version (CRL number, or 0 for certificates) last published, per item.
    pub published: BTreeMap<ItemKind, u64>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// The last failure, until a success.
    pub last_error: Option<String>,
}

/// The running publishers; dropping it stops them.
#[derive(Debug)]
pub struct PublishQueue {
    tasks: Vec<JoinHandle<()>>,
    status: Vec<Arc<Mutex<PublisherStatus>>>,
}

impl PublishQueue {
    /// Starts one task per publisher on the current Tokio runtime. Each publishes what
    /// the repository holds now (both certificates and the current CRLs), then every
    /// newer CRL as the repository receives it.
    pub fn start(
        repository: Arc<Repository>,
        publishers: Vec<Arc<dyn Publisher>>,
        recorder: Arc<dyn PublicationRecorder>,
        settings: QueueSettings,
    ) -> Self {
        let mut tasks = Vec::new();
        let mut status = Vec::new();
        for publisher in publishers {
            let slot = Arc::new(Mutex::new(PublisherStatus {
                name: publisher.name().to_owned(),
                ..PublisherStatus::default()
            }));
            let worker = Worker {
                repository: repository.clone(),
                publisher,
                recorder: recorder.clone(),
                settings,
                status: slot.clone(),
            };
            tasks.push(tokio::spawn(worker.run()));
            status.push(slot);
        }
        Self { tasks, status }
    }

    /// Each publisher's status, in configuration order.
    pub fn status(&self) -> Vec<PublisherStatus> {
        self.status
            .iter()
            .map(|slot| slot.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect()
    }
}

impl Drop for PublishQueue {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Worker {
    repository: Arc<Repository>,
    publisher: Arc<dyn Publisher>,
    recorder: Arc<dyn PublicationRecorder>,
    settings: QueueSettings,
    status: Arc<Mutex<PublisherStatus>>,
}

impl Worker {
    async fn run(self) {
        let mut changes = self.repository.subscribe();
        let mut backoff = Backoff::new(self.settings.initial_backoff, self.settings.max_backoff);
        let name = self.publisher.name().to_owned();
        loop {
            changes.borrow_and_update();
            match self.publish_pending().await {
                Ok(()) => {
                    let failures = backoff.success();
                    if failures > 0 {
                        tracing::info!(publisher = %name, failures, "publishing recovered");
                    }
                    self.update(|s| {
                        s.consecutive_failures = 0;
                        s.last_error = None;
                    });
                    if changes.changed().await.is_err() {
                        return; // The repository is gone.
                    }
                }
                Err((item, error)) => {
                    let wait = if error.is_permanent() {
                        backoff.give_up_for_now()
                    } else {
                        backoff.failure()
                    };
                    tracing::warn!(
                        publisher = %name,
                        item = %item,
                        error = %error,
                        failures = backoff.failures(),
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "publishing failed; will retry"
                    );
                    let failures = backoff.failures();
                    self.update(|s| {
                        s.consecutive_failures = failures;
                        s.last_error = Some(error.to_string());
                    });
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Publishes every item newer than what was published, certificates first.
    async fn publish_pending(&self) -> Result<(), (ItemKind, PublishError)> {
        let published = self
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .published
            .clone();
        for item in PublishedItem::current(&self.repository) {
            if published.get(&item.kind) == Some(&item.version()) {
                continue;
            }
            self.publish_one(&item).await.map_err(|e| (item.kind, e))?;
            self.update(|s| {
                s.published.insert(item.kind, item.version());
            });
        }
        Ok(())
    }

    async fn publish_one(&self, item: &PublishedItem) -> Result<(), PublishError> {
        let timeout = self.settings.attempt_timeout;
        tokio::time::timeout(timeout, self.publisher.publish(item))
            .await
            .map_err(|_| PublishError::TimedOut(timeout))??;
        tracing::info!(
            publisher = %self.publisher.name(),
            item = %item.kind,
            crl_number = item.crl_number,
            "published"
        );
        if item.kind.is_crl() {
            self.recorder
                .record(self.publisher.name(), item)
                .await
                .map_err(PublishError::Record)?;
        }
        Ok(())
    }

    fn update(&self, change: impl FnOnce(&mut PublisherStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::PublishedCrl;
    use sha2::Digest;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let waits: Vec<u64> = (0..9).map(|_| backoff.failure().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff.success(), 9);
        assert_eq!(backoff.failure(), Duration::from_secs(1));
        assert_eq!(backoff.give_up_for_now(), Duration::from_secs(60));
        assert_eq!(backoff.failures(), 2);
    }

    #[test]
    fn backoff_never_overflows() {
        let mut backoff = Backoff::new(Duration::from_secs(u64::MAX / 2), Duration::MAX);
        for _ in 0..100 {
            backoff.failure();
        }
        assert_eq!(backoff.failure(), Duration::MAX);
    }

    /// Fails the first `failures` attempts, then remembers what it was given.
    struct Flaky {
        failures: AtomicU32,
        seen: Mutex<Vec<(ItemKind, u64)>>,
    }

    #[async_trait::async_trait]
    impl Publisher for Flaky {
        fn name(&self) -> &str {
            "flaky"
        }

        async fn publish(&self, item: &PublishedItem) -> Result<(), PublishError> {
            if self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(PublishError::TimedOut(Duration::ZERO));
            }
            self.seen.lock().unwrap().push((item.kind, item.version()));
            Ok(())
        }
    }

    #[derive(Default)]
    struct Recorded(Mutex<Vec<(String, ItemKind, u64, String)>>);

    #[async_trait::async_trait]
    impl PublicationRecorder for Recorded {
        async fn record(
            &self,
            publisher: &str,
            item: &PublishedItem,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            self.0.lock().unwrap().push((
                publisher.into(),
                item.kind,
                item.version(),
                item.sha256_hex(),
            ));
            Ok(())
        }
    }

    fn crl(number: u64) -> PublishedCrl {
        PublishedCrl {
            number,
            next_update: std::time::UNIX_EPOCH,
            der: Arc::new(vec![0x30, 0x01, u8::try_from(number).unwrap()]),
        }
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn retries_with_backoff_then_publishes_the_newest_and_records_it() {
        let repository = Arc::new(Repository::new(vec![1], vec![2], String::new()));
        repository.publish_ca_crl(crl(1));
        let publisher = Arc::new(Flaky {
            failures: AtomicU32::new(3),
            seen: Mutex::new(Vec::new()),
        });
        let recorder = Arc::new(Recorded::default());
        let queue = PublishQueue::start(
            repository.clone(),
            vec![publisher.clone()],
            recorder.clone(),
            QueueSettings {
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(80),
                attempt_timeout: Duration::from_secs(5),
            },
        );
        until("the first failures", || {
            queue.status()[0].consecutive_failures >= 2
        })
        .await;
        assert!(queue.status()[0].last_error.is_some());
        // A newer CRL arrives while the publisher is failing: only the newest goes out.
        repository.publish_ca_crl(crl(2));
        until("all items", || queue.status()[0].published.len() == 3).await;
        let status = queue.status();
        assert_eq!(status[0].consecutive_failures, 0);
        assert_eq!(status[0].last_error, None);
        assert_eq!(status[0].published.get(&ItemKind::CaCrl), Some(&2));
        let seen = publisher.seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                (ItemKind::RootCertificate, 0),
                (ItemKind::CaCertificate, 0),
                (ItemKind::CaCrl, 2)
            ]
        );

        // Later CRLs are published as they come, and each is recorded.
        repository.publish_ca_crl(crl(3));
        repository.publish_root_crl(crl(7));
        until("CRL 3 and root CRL 7", || {
            queue.status()[0].published.get(&ItemKind::CaCrl) == Some(&3)
                && queue.status()[0].published.get(&ItemKind::RootCrl) == Some(&7)
        })
        .await;
        let recorded: Vec<_> = recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(p, k, n, _)| (p.clone(), *k, *n))
            .collect();
        assert_eq!(
            recorded,
            [
                ("flaky".to_owned(), ItemKind::CaCrl, 2),
                ("flaky".to_owned(), ItemKind::RootCrl, 7),
                ("flaky".to_owned(), ItemKind::CaCrl, 3),
            ]
        );
        assert_eq!(
            recorder.0.lock().unwrap()[0].3,
            hex::encode(sha2::Sha256::digest([0x30, 0x01, 2]))
        );
    }

    /// A publisher that never answers.
    struct Hung;

    #[async_trait::async_trait]
    impl Publisher for Hung {
        fn name(&self) -> &str {
            "hung"
        }

        async fn publish(&self, _: &PublishedItem) -> Result<(), PublishError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_hung_publisher_times_out_and_does_not_hold_up_the_others() {
        let repository = Arc::new(Repository::new(vec![1], vec![2], String::new()));
        repository.publish_ca_crl(crl(1));
        let good = Arc::new(Flaky {
            failures: AtomicU32::new(0),
            seen: Mutex::new(Vec::new()),
        });
        let queue = PublishQueue::start(
            repository,
            vec![Arc::new(Hung), good],
            Arc::new(Recorded::default()),
            QueueSettings {
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(10),
                attempt_timeout: Duration::from_millis(30),
            },
        );
        until("the good publisher", || {
            queue.status()[1].published.len() == 3
        })
        .await;
        until("the timeout", || queue.status()[0].consecutive_failures > 0).await;
        assert!(queue.status()[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("no answer"));
    }
}
