//! The injected randomness source.

/// A cryptographically secure random source.
pub trait RandomSource: Send + Sync + std::fmt::Debug {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|_| RandomError)
    }
}

/// The random source failed; callers fail closed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the random source failed")]
pub struct RandomError;

/// A deterministic source for tests only: a counter-based stream (not secure).
#[derive(Debug)]
pub struct CountingRandom {
    counter: std::sync::atomic::AtomicU64,
}

impl CountingRandom {
    /// Starts the stream at `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            counter: std::sync::atomic::AtomicU64::new(seed),
        }
    }
}

impl RandomSource for CountingRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        use sha2::{Digest, Sha256};
        for chunk in buf.chunks_mut(32) {
            let n = self
                .counter
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let block = Sha256::digest(n.to_be_bytes());
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        Ok(())
    }
}
