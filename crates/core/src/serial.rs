//! Certificate serial numbers (RFC 5280 section 4.1.2.2).

use crate::random::{RandomError, RandomSource};
use std::fmt;

/// The longest serial RFC 5280 allows, in octets.
const MAX_OCTETS: usize = 20;

/// A positive certificate serial number of at most 20 octets, held as its unsigned
/// big-endian magnitude with no leading zeros. Held inline, not on the heap: the OCSP
/// responder and the CRL keep one per certificate, and a clone allocates nothing.
#[derive(Clone)]
pub struct Serial {
    len: u8,
    octets: [u8; MAX_OCTETS],
}

impl PartialEq for Serial {
    fn eq(&self, other: &Self) -> bool {
        self.magnitude() == other.magnitude()
    }
}

impl Eq for Serial {}

impl std::hash::Hash for Serial {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.magnitude().hash(state);
    }
}

impl PartialOrd for Serial {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Byte-wise on the magnitude, as before serials were held inline.
impl Ord for Serial {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.magnitude().cmp(other.magnitude())
    }
}

impl Serial {
    /// 16 random bytes, made positive and non-zero (DESIGN.md section 3.6).
    pub fn random(rng: &dyn RandomSource) -> Result<Self, RandomError> {
        let mut bytes = [0u8; 16];
        loop {
            rng.fill(&mut bytes)?;
            bytes[0] &= 0x7f;
            // Keep the full 16 bytes: a leading 0 would shorten the serial.
            if bytes[0] != 0 {
                return Ok(Self::inline(&bytes));
            }
        }
    }

    /// From an unsigned big-endian magnitude (leading zeros dropped).
    pub fn from_magnitude(bytes: &[u8]) -> Option<Self> {
        let start = bytes.iter().position(|b| *b != 0)?;
        let trimmed = &bytes[start..];
        if trimmed.len() > MAX_OCTETS {
            return None;
        }
        Some(Self::inline(trimmed))
    }

    /// `magnitude` is at most [`MAX_OCTETS`] long with no leading zero.
    fn inline(magnitude: &[u8]) -> Self {
        let mut octets = [0u8; MAX_OCTETS];
        let len = magnitude.len().min(MAX_OCTETS);
        octets[..len].copy_from_slice(&magnitude[..len]);
        Self {
            len: u8::try_from(len).unwrap_or(u8::MAX),
            octets,
        }
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
        hex::encode(self.magnitude())
    }

    /// The magnitude bytes.
    pub fn magnitude(&self) -> &[u8] {
        &self.octets[..usize::from(self.len)]
    }

    /// The DER INTEGER content: the magnitude with a 0x00 prefix when its top bit is set.
    pub fn der_integer_content(&self) -> Vec<u8> {
        let magnitude = self.magnitude();
        let mut out = Vec::with_capacity(magnitude.len() + 1);
        if magnitude.first().is_some_and(|b| b & 0x80 != 0) {
            out.push(0);
        }
        out.extend_from_slice(magnitude);
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

    #[test]
    fn equality_and_order_follow_the_magnitude() {
        let short = Serial::from_hex("0aff").unwrap_or_else(|| unreachable!());
        let long = Serial::from_hex("0aff01").unwrap_or_else(|| unreachable!());
        let same = Serial::from_magnitude(&[0, 0x0a, 0xff]).unwrap_or_else(|| unreachable!());
        assert_eq!(short, same);
        assert!(short < long);
        let widest = Serial::from_magnitude(&[0x7f; 20]).unwrap_or_else(|| unreachable!());
        assert_eq!(widest.magnitude().len(), 20);
        assert_eq!(Serial::from_magnitude(&[1; 21]), None);
    }
}
