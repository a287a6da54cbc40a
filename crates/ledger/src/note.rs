//! C2SP signed notes (<https://c2sp.org/signed-note>): a UTF-8 text ending in a newline,
//! a blank line, then one or more signature lines.
//!
//! ```text
//! shuin.example/ledger
//! 42
//! qeOw3yYlFZ0ycAmMQ1zZ5pJ1UKfkn/5yOXrT4p7pljM=
//!
//! — shuin.example/ledger Rk3e2zBFAiEA...
//! ```
//!
//! A signature line is an em dash (U+2014), a space, the key name, a space and
//! `base64(key ID || signature)`, where the key ID is four bytes, big-endian.
//!
//! # Signature types used by shuin
//!
//! The signed-note specification assigns signature type bytes; the audit key lives in
//! the key backend (an HSM in production), which signs ECDSA and RSA but not Ed25519
//! (type `0x01`). shuin therefore uses:
//!
//! | audit key | type byte | signature | key ID |
//! |---|---|---|---|
//! | ECDSA P-256 (the default) | `0x02` | ASN.1 DER ECDSA over SHA-256 of the note text | `SHA-256(SPKI DER)[:4]` |
//! | ECDSA P-384 | `0xff` | ASN.1 DER ECDSA over SHA-384 | `SHA-256(name ‖ 0x0A ‖ 0xff ‖ "shuin-note/ecdsa-p384-sha384" ‖ SPKI DER)[:4]` |
//! | RSA | `0xff` | RSASSA-PKCS1-v1_5 with SHA-256 | `SHA-256(name ‖ 0x0A ‖ 0xff ‖ "shuin-note/rsa-pkcs1-sha256" ‖ SPKI DER)[:4]` |
//!
//! Type `0x02` is "ECDSA signatures as implemented by github.com/transparency-dev/witness":
//! that implementation hashes the note text with SHA-256 whatever the curve, and takes
//! the key ID as the first four bytes of SHA-256 of the DER SubjectPublicKeyInfo. A P-256
//! key in an HSM produces exactly that, so shuin's default checkpoints verify with the
//! transparency-dev tools (verifier key string: [`NoteKey::verifier_key`]). P-384 keys
//! sign with SHA-384 in shuin's backends and RSA has no assigned type, so both use the
//! type `0xff` ("no identifier byte assigned") followed by a longer identifier, as the
//! specification recommends.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha2::{Digest, Sha256};
use shuin_core::signature::{self as sig, SignatureAlgorithm};
use spki::der::Decode;

/// The largest note accepted, in bytes.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// The most signature lines accepted in one note (the specification requires at least
/// 16 to be accepted).
pub const MAX_SIGNATURES: usize = 64;

/// The first characters of a signature line: em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Signature type `0x02`: ECDSA as implemented by transparency-dev/witness.
pub const TYPE_ECDSA_SHA256: u8 = 0x02;

/// Signature type `0xff`: no identifier byte assigned; followed by a longer identifier.
pub const TYPE_UNASSIGNED: u8 = 0xff;

/// One signature line of a note.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key ID, the first four bytes of the decoded signature.
    pub key_id: [u8; 4],
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, with its final newline.
    pub fn line(&self) -> String {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.key_id);
        bytes.extend_from_slice(&self.signature);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, BASE64.encode(bytes))
    }
}

/// A parsed signed note.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignedNote {
    /// The signed text, including its final newline.
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

/// Why a note or a key is not acceptable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_BYTES`].
    #[error("the note is {size} bytes, more than the {limit} accepted")]
    TooLarge {
        /// The note's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A control character other than newline.
    #[error("the note contains a control character at byte {offset}")]
    ControlCharacter {
        /// Its byte offset.
        offset: usize,
    },
    /// No blank line separates text and signatures, or either part is empty.
    #[error("the note has no text, blank line and signature lines")]
    MissingSeparator,
    /// A signature line does not have the form `— <name> <base64>`.
    #[error("signature line {line} is malformed: {reason}")]
    MalformedSignatureLine {
        /// 1-based line number within the signature block.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("the note has {count} signatures, more than the {limit} accepted")]
    TooManySignatures {
        /// How many there are.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A key name that is empty or contains a space or `+`.
    #[error("key name {name:?} is empty or contains a space or '+'")]
    InvalidKeyName {
        /// The name.
        name: String,
    },
    /// The public key is not one shuin signs notes with.
    #[error("the audit public key is not usable for notes: {reason}")]
    UnsupportedKey {
        /// What is wrong.
        reason: &'static str,
    },
    /// A verifier key string that is not `<name>+<key ID>+<base64 type and key>` of a
    /// key shuin reads.
    #[error("the verifier key is malformed: {reason}")]
    MalformedVerifierKey {
        /// What is wrong.
        reason: &'static str,
    },
    /// No signature line carries the key's name and ID.
    #[error("no signature by the audit key {name} (key ID {key_id_hex})")]
    NotSignedByKey {
        /// The key name.
        name: String,
        /// The key ID, hex.
        key_id_hex: String,
    },
    /// A signature line with the key's name and ID does not verify.
    #[error("the signature by the audit key {name} (key ID {key_id_hex}) does not verify")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key ID, hex.
        key_id_hex: String,
    },
}

pub(crate) fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// The key ID the specification recommends: `SHA-256(name || 0x0A || type || key)[:4]`,
/// where `type` is the signature type byte (and for `0xff`, its identifier).
pub(crate) fn key_id(name: &str, signature_type: &[u8], key: &[u8]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n'])
        .chain_update(signature_type)
        .chain_update(key)
        .finalize();
    let mut id = [0u8; 4];
    id.copy_from_slice(&digest[..4]);
    id
}

/// The three parts of a verifier key `<name>+<hex key ID>+<base64 material>`, where the
/// material is the signature type byte followed by the public key.
pub(crate) struct VerifierKeyParts<'a> {
    pub(crate) name: &'a str,
    pub(crate) key_id: [u8; 4],
    pub(crate) material: Vec<u8>,
}

impl<'a> VerifierKeyParts<'a> {
    pub(crate) fn parse(vkey: &'a str) -> Result<Self, &'static str> {
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(material)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("it is not <name>+<key ID>+<key>");
        };
        if !valid_key_name(name) {
            return Err("the key name is empty or contains a space");
        }
        let mut key_id = [0u8; 4];
        if id.len() != 8 || hex::decode_to_slice(id, &mut key_id).is_err() {
            return Err("the key ID is not 8 hex digits");
        }
        let material = BASE64
            .decode(material.trim_end())
            .map_err(|_| "the key is not standard base64")?;
        if material.is_empty() {
            return Err("the key material is empty");
        }
        Ok(VerifierKeyParts {
            name,
            key_id,
            material,
        })
    }
}

impl SignedNote {
    /// Parses a signed note (signatures are not verified here; see [`NoteKey::verify`]).
    ///
    /// # Errors
    ///
    /// A [`NoteError`] naming what is malformed.
    pub fn parse(note: &str) -> Result<SignedNote, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size: note.len(),
                limit: MAX_NOTE_BYTES,
            });
        }
        if let Some(offset) = note.bytes().position(|b| b < 0x20 && b != b'\n') {
            return Err(NoteError::ControlCharacter { offset });
        }
        // The text is separated from the signatures by the last empty line.
        let split = note.rfind("\n\n").ok_or(NoteError::MissingSeparator)?;
        let (text, block) = (&note[..=split], &note[split + 2..]);
        if block.is_empty() {
            return Err(NoteError::MissingSeparator);
        }
        if !block.ends_with('\n') {
            return Err(NoteError::MalformedSignatureLine {
                line: block.lines().count(),
                reason: "the last signature line has no final newline",
            });
        }
        let lines: Vec<&str> = block[..block.len() - 1].split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count: lines.len(),
                limit: MAX_SIGNATURES,
            });
        }
        let signatures = lines
            .iter()
            .enumerate()
            .map(|(index, line)| parse_signature_line(index + 1, line))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SignedNote {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note in its text form.
    pub fn encode(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for signature in &self.signatures {
            out.push_str(&signature.line());
        }
        out
    }
}

fn parse_signature_line(line: usize, text: &str) -> Result<NoteSignature, NoteError> {
    let malformed = |reason| NoteError::MalformedSignatureLine { line, reason };
    let rest = text
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(malformed("it does not start with an em dash and a space"))?;
    let (name, encoded) = rest
        .split_once(' ')
        .ok_or(malformed("it has no space between key name and signature"))?;
    if !valid_key_name(name) {
        return Err(malformed("the key name is empty or contains '+'"));
    }
    let bytes = BASE64
        .decode(encoded)
        .map_err(|_| malformed("the signature is not standard base64"))?;
    if bytes.len() < 5 {
        return Err(malformed("the signature is shorter than a key ID"));
    }
    let (key_id, signature) = bytes.split_at(4);
    let mut id = [0u8; 4];
    id.copy_from_slice(key_id);
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: id,
        signature: signature.to_vec(),
    })
}

/// A note signing key by name and public key: computes its key ID and verifies its
/// signatures. See the [module documentation](self) for the signature types.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NoteKey {
    name: String,
    spki_der: Vec<u8>,
    algorithm: SignatureAlgorithm,
    key_id: [u8; 4],
}

impl NoteKey {
    /// The note key named `name` with the DER SubjectPublicKeyInfo `spki_der`: ECDSA
    /// P-256, ECDSA P-384 or RSA (2048 bits or more).
    ///
    /// # Errors
    ///
    /// [`NoteError::InvalidKeyName`] and [`NoteError::UnsupportedKey`].
    pub fn from_spki(name: &str, spki_der: &[u8]) -> Result<NoteKey, NoteError> {
        if !valid_key_name(name) {
            return Err(NoteError::InvalidKeyName {
                name: name.to_owned(),
            });
        }
        let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|_| {
            NoteError::UnsupportedKey {
                reason: "not a DER SubjectPublicKeyInfo",
            }
        })?;
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<spki::ObjectIdentifier>().ok());
        let algorithm = match (spki.algorithm.oid, curve) {
            (sig::EC_PUBLIC_KEY, Some(sig::SECP256R1)) => SignatureAlgorithm::EcdsaP256Sha256,
            (sig::EC_PUBLIC_KEY, Some(sig::SECP384R1)) => SignatureAlgorithm::EcdsaP384Sha384,
            (sig::RSA_ENCRYPTION, _) => SignatureAlgorithm::RsaPkcs1Sha256,
            _ => {
                return Err(NoteError::UnsupportedKey {
                    reason: "only ECDSA P-256, ECDSA P-384 and RSA keys sign notes",
                })
            }
        };
        let key_id = match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                let mut id = [0u8; 4];
                id.copy_from_slice(&Sha256::digest(spki_der)[..4]);
                id
            }
            other => {
                let mut signature_type = vec![TYPE_UNASSIGNED];
                signature_type.extend_from_slice(unassigned_identifier(other));
                key_id(name, &signature_type, spki_der)
            }
        };
        Ok(NoteKey {
            name: name.to_owned(),
            spki_der: spki_der.to_vec(),
            algorithm,
            key_id,
        })
    }

    /// Parses a verifier key as [`NoteKey::verifier_key`] prints it: type `0x02`
    /// followed by the DER SubjectPublicKeyInfo, or type `0xff`, one of shuin's
    /// identifiers and the SubjectPublicKeyInfo. The key ID must be the key's.
    ///
    /// # Errors
    ///
    /// [`NoteError::MalformedVerifierKey`], [`NoteError::InvalidKeyName`] and
    /// [`NoteError::UnsupportedKey`].
    pub fn from_verifier_key(vkey: &str) -> Result<NoteKey, NoteError> {
        let malformed = |reason| NoteError::MalformedVerifierKey { reason };
        let parts = VerifierKeyParts::parse(vkey).map_err(malformed)?;
        let spki_der = match parts.material.split_first() {
            Some((&TYPE_ECDSA_SHA256, spki)) => spki,
            Some((&TYPE_UNASSIGNED, rest)) => [
                SignatureAlgorithm::EcdsaP384Sha384,
                SignatureAlgorithm::RsaPkcs1Sha256,
            ]
            .into_iter()
            .find_map(|a| rest.strip_prefix(unassigned_identifier(a)))
            .ok_or(malformed("the type 0xff identifier is not one of shuin's"))?,
            _ => return Err(malformed("the signature type is not 0x02 or 0xff")),
        };
        let key = NoteKey::from_spki(parts.name, spki_der)?;
        if key.verifier_key() != vkey.trim_end() {
            return Err(malformed(
                "the key ID or signature type does not match the name and key",
            ));
        }
        Ok(key)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The key ID as 8 lowercase hex digits.
    pub fn key_id_hex(&self) -> String {
        hex::encode(self.key_id)
    }

    /// The signature algorithm the key's signer must use.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The signature type byte (`0x02` or `0xff`).
    pub fn signature_type(&self) -> u8 {
        match self.algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => TYPE_ECDSA_SHA256,
            _ => TYPE_UNASSIGNED,
        }
    }

    /// The verifier key string `<name>+<key ID hex>+<base64(type || SPKI DER)>` as the
    /// golang.org/x/mod/sumdb/note and transparency-dev tools read it (for type `0xff`,
    /// the identifier follows the type byte).
    pub fn verifier_key(&self) -> String {
        let mut bytes = vec![self.signature_type()];
        if self.signature_type() == TYPE_UNASSIGNED {
            bytes.extend_from_slice(unassigned_identifier(self.algorithm));
        }
        bytes.extend_from_slice(&self.spki_der);
        format!(
            "{}+{}+{}",
            self.name,
            self.key_id_hex(),
            BASE64.encode(bytes)
        )
    }

    /// Signs `text` (which must end in a newline) with `sign`, which must produce a
    /// signature of [`NoteKey::algorithm`] over the whole text, as
    /// `shuin_keys::Signer::sign` does.
    ///
    /// # Errors
    ///
    /// Whatever `sign` returns.
    pub fn sign<E>(
        &self,
        text: &str,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<NoteSignature, E> {
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: sign(text.as_bytes())?,
        })
    }

    /// Checks that `note` carries at least one signature by this key and that every
    /// signature with this key's name and ID verifies. Signatures by other keys are
    /// ignored, as the specification requires.
    ///
    /// # Errors
    ///
    /// [`NoteError::NotSignedByKey`] and [`NoteError::InvalidSignature`].
    pub fn verify(&self, note: &SignedNote) -> Result<(), NoteError> {
        let mut found = false;
        for signature in &note.signatures {
            if signature.name != self.name || signature.key_id != self.key_id {
                continue;
            }
            found = true;
            let oid = self.algorithm.algorithm_identifier().oid;
            sig::verify(
                &self.spki_der,
                oid,
                note.text.as_bytes(),
                &signature.signature,
            )
            .map_err(|_| NoteError::InvalidSignature {
                name: self.name.clone(),
                key_id_hex: self.key_id_hex(),
            })?;
        }
        if found {
            Ok(())
        } else {
            Err(NoteError::NotSignedByKey {
                name: self.name.clone(),
                key_id_hex: self.key_id_hex(),
            })
        }
    }
}

fn unassigned_identifier(algorithm: SignatureAlgorithm) -> &'static [u8] {
    match algorithm {
        SignatureAlgorithm::EcdsaP384Sha384 => b"shuin-note/ecdsa-p384-sha384",
        _ => b"shuin-note/rsa-pkcs1-sha256",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    const EXAMPLE: &str = "Ognuno sta solo\n\ned \u{e8} subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";

    #[test]
    fn the_specification_example_parses_and_round_trips() {
        let note = SignedNote::parse(EXAMPLE).unwrap();
        assert_eq!(note.text, "Ognuno sta solo\n\ned \u{e8} subito sera.\n");
        assert_eq!(note.signatures.len(), 1);
        assert_eq!(note.signatures[0].name, "quasimodo.example/salvatore");
        assert_eq!(note.signatures[0].signature.len(), 64);
        assert_eq!(note.encode(), EXAMPLE);
    }

    #[test]
    fn malformed_notes_are_refused() {
        for (text, why) in [
            ("no separator\n", "separator"),
            ("text\n\n", "no signatures"),
            ("text\n\n\u{2014} name AAAAAAA=", "no final newline"),
            ("text\n\n- name AAAAAAA=\n", "hyphen instead of em dash"),
            ("text\n\n\u{2014} nameAAAAAAA=\n", "no space"),
            ("text\n\n\u{2014} a+b AAAAAAA=\n", "plus in name"),
            ("text\n\n\u{2014}  AAAAAAA=\n", "empty name"),
            ("text\n\n\u{2014} name AAAA\n", "too short"),
            ("text\n\n\u{2014} name %%%%\n", "not base64"),
            ("te\rxt\n\n\u{2014} name AAAAAAA=\n", "control character"),
        ] {
            assert!(SignedNote::parse(text).is_err(), "{why}");
        }
        let many = format!(
            "text\n\n{}",
            "\u{2014} name AAAAAAA=\n".repeat(MAX_SIGNATURES + 1)
        );
        assert!(matches!(
            SignedNote::parse(&many),
            Err(NoteError::TooManySignatures { .. })
        ));
    }

    #[test]
    fn key_names_are_checked() {
        assert!(matches!(
            NoteKey::from_spki("a b", &[]),
            Err(NoteError::InvalidKeyName { .. })
        ));
        assert!(matches!(
            NoteKey::from_spki("ok", b"not der"),
            Err(NoteError::UnsupportedKey { .. })
        ));
    }
}
