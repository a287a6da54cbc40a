//! Certificate serial numbers (RFC 5280 section 4.1.2.2).

use crate::random::{RandomError, RandomSource};
use std::fmt;

/// A positive certificate serial number of at most 20 octets, held as its unsigned
/// big-endian magnitude with no leading zeros.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// 16 random bytes, made positive and non-zero (DESIGN.md section 3.6).
    pub fn random(rng: &dyn RandomSource) -> Result<Self, RandomError> {
        let mut bytes = [0u8; 16];
        loop {
            rng.fill(&mut bytes)?;
            bytes[0] &= 0x7f;
            // Keep the full 16 bytes: a leading 0 would shorten the serial.
            if bytes[0] != 0 {
                return Ok(Self(bytes.to_vec()));
            }
        }
    }

    /// From an unsigned big-endian magnitude (leading zeros dropped).
    pub fn from_magnitude(bytes: &[u8]) -> Option<Self> {
        let start = bytes.iter().position(|b| *b != 0)?;
        let trimmed = &bytes[start..];
        if trimmed.len() > 20 {
            return None;
        }
        Some(Self(trimmed.to_vec()))
    }

    /// From the DER INTEGER content of a serial (two's complement); refuses negatives.
    pub fn from_der_integer(bytes: &[u8]) -> Option<Self> {
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            return None;
        }
        Self::from_magnitude(bytes)
    }

    /// Parses lowercase or uppercase hex, with or without colons.
    pub fn from_hex(text: &str) -> Option<Self> {
        let cleaned: String = text.chars().filter(|c| *c != ':').collect();
        let cleaned = if cleaned.len() % 2 == 1 {
            format!("0{cleaned}")
        } else {
            cleaned
        };
        Self::from_magnitude(&hex::decode(cleaned).ok()?)
    }

    /// Lowercase hex of the magnitude.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// The magnitude bytes.
    pub fn magnitude(&self) -> &[u8] {
        &self.0
    }

    /// The DER INTEGER content: the magnitude with a 0x00 prefix when its top bit is set.
    pub fn der_integer_content(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        if self.0.first().is_some_and(|b| b & 0x80 != 0) {
            out.push(0);
        }
        out.extend_from_slice(&self.0);
        out
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::CountingRandom;

    #[test]
    fn random_serials_are_positive_sixteen_bytes() {
        let rng = CountingRandom::new(7);
        for _ in 0..100 {
            let serial = Serial::random(&rng).unwrap_or_else(|_| unreachable!());
            assert_eq!(serial.magnitude().len(), 16);
            assert!(serial.magnitude()[0] < 0x80 && serial.magnitude()[0] != 0);
        }
    }

    #[test]
    fn hex_round_trip() {
        let serial = Serial::from_hex("00:0A:ff").unwrap_or_else(|| unreachable!());
        assert_eq!(serial.to_hex(), "0aff");
        assert_eq!(Serial::from_der_integer(&[0x80]), None);
        assert_eq!(Serial::from_hex("zz"), None);
    }
}
