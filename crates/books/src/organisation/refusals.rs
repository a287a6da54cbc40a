//! A budget for ledgering refusals, so that a flood of refused requests (an unknown key,
//! a replay, a forged body) cannot grow the permanent books without bound. Within each
//! window the first `per_window` refusals are ledgered one by one; the rest are counted,
//! and the count goes into the next refusal that is ledgered (`suppressed_before`).
//! Nothing is lost from the record: every refusal is either an entry or in a count.
//!
//! Where anyone can make a refusal (the public revocation route: a request signed with a
//! self-made key), the caller does not ledger it at all: it is counted by reason code in
//! [`UnledgeredRefusals`] (exported as `shuin_refusals_unledgered_total` on `/metrics`)
//! and logged. The operator gate keeps ledgering within the budget: its requests come
//! only over the admin socket or an operator listener's mutual TLS, from a known peer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// What to write with a refusal that is ledgered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalNote {
    /// Refusals counted but not ledgered one by one since the previous ledgered refusal.
    pub suppressed_before: u64,
}

#[derive(Debug)]
struct Window {
    start: SystemTime,
    ledgered: u32,
    suppressed: u64,
}

/// Refusals counted and logged but never ledgered, by stable reason code: requests
/// signed by unknown keys. One tally may be shared by several budgets.
#[derive(Debug, Default)]
pub struct UnledgeredRefusals {
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl UnledgeredRefusals {
    /// Counts one refusal with `reason`.
    pub fn count(&self, reason: &'static str) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry(reason).or_default() += 1;
    }

    /// The counts since start, by reason code (sorted).
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(reason, n)| (*reason, *n))
            .collect()
    }
}

/// The budget (one per server).
#[derive(Debug)]
pub struct RefusalBudget {
    per_window: u32,
    window: Duration,
    state: Mutex<Window>,
    unledgered: Arc<UnledgeredRefusals>,
}

impl RefusalBudget {
    /// At most `per_window` refusal entries per `window`.
    pub fn new(per_window: u32, window: Duration) -> RefusalBudget {
        RefusalBudget {
            per_window,
            window,
            state: Mutex::new(Window {
                start: SystemTime::UNIX_EPOCH,
                ledgered: 0,
                suppressed: 0,
            }),
            unledgered: Arc::default(),
        }
    }

    /// This budget, counting unledgered refusals into `tally` (shared with others).
    pub fn sharing(mut self, tally: Arc<UnledgeredRefusals>) -> RefusalBudget {
        self.unledgered = tally;
        self
    }

    /// Where refusals by unknown signers are counted.
    pub fn unledgered(&self) -> &Arc<UnledgeredRefusals> {
        &self.unledgered
    }

    /// A refusal at `now`: `Some` if it is to be ledgered, `None` if it is only counted.
    pub fn note(&self, now: SystemTime) -> Option<RefusalNote> {
        let mut w = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let elapsed = now.duration_since(w.start).unwrap_or_default();
        if elapsed >= self.window {
            w.start = now;
            w.ledgered = 0;
        }
        if w.ledgered >= self.per_window {
            w.suppressed += 1;
            return None;
        }
        w.ledgered += 1;
        let note = RefusalNote {
            suppressed_before: w.suppressed,
        };
        w.suppressed = 0;
        Some(note)
    }

    /// Refusals counted and not yet reported in a ledgered refusal.
    pub fn pending(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .suppressed
    }
}

impl Default for RefusalBudget {
    /// Ten refusal entries a minute.
    fn default() -> RefusalBudget {
        RefusalBudget::new(10, Duration::from_secs(60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_counted_not_ledgered() {
        let budget = RefusalBudget::new(3, Duration::from_secs(60));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ledgered: Vec<_> = (0..1000).filter_map(|_| budget.note(t0)).collect();
        assert_eq!(ledgered.len(), 3);
        assert!(ledgered.iter().all(|n| n.suppressed_before == 0));
        assert_eq!(budget.pending(), 997);
        // The next window reports the count in its first entry.
        let next = budget.note(t0 + Duration::from_secs(61));
        assert_eq!(
            next,
            Some(RefusalNote {
                suppressed_before: 997
            })
        );
        assert_eq!(budget.pending(), 0);
    }
}
