//! The outside repositories (`[[publishers]]`, `shuin_repo::publish`): the publish queue
//! run beside the server, recording each publication in the revocation book.

use crate::runtime::Instance;
use shuin_repo::publish::{LedgerRecorder, PublishQueue, QueueSettings};
use std::sync::Arc;

/// Starts publishing the instance's repository; `None` without publishers. Dropping the
/// queue stops it.
pub(crate) fn start(instance: &Instance) -> Option<PublishQueue> {
    if instance.publishers.is_empty() {
        return None;
    }
    let recorder = Arc::new(LedgerRecorder {
        ledger: instance.store.clone(),
        clock: instance.state.clock.clone(),
    });
    Some(PublishQueue::start(
        instance.state.repository.clone(),
        instance.publishers.clone(),
        recorder,
        QueueSettings::default(),
    ))
}
