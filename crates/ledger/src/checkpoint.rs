//! Signed checkpoints: C2SP `tlog-checkpoint` notes (<https://c2sp.org/tlog-checkpoint>)
//! signed by the audit key ([`crate::note`]).
//!
//! The note text is exactly three lines:
//!
//! ```text
//! <origin>                      e.g. shuin.example/ledger
//! <tree size, decimal>          no leading zeros ("0" for the empty tree)
//! <base64 of the root hash>     the RFC 9162 Merkle tree hash MTH(D[size])
//! ```
//!
//! followed by the blank line and the signature line of the audit key, whose key name is
//! the origin. shuin writes no extension lines and refuses checkpoints that carry them.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::note::{NoteError, NoteKey, SignedNote};
use crate::TreeHead;

/// A tree head as a checkpoint names it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Checkpoint {
    /// The log's identity, for example `shuin.example/ledger`.
    pub origin: String,
    /// The number of entries.
    pub size: u64,
    /// The Merkle tree hash of the first `size` entries.
    pub root: [u8; 32],
}

/// Why a checkpoint is not acceptable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The note is malformed or its signature does not verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The note text is not a checkpoint body.
    #[error("the checkpoint text is malformed: {reason}")]
    MalformedBody {
        /// What is wrong.
        reason: &'static str,
    },
}

impl Checkpoint {
    /// The checkpoint for a tree head of the origin `origin`.
    ///
    /// Returns `None` if the head's root is not 64 hex digits.
    pub fn from_head(origin: &str, head: &TreeHead) -> Option<Checkpoint> {
        let mut root = [0u8; 32];
        hex::decode_to_slice(&head.root_hex, &mut root).ok()?;
        Some(Checkpoint {
            origin: origin.to_owned(),
            size: head.size,
            root,
        })
    }

    /// The root hash as lowercase hex.
    pub fn root_hex(&self) -> String {
        hex::encode(self.root)
    }

    /// The note text: origin, size and base64 root, each followed by a newline.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        )
    }

    /// Parses a note text made by [`Checkpoint::body`].
    ///
    /// # Errors
    ///
    /// [`CheckpointError::MalformedBody`] naming the fault.
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let malformed = |reason| CheckpointError::MalformedBody { reason };
        let body = text
            .strip_suffix('\n')
            .ok_or(malformed("it does not end in a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(malformed(
                "it is not exactly three lines (origin, size, root hash)",
            ));
        };
        if origin.is_empty() {
            return Err(malformed("the origin line is empty"));
        }
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size = size
            .parse::<u64>()
            .ok()
            .filter(|_| size_ok)
            .ok_or(malformed(
                "the size line is not a decimal number without leading zeros",
            ))?;
        let decoded = BASE64
            .decode(root)
            .map_err(|_| malformed("the root hash line is not standard base64"))?;
        let root = <[u8; 32]>::try_from(decoded.as_slice())
            .map_err(|_| malformed("the root hash is not 32 bytes"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// Signs the checkpoint with `key`, whose name must be the origin, by calling `sign`
    /// over the note text; returns the signed note.
    ///
    /// # Errors
    ///
    /// Whatever `sign` returns.
    pub fn sign<E>(
        &self,
        key: &NoteKey,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<String, E> {
        let text = self.body();
        let signature = key.sign(&text, sign)?;
        Ok(SignedNote {
            text,
            signatures: vec![signature],
        }
        .encode())
    }

    /// Parses a signed checkpoint and verifies it with `key`.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Note`] for a malformed note or a missing or failing signature,
    /// [`CheckpointError::MalformedBody`] for a malformed body.
    pub fn open(note: &str, key: &NoteKey) -> Result<Checkpoint, CheckpointError> {
        let note = SignedNote::parse(note)?;
        key.verify(&note)?;
        Checkpoint::parse_body(&note.text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_c2sp_format() {
        let checkpoint = Checkpoint {
            origin: "example.com/behind-the-sofa".into(),
            size: 20_852_163,
            root: BASE64
                .decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
                .unwrap()
                .try_into()
                .unwrap(),
        };
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(checkpoint.body(), body);
        assert_eq!(Checkpoint::parse_body(body).unwrap(), checkpoint);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let root = BASE64.encode([7u8; 32]);
        for body in [
            format!("o\n1\n{root}"),
            format!("\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            format!("o\n1\n{}\n", BASE64.encode([7u8; 31])),
            "o\n1\n!!!!\n".to_owned(),
            format!("o\n1\n{root}\nextension\n"),
            "o\n1\n".to_owned(),
        ] {
            assert!(
                matches!(
                    Checkpoint::parse_body(&body),
                    Err(CheckpointError::MalformedBody { .. })
                ),
                "{body:?}"
            );
        }
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n0\n{root}\n"))
                .unwrap()
                .size,
            0
        );
    }
}
