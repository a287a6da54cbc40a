//! What the responder keeps in memory, all of it bounded whatever the number of
//! certificates: the newest answers signed here ([`Held`]), the answers signed and not
//! yet written to the store ([`Unwritten`]), and the revocations made here lately
//! ([`RecentRevocations`]), by which an answer signed `good` from an older read of the
//! store is known to be stale before it is kept.

use shuin_core::Serial;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

/// One signed answer.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    pub(super) der: Arc<Vec<u8>>,
    /// Signed `revoked` (otherwise `good`).
    pub(super) revoked: bool,
    pub(super) produced_at: SystemTime,
}

/// The newest answers signed here, at most `cap`, the oldest let go first: the
/// certificates issued or revoked lately are the ones asked for most. Every answer is
/// also in the store (or in [`Unwritten`] until it is), so letting one go loses nothing.
#[derive(Debug, Default)]
pub(super) struct Held {
    cap: usize,
    answers: HashMap<Serial, (Arc<Vec<u8>>, u64)>,
    /// Serials in the order they were held, with the mark each was held under (a serial
    /// held again has a newer mark; its older place is skipped when reached).
    order: VecDeque<(Serial, u64)>,
    mark: u64,
}

impl Held {
    pub(super) fn new(cap: usize) -> Self {
        Held {
            cap,
            ..Held::default()
        }
    }

    pub(super) fn get(&self, serial: &Serial) -> Option<Arc<Vec<u8>>> {
        self.answers.get(serial).map(|(der, _)| Arc::clone(der))
    }

    pub(super) fn contains(&self, serial: &Serial) -> bool {
        self.answers.contains_key(serial)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.answers.len()
    }

    pub(super) fn insert(&mut self, serial: Serial, der: Arc<Vec<u8>>) {
        self.mark += 1;
        self.answers.insert(serial.clone(), (der, self.mark));
        self.order.push_back((serial, self.mark));
        while self.answers.len() > self.cap {
            let Some((oldest, mark)) = self.order.pop_front() else {
                break;
            };
            if self.answers.get(&oldest).is_some_and(|(_, m)| *m == mark) {
                self.answers.remove(&oldest);
            }
        }
        // Places left by serials held again: dropped before they outnumber the answers.
        if self.order.len() > 2 * self.cap + 64 {
            let answers = &self.answers;
            self.order
                .retain(|(serial, mark)| answers.get(serial).is_some_and(|(_, m)| m == mark));
        }
    }

    pub(super) fn remove(&mut self, serial: &Serial) {
        self.answers.remove(serial);
    }

    /// Lets every answer go (another process changed statuses: any may be stale).
    pub(super) fn clear(&mut self) {
        self.answers = HashMap::new();
        self.order = VecDeque::new();
    }
}

/// Answers signed and not yet written to the store, by serial (a newer one replaces an
/// older). Written at each round ([`super::OcspService::flush`]); at most a round's
/// signing and the issuances meanwhile.
#[derive(Debug, Default)]
pub(super) struct Unwritten {
    answers: HashMap<Serial, Answer>,
}

impl Unwritten {
    pub(super) fn get(&self, serial: &Serial) -> Option<&Answer> {
        self.answers.get(serial)
    }

    pub(super) fn insert(&mut self, serial: Serial, answer: Answer) {
        self.answers.insert(serial, answer);
    }

    pub(super) fn remove(&mut self, serial: &Serial) {
        self.answers.remove(serial);
    }

    pub(super) fn len(&self) -> usize {
        self.answers.len()
    }

    /// Lets go of those signed `good`.
    pub(super) fn keep_revoked(&mut self) {
        self.answers.retain(|_, answer| answer.revoked);
    }

    /// At most `max` of them, to write.
    pub(super) fn batch(&self, max: usize) -> Vec<(Serial, Answer)> {
        self.answers
            .iter()
            .take(max)
            .map(|(serial, answer)| (serial.clone(), answer.clone()))
            .collect()
    }

    /// Forgets what was written, unless a newer answer replaced it meanwhile; gives the
    /// memory of a large round back once nothing is left.
    pub(super) fn written(&mut self, batch: &[(Serial, Answer)]) {
        for (serial, answer) in batch {
            let same = self
                .answers
                .get(serial)
                .is_some_and(|kept| Arc::ptr_eq(&kept.der, &answer.der));
            if same {
                self.answers.remove(serial);
            }
        }
        if self.answers.is_empty() && self.answers.capacity() > 1024 {
            self.answers = HashMap::new();
        }
    }
}

/// How many revocations made here are remembered.
const RECENT_REVOCATIONS: usize = 1024;

/// The revocations made here lately, numbered: a signing round notes the number before
/// it reads statuses from the store, and a `good` answer it signed is kept only if its
/// certificate was not revoked since. A change made by another process, or more
/// revocations than are remembered, makes every older read stale.
#[derive(Debug, Default)]
pub(super) struct RecentRevocations {
    /// The number of the last revocation (or other process's change) noted.
    last: u64,
    /// The newest revocations made here, with their numbers.
    log: VecDeque<(u64, Serial)>,
    /// Reads at or before this number are stale for every certificate.
    stale_through: u64,
}

impl RecentRevocations {
    /// The number a read of the store made now is judged by.
    pub(super) fn now(&self) -> u64 {
        self.last
    }

    /// Notes a revocation made here.
    pub(super) fn revoked(&mut self, serial: Serial) {
        self.last += 1;
        self.log.push_back((self.last, serial));
        if self.log.len() > RECENT_REVOCATIONS {
            if let Some((number, _)) = self.log.pop_front() {
                self.stale_through = self.stale_through.max(number);
            }
        }
    }

    /// Notes that another process changed statuses: every earlier read is stale.
    pub(super) fn changed_elsewhere(&mut self) {
        self.last += 1;
        self.stale_through = self.last;
    }

    /// Whether `serial` is among the revocations made here lately.
    pub(super) fn mentions(&self, serial: &Serial) -> bool {
        self.log.iter().any(|(_, revoked)| revoked == serial)
    }

    /// Whether a `good` answer for `serial`, signed from a read made at `read_at`, may
    /// be stale.
    pub(super) fn stale(&self, read_at: u64, serial: &Serial) -> bool {
        read_at < self.stale_through
            || self
                .log
                .iter()
                .rev()
                .take_while(|(number, _)| *number > read_at)
                .any(|(_, revoked)| revoked == serial)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn serial(n: u16) -> Serial {
        Serial::from_magnitude(&n.to_be_bytes()).unwrap()
    }

    fn der(n: u8) -> Arc<Vec<u8>> {
        Arc::new(vec![n])
    }

    #[test]
    fn held_answers_stay_within_their_cap_and_the_newest_stay() {
        let mut held = Held::new(3);
        for n in 1..=1000u16 {
            held.insert(serial(n), der(1));
            // One serial held again and again keeps its place as the newest.
            held.insert(serial(1), der(2));
        }
        assert_eq!(held.len(), 3);
        assert!(held.order.len() <= 2 * 3 + 64);
        assert_eq!(held.get(&serial(1)), Some(der(2)));
        assert!(held.contains(&serial(1000)) && held.contains(&serial(999)));
        assert!(!held.contains(&serial(998)));
        let mut none = Held::new(0);
        none.insert(serial(1), der(1));
        assert_eq!(none.len(), 0);
    }

    #[test]
    fn an_answer_replaced_while_it_was_written_stays_unwritten() {
        let mut unwritten = Unwritten::default();
        let answer = |n| Answer {
            der: der(n),
            revoked: false,
            produced_at: SystemTime::UNIX_EPOCH,
        };
        unwritten.insert(serial(1), answer(1));
        unwritten.insert(serial(2), answer(1));
        let batch = unwritten.batch(10);
        unwritten.insert(serial(1), answer(2));
        unwritten.written(&batch);
        assert_eq!(unwritten.len(), 1);
        assert_eq!(unwritten.get(&serial(1)).unwrap().der, der(2));
    }

    #[test]
    fn a_read_made_before_a_revocation_of_its_certificate_is_stale() {
        let mut recent = RecentRevocations::default();
        let read = recent.now();
        recent.revoked(serial(7));
        assert!(recent.stale(read, &serial(7)));
        assert!(!recent.stale(read, &serial(8)));
        assert!(!recent.stale(recent.now(), &serial(7)), "read after it");
        let read = recent.now();
        recent.changed_elsewhere();
        assert!(recent.stale(read, &serial(8)), "another process's change");
        assert!(!recent.stale(recent.now(), &serial(8)));
        // Beyond what is remembered, every older read is stale.
        let read = recent.now();
        for n in 0..=u16::try_from(RECENT_REVOCATIONS).unwrap() {
            recent.revoked(serial(1000 + n));
        }
        assert!(recent.stale(read, &serial(8)));
    }
}
