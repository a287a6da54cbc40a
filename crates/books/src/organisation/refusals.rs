//! A budget for ledgering refusals, so that a flood of refused requests (an unknown key,
//! a replay, a forged body) cannot grow the permanent books without bound. Within each
//! window the first `per_window` refusals are ledgered one by one; the rest are counted,
//! and the count goes into the next refusal that is ledgered (`suppressed_before`).
//! Nothing is lost from the record: every refusal is either an entry or in a count.

use std::sync::Mutex;
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

/// The budget (one per server).
#[derive(Debug)]
pub struct RefusalBudget {
    per_window: u32,
    window: Duration,
    state: Mutex<Window>,
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
        }
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
