//! Witness cosignatures: C2SP `tlog-cosignature` v1 with Ed25519
//! (<https://c2sp.org/tlog-cosignature>), signature type `0x04` of signed notes.
//!
//! A cosignature is a note signature line on a checkpoint,
//!
//! ```text
//! — <witness name> base64(key ID || timestamp || Ed25519 signature)
//! ```
//!
//! where the key ID is `SHA-256(<name> || "\n" || 0x04 || public key)[:4]`, the
//! timestamp is a big-endian `u64` of POSIX seconds (never zero, at most 2^63 − 1), and
//! the Ed25519 signature covers the message
//!
//! ```text
//! cosignature/v1
//! time <timestamp, decimal>
//! <the checkpoint's note text, every line with its newline>
//! ```
//!
//! A witness is known to its clients by its verifier key (signed-note "vkey"):
//! `<name>+<key ID hex>+base64(0x04 || 32-byte public key)`, see [`WitnessKey`].
//!
//! The statement a cosignature makes: as of the timestamp, the consistent tree head of
//! the largest size the witness has seen for the checkpoint's origin has this root.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::note::{NoteSignature, SignedNote};

/// Signature type `0x04`: timestamped Ed25519 checkpoint cosignatures.
pub const TYPE_COSIGNATURE_V1: u8 = 0x04;

/// The header line of the signed message (domain separation).
const HEADER: &str = "cosignature/v1\n";

/// The length of an Ed25519 public key.
pub const PUBLIC_KEY_BYTES: usize = 32;

/// The length of an Ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;

/// The largest timestamp a cosignature may carry, 2^63 − 1.
pub const MAX_TIMESTAMP: u64 = (1 << 63) - 1;

/// Why a witness key or a cosignature is not acceptable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CosignatureError {
    /// The verifier key string is not `<name>+<hex key ID>+<base64>`.
    #[error("the witness verifier key is malformed: {reason}")]
    MalformedVerifierKey {
        /// What is wrong.
        reason: &'static str,
    },
    /// The witness name is empty or contains a space or `+`.
    #[error("witness name {name:?} is empty or contains a space or '+'")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// No cosignature line carries the witness's name and key ID.
    #[error("no cosignature by the witness {name} (key ID {key_id_hex})")]
    NotCosigned {
        /// The witness name.
        name: String,
        /// The key ID, hex.
        key_id_hex: String,
    },
    /// A line with the witness's name and key ID does not verify, or its timestamp is
    /// zero or above 2^63 − 1.
    #[error("the cosignature by the witness {name} (key ID {key_id_hex}) does not verify")]
    InvalidCosignature {
        /// The witness name.
        name: String,
        /// The key ID, hex.
        key_id_hex: String,
    },
    /// The timestamp cannot be signed (zero, or above 2^63 − 1).
    #[error("cosignature timestamp {timestamp} is zero or above 2^63 - 1")]
    InvalidTimestamp {
        /// The timestamp.
        timestamp: u64,
    },
}

/// The message a `cosignature/v1` signs: the header line, the `time` line, then the
/// note text of the checkpoint (`note_text` must end in a newline, as a note text does).
pub fn signed_message(note_text: &str, timestamp: u64) -> Vec<u8> {
    format!("{HEADER}time {timestamp}\n{note_text}").into_bytes()
}

/// A verified cosignature.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cosignature {
    /// When the witness made it, POSIX seconds.
    pub timestamp: u64,
}

/// A witness's Ed25519 cosigning key, by name and public key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WitnessKey {
    name: String,
    public_key: [u8; PUBLIC_KEY_BYTES],
    key_id: [u8; 4],
}

impl WitnessKey {
    /// The witness named `name` with the Ed25519 public key `public_key`.
    ///
    /// # Errors
    ///
    /// [`CosignatureError::InvalidName`].
    pub fn new(name: &str, public_key: [u8; PUBLIC_KEY_BYTES]) -> Result<Self, CosignatureError> {
        if !crate::note::valid_key_name(name) {
            return Err(CosignatureError::InvalidName {
                name: name.to_owned(),
            });
        }
        let key_id = crate::note::key_id(name, &[TYPE_COSIGNATURE_V1], &public_key);
        Ok(WitnessKey {
            name: name.to_owned(),
            public_key,
            key_id,
        })
    }

    /// Parses a verifier key `<name>+<key ID hex>+base64(0x04 || public key)`; the key ID
    /// must be the one the name and key give.
    ///
    /// # Errors
    ///
    /// [`CosignatureError::MalformedVerifierKey`] and [`CosignatureError::InvalidName`].
    pub fn from_verifier_key(vkey: &str) -> Result<Self, CosignatureError> {
        let malformed = |reason| CosignatureError::MalformedVerifierKey { reason };
        let parts = crate::note::VerifierKeyParts::parse(vkey).map_err(malformed)?;
        let (&kind, key) = parts
            .material
            .split_first()
            .ok_or(malformed("the key material is empty"))?;
        if kind != TYPE_COSIGNATURE_V1 {
            return Err(malformed(
                "the signature type is not 0x04 (tlog-cosignature v1 Ed25519)",
            ));
        }
        let public_key = <[u8; PUBLIC_KEY_BYTES]>::try_from(key)
            .map_err(|_| malformed("the Ed25519 public key is not 32 bytes"))?;
        let witness = WitnessKey::new(parts.name, public_key)?;
        if witness.key_id != parts.key_id {
            return Err(malformed("the key ID does not match the name and key"));
        }
        Ok(witness)
    }

    /// The witness name (the key name of its cosignature lines).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &[u8; PUBLIC_KEY_BYTES] {
        &self.public_key
    }

    /// The key ID.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The key ID as 8 lowercase hex digits.
    pub fn key_id_hex(&self) -> String {
        hex::encode(self.key_id)
    }

    /// The verifier key string `<name>+<key ID hex>+base64(0x04 || public key)`.
    pub fn verifier_key(&self) -> String {
        let mut material = vec![TYPE_COSIGNATURE_V1];
        material.extend_from_slice(&self.public_key);
        format!(
            "{}+{}+{}",
            self.name,
            self.key_id_hex(),
            BASE64.encode(material)
        )
    }

    /// Cosigns the checkpoint whose note text is `note_text` at `timestamp`: `sign` must
    /// return the Ed25519 signature of the message it is given by this key.
    ///
    /// # Errors
    ///
    /// [`CosignatureError::InvalidTimestamp`], or whatever `sign` returns (converted).
    pub fn cosign<E>(
        &self,
        note_text: &str,
        timestamp: u64,
        sign: impl FnOnce(&[u8]) -> Result<[u8; SIGNATURE_BYTES], E>,
    ) -> Result<NoteSignature, E>
    where
        E: From<CosignatureError>,
    {
        if timestamp == 0 || timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::InvalidTimestamp { timestamp }.into());
        }
        let signature = sign(&signed_message(note_text, timestamp))?;
        let mut bytes = Vec::with_capacity(8 + SIGNATURE_BYTES);
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&signature);
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: bytes,
        })
    }

    /// Checks that `note` carries at least one cosignature by this witness and that every
    /// line with its name and key ID verifies; returns the newest. Lines by other keys
    /// are ignored, as the signed-note specification requires.
    ///
    /// # Errors
    ///
    /// [`CosignatureError::NotCosigned`] and [`CosignatureError::InvalidCosignature`].
    pub fn verify(&self, note: &SignedNote) -> Result<Cosignature, CosignatureError> {
        let mut newest: Option<Cosignature> = None;
        for line in &note.signatures {
            if line.name != self.name || line.key_id != self.key_id {
                continue;
            }
            let cosignature = self.verify_line(&note.text, &line.signature)?;
            if newest.is_none_or(|n| n.timestamp < cosignature.timestamp) {
                newest = Some(cosignature);
            }
        }
        newest.ok_or_else(|| CosignatureError::NotCosigned {
            name: self.name.clone(),
            key_id_hex: self.key_id_hex(),
        })
    }

    fn verify_line(&self, text: &str, signature: &[u8]) -> Result<Cosignature, CosignatureError> {
        use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};
        let invalid = || CosignatureError::InvalidCosignature {
            name: self.name.clone(),
            key_id_hex: self.key_id_hex(),
        };
        if signature.len() != 8 + SIGNATURE_BYTES {
            return Err(invalid());
        }
        let (time, ed25519) = signature.split_at(8);
        let timestamp = u64::from_be_bytes(<[u8; 8]>::try_from(time).map_err(|_| invalid())?);
        if timestamp == 0 || timestamp > MAX_TIMESTAMP {
            return Err(invalid());
        }
        UnparsedPublicKey::new(&ED25519, &self.public_key)
            .verify(&signed_message(text, timestamp), ed25519)
            .map_err(|_| invalid())?;
        Ok(Cosignature { timestamp })
    }
}

/// The verified cosignatures of a checkpoint by the witnesses in `witnesses`: one per
/// witness that cosigned it, in the order of `witnesses`. A witness with no line is
/// skipped; a line that fails is an error.
///
/// # Errors
///
/// [`CosignatureError::InvalidCosignature`] for a failing line.
pub fn verified_cosigners<'k>(
    note: &SignedNote,
    witnesses: &'k [WitnessKey],
) -> Result<Vec<(&'k WitnessKey, Cosignature)>, CosignatureError> {
    let mut found = Vec::new();
    for witness in witnesses {
        match witness.verify(note) {
            Ok(cosignature) => found.push((witness, cosignature)),
            Err(CosignatureError::NotCosigned { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

    const CHECKPOINT_TEXT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn witness(name: &str, seed: u8) -> (Ed25519KeyPair, WitnessKey) {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap();
        let public = <[u8; 32]>::try_from(pair.public_key().as_ref()).unwrap();
        (pair, WitnessKey::new(name, public).unwrap())
    }

    fn cosigned(pair: &Ed25519KeyPair, key: &WitnessKey, text: &str, time: u64) -> SignedNote {
        let line = key
            .cosign::<CosignatureError>(text, time, |m| {
                Ok(<[u8; 64]>::try_from(pair.sign(m).as_ref()).unwrap())
            })
            .unwrap();
        SignedNote {
            text: text.to_owned(),
            signatures: vec![line],
        }
    }

    /// signed-note's example: an Ed25519 (type 0x01) verifier key and the note it
    /// verifies. The key ID rule and the Ed25519 verification are the ones cosignatures
    /// use, with type 0x04 and the cosignature message.
    #[test]
    fn the_signed_note_example_checks_the_key_id_rule_and_ed25519() {
        let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
        let parts = crate::note::VerifierKeyParts::parse(vkey).unwrap();
        assert_eq!(parts.material[0], 0x01);
        let public_key = &parts.material[1..];
        assert_eq!(
            crate::note::key_id(parts.name, &[0x01], public_key),
            parts.key_id
        );
        let note = SignedNote::parse("This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n").unwrap();
        assert_eq!(note.signatures[0].key_id, parts.key_id);
        use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(note.text.as_bytes(), &note.signatures[0].signature)
            .unwrap();
    }

    #[test]
    fn the_signed_message_is_the_specification_example() {
        assert_eq!(
            String::from_utf8(signed_message(CHECKPOINT_TEXT, 1_679_315_147)).unwrap(),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn the_specification_cosignature_line_carries_its_timestamp() {
        // tlog-cosignature's example: the line of witness.example.com/w1, whose
        // timestamp 1679315147 matches its example signed message.
        let note = format!(
            "{CHECKPOINT_TEXT}\n\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
        );
        let note = SignedNote::parse(&note).unwrap();
        let line = &note.signatures[0];
        assert_eq!(line.signature.len(), 8 + SIGNATURE_BYTES);
        let time = u64::from_be_bytes(line.signature[..8].try_into().unwrap());
        assert_eq!(time, 1_679_315_147);
    }

    #[test]
    fn a_cosignature_verifies_and_round_trips_through_the_note() {
        let (pair, key) = witness("witness.example/w1", 7);
        let note = cosigned(&pair, &key, CHECKPOINT_TEXT, 1_700_000_000);
        let reparsed = SignedNote::parse(&note.encode()).unwrap();
        assert_eq!(
            key.verify(&reparsed).unwrap(),
            Cosignature {
                timestamp: 1_700_000_000
            }
        );
        let vkey = key.verifier_key();
        assert!(vkey.starts_with("witness.example/w1+"));
        assert_eq!(WitnessKey::from_verifier_key(&vkey).unwrap(), key);
    }

    #[test]
    fn a_cosignature_of_another_text_or_time_fails() {
        let (pair, key) = witness("witness.example/w1", 7);
        let mut note = cosigned(&pair, &key, CHECKPOINT_TEXT, 1_700_000_000);
        note.text = CHECKPOINT_TEXT.replace("20852163", "20852164");
        assert!(matches!(
            key.verify(&note),
            Err(CosignatureError::InvalidCosignature { .. })
        ));
        let mut note = cosigned(&pair, &key, CHECKPOINT_TEXT, 1_700_000_000);
        note.signatures[0].signature[7] ^= 1;
        assert!(matches!(
            key.verify(&note),
            Err(CosignatureError::InvalidCosignature { .. })
        ));
        note.signatures[0].signature.truncate(20);
        assert!(matches!(
            key.verify(&note),
            Err(CosignatureError::InvalidCosignature { .. })
        ));
    }

    #[test]
    fn other_witnesses_lines_are_ignored() {
        let (pair, key) = witness("witness.example/w1", 7);
        let (_, other) = witness("witness.example/w2", 8);
        let note = cosigned(&pair, &key, CHECKPOINT_TEXT, 1_700_000_000);
        assert!(matches!(
            other.verify(&note),
            Err(CosignatureError::NotCosigned { .. })
        ));
        let keys = [other.clone(), key.clone()];
        let found = verified_cosigners(&note, &keys).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, &key);
        // Same name, other key: its ID differs, so the line is not its.
        let (_, impostor) = witness("witness.example/w1", 9);
        assert!(matches!(
            impostor.verify(&note),
            Err(CosignatureError::NotCosigned { .. })
        ));
    }

    #[test]
    fn zero_and_oversized_timestamps_are_refused() {
        let (pair, key) = witness("w", 1);
        for time in [0, MAX_TIMESTAMP + 1] {
            let made = key.cosign::<CosignatureError>(CHECKPOINT_TEXT, time, |m| {
                Ok(<[u8; 64]>::try_from(pair.sign(m).as_ref()).unwrap())
            });
            assert!(matches!(
                made,
                Err(CosignatureError::InvalidTimestamp { .. })
            ));
        }
    }

    #[test]
    fn malformed_verifier_keys_are_refused() {
        let (_, key) = witness("witness.example/w1", 7);
        let good = key.verifier_key();
        let wrong_id = good.replacen(&key.key_id_hex(), "00000000", 1);
        let ed25519_note_key =
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
        for vkey in [
            "",
            "name",
            "name+abc",
            "name+0011223g+BA==",
            "+00112233+BA==",
            "name+00112233+!!",
            "name+00112233+",
            wrong_id.as_str(),
            ed25519_note_key,
            &good[..good.len() - 4],
        ] {
            assert!(WitnessKey::from_verifier_key(vkey).is_err(), "{vkey:?}");
        }
    }
}
