//! Which subscriber keys shuin certifies (DESIGN.md section 3.6): RSA 2048–4096 bits
//! with e = 65537, and EC P-256 or P-384.

use crate::reason::{ReasonCode, Rejection};
use crate::signature::{EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP256R1, SECP384R1};
use const_oid::ObjectIdentifier;
use der::Decode;
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoRef;

/// Odd primes below 1000, for the small-factor screen of RSA moduli.
const SMALL_PRIMES_LIMIT: u32 = 1000;

/// The key kinds shuin certifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptedKey {
    /// RSA with this many modulus bits.
    Rsa { bits: usize },
    /// ECDSA on P-256.
    EcP256,
    /// ECDSA on P-384.
    EcP384,
}

/// SHA-256 of the DER SubjectPublicKeyInfo: the identity used for key-reuse checks.
pub fn key_fingerprint(spki_der: &[u8]) -> String {
    hex::encode(Sha256::digest(spki_der))
}

/// Applies the key policy to a DER SubjectPublicKeyInfo.
pub fn check_subscriber_key(spki_der: &[u8]) -> Result<AcceptedKey, Rejection> {
    let not_allowed = |detail: &str| Rejection::new(ReasonCode::KeyAlgorithmNotAllowed, detail);
    let weak = |detail: String| Rejection::new(ReasonCode::KeyTooWeak, detail);
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|_| {
        Rejection::new(
            ReasonCode::CsrMalformed,
            "the public key is not a SubjectPublicKeyInfo",
        )
    })?;
    let key_bytes = spki.subject_public_key.as_bytes().ok_or_else(|| {
        Rejection::new(
            ReasonCode::CsrMalformed,
            "the public key bit string has unused bits",
        )
    })?;
    match spki.algorithm.oid {
        RSA_ENCRYPTION => {
            let key = pkcs1::RsaPublicKey::from_der(key_bytes).map_err(|_| {
                Rejection::new(ReasonCode::CsrMalformed, "the RSA public key is malformed")
            })?;
            let modulus = key.modulus.as_bytes();
            let exponent = key.public_exponent.as_bytes();
            let bits = bit_length(modulus);
            if bits < 2048 {
                return Err(weak(format!(
                    "RSA keys need at least 2048 bits; this one has {bits}"
                )));
            }
            if bits > 4096 {
                return Err(not_allowed("RSA keys above 4096 bits are not accepted"));
            }
            if exponent != [0x01, 0x00, 0x01] {
                return Err(weak(
                    "RSA keys must use the public exponent 65537".to_owned(),
                ));
            }
            if modulus.last().is_some_and(|b| b & 1 == 0) || has_small_factor(modulus) {
                return Err(weak(
                    "the RSA modulus has a small factor (a known-weak key)".to_owned(),
                ));
            }
            Ok(AcceptedKey::Rsa { bits })
        }
        EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            let (accepted, point_len) = match curve {
                Some(SECP256R1) => (AcceptedKey::EcP256, 65),
                Some(SECP384R1) => (AcceptedKey::EcP384, 97),
                _ => {
                    return Err(not_allowed(
                        "only the EC curves P-256 and P-384 are accepted",
                    ))
                }
            };
            if key_bytes.len() != point_len || key_bytes.first() != Some(&0x04) {
                return Err(not_allowed("EC public keys must be uncompressed points"));
            }
            // That the point lies on the curve is established by the proof-of-possession
            // check, which runs first (csr.rs) and fails for off-curve points.
            Ok(accepted)
        }
        _ => Err(not_allowed(
            "only RSA and EC (P-256, P-384) keys are accepted",
        )),
    }
}

fn bit_length(magnitude: &[u8]) -> usize {
    let start = magnitude.iter().position(|b| *b != 0);
    match start {
        None => 0,
        Some(i) => {
            let lead = magnitude[i];
            let lead_bits =
                8usize.saturating_sub(usize::try_from(lead.leading_zeros()).unwrap_or(8));
            (magnitude.len() - i - 1) * 8 + lead_bits
        }
    }
}

fn has_small_factor(modulus: &[u8]) -> bool {
    (3..SMALL_PRIMES_LIMIT)
        .step_by(2)
        .filter(|n| is_prime(*n))
        .any(|p| mod_small(modulus, p) == 0)
}

fn is_prime(n: u32) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

fn mod_small(magnitude: &[u8], p: u32) -> u32 {
    magnitude
        .iter()
        .fold(0u32, |acc, byte| (acc * 256 + u32::from(*byte)) % p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[]), 0);
    }

    #[test]
    fn small_factor_screen() {
        assert!(has_small_factor(&[0x00, 0x0f])); // 15 = 3 * 5
        assert!(!has_small_factor(&[0x03, 0xf1])); // 1009 is prime
    }
}
