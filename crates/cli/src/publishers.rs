//! The outside repositories (`[[publishers]]`, `shuin_repo::publish`): the publish queue
//! run beside the server, recording each publication in the revocation book, and the log
//! queue copying the ledger's tiles and checkpoint to the publishers that carry them.

use crate::runtime::Instance;
use shuin_repo::publish::{LedgerRecorder, LogQueue, PublishQueue, QueueSettings};
use std::sync::Arc;

/// The running queues; dropping them stops them.
pub(crate) struct Publishing {
    _repository: PublishQueue,
    _log: LogQueue,
}

/// Starts publishing the instance's repository and tiled log; `None` without
/// publishers.
pub(crate) fn start(instance: &Instance) -> Option<Publishing> {
    if instance.publishers.is_empty() {
        return None;
    }
    let recorder = Arc::new(LedgerRecorder {
        ledger: instance.store.clone(),
        clock: instance.state.clock.clone(),
    });
    Some(Publishing {
        _repository: PublishQueue::start(
            instance.state.repository.clone(),
            instance.publishers.clone(),
            recorder,
            QueueSettings::default(),
        ),
        _log: LogQueue::start(
            instance.state.tiles.clone(),
            &instance.publishers,
            QueueSettings::default(),
        ),
    })
}
