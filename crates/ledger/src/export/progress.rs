//! How far a long export job has got: writing and verifying an export of a million
//! entries takes a while, and a person at a terminal should see it move. The crate only
//! reports; what is drawn (and whether: nothing when the output is not a terminal) is
//! the caller's choice.

use std::io::{BufRead, Read};

/// Told how far a long job has got.
pub trait Progress: Sync {
    /// A phase named `name` begins, of `total` units when known (entries or bytes).
    fn phase(&self, name: &'static str, total: Option<u64>);
    /// `done` more units of the current phase are done.
    fn advance(&self, done: u64);
    /// The current phase ended.
    fn end(&self);
}

/// Reports nothing (tests, libraries, scripts).
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _: &'static str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

/// A reader that reports the bytes consumed through it.
pub(crate) struct Counted<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<'a, R> Counted<'a, R> {
    pub(crate) fn new(inner: R, progress: &'a dyn Progress) -> Self {
        Counted { inner, progress }
    }
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(u64::try_from(n).unwrap_or(u64::MAX));
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<'_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
        self.progress
            .advance(u64::try_from(amount).unwrap_or(u64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Default)]
    struct Tally(AtomicU64);

    impl Progress for Tally {
        fn phase(&self, _: &'static str, _: Option<u64>) {}
        fn advance(&self, done: u64) {
            self.0.fetch_add(done, Ordering::Relaxed);
        }
        fn end(&self) {}
    }

    #[test]
    fn every_byte_read_through_it_is_counted_once() {
        let tally = Tally::default();
        let data = b"line one\nline two\n".to_vec();
        let mut reader = Counted::new(std::io::BufReader::new(&data[..]), &tally);
        let mut lines = Vec::new();
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            lines.push(std::mem::take(&mut line));
        }
        assert_eq!(lines.len(), 2);
        assert_eq!(
            tally.0.load(Ordering::Relaxed),
            u64::try_from(data.len()).unwrap()
        );
    }
}
