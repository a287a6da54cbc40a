//! How large a PKCS#11 backend's session pool and signing queue are
//! (`[ca.key_backend] sessions` and `signing_queue`), checked when the configuration is
//! read: a size out of range is refused with the allowed range named.

use serde::{Deserialize, Serialize};

/// How many sessions, and how many signatures may wait for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolSize {
    /// Sessions opened on the token.
    pub sessions: SessionCount,
    /// Signatures that may wait for a free session before more are refused.
    pub signing_queue: SigningQueue,
}

/// Sessions opened on a token: 1 to 64, default 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct SessionCount(usize);

/// Signatures that may wait for a free session: 1 to 65536, default 1024.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct SigningQueue(usize);

/// A size outside its range.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{field} = {value}: a PKCS#11 key backend takes {min} to {max} (default {default})")]
pub struct SizeError {
    field: &'static str,
    value: u64,
    min: usize,
    max: usize,
    default: usize,
}

fn in_range(
    field: &'static str,
    value: u64,
    (min, max, default): (usize, usize, usize),
) -> Result<usize, SizeError> {
    match usize::try_from(value) {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(SizeError {
            field,
            value,
            min,
            max,
            default,
        }),
    }
}

impl SessionCount {
    const RANGE: (usize, usize, usize) = (1, 64, 4);

    /// `n` sessions, if within 1 to 64.
    pub fn new(n: u64) -> Result<Self, SizeError> {
        in_range("sessions", n, Self::RANGE).map(SessionCount)
    }

    /// The number.
    pub fn get(self) -> usize {
        self.0
    }

    /// Whether this is the default (4).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for SessionCount {
    fn default() -> Self {
        SessionCount(Self::RANGE.2)
    }
}

impl SigningQueue {
    const RANGE: (usize, usize, usize) = (1, 65536, 1024);

    /// Room for `n` waiting signatures, if within 1 to 65536.
    pub fn new(n: u64) -> Result<Self, SizeError> {
        in_range("signing_queue", n, Self::RANGE).map(SigningQueue)
    }

    /// The number.
    pub fn get(self) -> usize {
        self.0
    }

    /// Whether this is the default (1024).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for SigningQueue {
    fn default() -> Self {
        SigningQueue(Self::RANGE.2)
    }
}

macro_rules! as_u64 {
    ($t:ty) => {
        impl TryFrom<u64> for $t {
            type Error = SizeError;
            fn try_from(n: u64) -> Result<Self, SizeError> {
                <$t>::new(n)
            }
        }
        impl From<$t> for u64 {
            fn from(size: $t) -> u64 {
                u64::try_from(size.0).unwrap_or(u64::MAX)
            }
        }
    };
}
as_u64!(SessionCount);
as_u64!(SigningQueue);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sizes_out_of_range_are_refused_with_the_range_named() {
        assert_eq!(SessionCount::new(16).unwrap().get(), 16);
        assert_eq!(SessionCount::default().get(), 4);
        let zero = SessionCount::new(0).unwrap_err().to_string();
        assert_eq!(
            zero,
            "sessions = 0: a PKCS#11 key backend takes 1 to 64 (default 4)"
        );
        assert!(SessionCount::new(65).is_err());
        assert!(SigningQueue::new(0).is_err());
        assert!(SigningQueue::new(65537).is_err());
        assert_eq!(SigningQueue::new(65536).unwrap().get(), 65536);
    }
}
