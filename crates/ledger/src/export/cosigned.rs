//! Witnesses' cosignatures in an export: each `checkpoints/<size>.note` carries, after
//! the audit key's signature, the cosignature lines the instance obtained from its
//! witnesses ([`crate::cosignature`]). Given the witnesses' verifier keys and a quorum K,
//! [`verify_export_cosignatures`] checks every line by those keys and finds the
//! checkpoints that are final (cosigned by at least K of them).
//!
//! Run it after [`super::verify_export`], which establishes that every note is a
//! checkpoint signed by the audit key that the entries match.

use std::path::{Path, PathBuf};

use crate::cosignature::{verified_cosigners, CosignatureError, WitnessKey};
use crate::note::SignedNote;
use crate::Checkpoint;

use super::CHECKPOINTS_DIR;

/// What the cosignatures of an export established.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CosignatureReport {
    /// The witnesses given.
    pub witnesses: usize,
    /// The quorum required.
    pub quorum: usize,
    /// Cosignature lines by the given witnesses, all verified.
    pub cosignatures: usize,
    /// Checkpoints cosigned by at least `quorum` of them.
    pub final_checkpoints: usize,
    /// The size of the largest final checkpoint: the entries up to it were seen by the
    /// quorum, so no other history of them can have been shown to anyone they serve.
    pub newest_final_size: u64,
}

/// Why the cosignatures do not establish a final checkpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CosignatureCheckError {
    /// The checkpoint directory or a note could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A note does not parse (verify the export first).
    #[error("{file}: not a checkpoint note")]
    Note {
        /// The file.
        file: String,
    },
    /// A line by one of the given witnesses does not verify.
    #[error("{file}: {source}")]
    Cosignature {
        /// The file.
        file: String,
        /// The failing witness.
        #[source]
        source: CosignatureError,
    },
    /// No checkpoint has `quorum` cosignatures.
    #[error("no checkpoint is cosigned by {quorum} of the {witnesses} witnesses given (at most {best}): no checkpoint is final")]
    NotFinal {
        /// The quorum.
        quorum: usize,
        /// The witnesses given.
        witnesses: usize,
        /// The most cosignatures any checkpoint has.
        best: usize,
    },
}

/// The witnesses an auditor trusts, and how many of them make a checkpoint final.
#[derive(Debug)]
pub struct WitnessPolicy {
    keys: Vec<WitnessKey>,
    quorum: usize,
}

/// Why the witnesses given to `ledger verify --export` could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyReadError {
    /// A `--witness-key` (a verifier key, or a file holding one) does not read.
    #[error("--witness-key {given}: {source}")]
    Key {
        /// As given.
        given: String,
        /// Why.
        #[source]
        source: CosignatureError,
    },
    /// The quorum is out of range.
    #[error("--quorum: {0}")]
    Quorum(#[source] QuorumError),
}

/// A quorum that no checkpoint could meet, or that means nothing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the quorum must be between 1 and the {witnesses} witness key(s) given, not {quorum}")]
pub struct QuorumError {
    /// The quorum asked for.
    pub quorum: usize,
    /// The witnesses given.
    pub witnesses: usize,
}

impl WitnessPolicy {
    /// `keys` with `quorum` of them (all of them when `None`).
    ///
    /// # Errors
    ///
    /// [`QuorumError`] for a quorum of 0 or beyond the keys given.
    pub fn new(keys: Vec<WitnessKey>, quorum: Option<usize>) -> Result<Self, QuorumError> {
        let quorum = quorum.unwrap_or(keys.len());
        if quorum == 0 || quorum > keys.len() {
            return Err(QuorumError {
                quorum,
                witnesses: keys.len(),
            });
        }
        Ok(WitnessPolicy { keys, quorum })
    }

    /// Reads each of `given` (a verifier key, or a file holding one); `None` when none is
    /// given. The quorum defaults to all of them.
    ///
    /// # Errors
    ///
    /// [`PolicyReadError`] for a key that does not read or a quorum out of range.
    pub fn read(given: &[String], quorum: Option<usize>) -> Result<Option<Self>, PolicyReadError> {
        if given.is_empty() {
            return Ok(None);
        }
        let keys = given
            .iter()
            .map(|value| {
                let text = match std::fs::read_to_string(value) {
                    Ok(text) => text.trim().to_owned(),
                    Err(_) => value.clone(),
                };
                WitnessKey::from_verifier_key(&text).map_err(|source| PolicyReadError::Key {
                    given: value.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys, quorum)
            .map(Some)
            .map_err(PolicyReadError::Quorum)
    }

    /// Checks the cosignatures on the checkpoints of the export in `dir`
    /// ([`verify_export_cosignatures`]).
    ///
    /// # Errors
    ///
    /// [`CosignatureCheckError`].
    pub fn check(&self, dir: &Path) -> Result<CosignatureReport, CosignatureCheckError> {
        verify_export_cosignatures(dir, &self.keys, self.quorum)
    }
}

/// Checks the cosignatures by `witnesses` on every checkpoint of the export in `dir`:
/// each line by one of them must verify, and at least one checkpoint must be final
/// (cosigned by `quorum` of them).
///
/// # Errors
///
/// [`CosignatureCheckError`].
pub fn verify_export_cosignatures(
    dir: &Path,
    witnesses: &[WitnessKey],
    quorum: usize,
) -> Result<CosignatureReport, CosignatureCheckError> {
    let mut report = CosignatureReport {
        witnesses: witnesses.len(),
        quorum,
        cosignatures: 0,
        final_checkpoints: 0,
        newest_final_size: 0,
    };
    let mut best = 0;
    for (file, text) in checkpoint_notes(&dir.join(CHECKPOINTS_DIR))? {
        let note = SignedNote::parse(&text)
            .map_err(|_| CosignatureCheckError::Note { file: file.clone() })?;
        let checkpoint = Checkpoint::parse_body(&note.text)
            .map_err(|_| CosignatureCheckError::Note { file: file.clone() })?;
        let cosigners = verified_cosigners(&note, witnesses)
            .map_err(|source| CosignatureCheckError::Cosignature {
                file: file.clone(),
                source,
            })?
            .len();
        report.cosignatures += cosigners;
        best = best.max(cosigners);
        if cosigners >= quorum {
            report.final_checkpoints += 1;
            report.newest_final_size = report.newest_final_size.max(checkpoint.size);
        }
    }
    if report.final_checkpoints == 0 {
        return Err(CosignatureCheckError::NotFinal {
            quorum,
            witnesses: witnesses.len(),
            best,
        });
    }
    Ok(report)
}

fn checkpoint_notes(dir: &Path) -> Result<Vec<(String, String)>, CosignatureCheckError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| CosignatureCheckError::Io { path, source }
    };
    let mut notes = Vec::new();
    for item in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = item.map_err(io(dir))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".note") {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            notes.push((format!("{CHECKPOINTS_DIR}/{name}"), text));
        }
    }
    notes.sort();
    Ok(notes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

    fn witness(name: &str, seed: u8) -> (Ed25519KeyPair, WitnessKey) {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap();
        let public = <[u8; 32]>::try_from(pair.public_key().as_ref()).unwrap();
        (pair, WitnessKey::new(name, public).unwrap())
    }

    fn line(pair: &Ed25519KeyPair, key: &WitnessKey, text: &str) -> String {
        key.cosign::<CosignatureError>(text, 1_800_000_000, |m| {
            Ok(<[u8; 64]>::try_from(pair.sign(m).as_ref()).unwrap())
        })
        .unwrap()
        .line()
    }

    #[test]
    fn witness_keys_are_read_as_given_or_from_files() {
        let key = witness("w.example/1", 1).1;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w1.vkey");
        std::fs::write(&file, format!("{}\n", key.verifier_key())).unwrap();
        let given = vec![key.verifier_key(), file.display().to_string()];
        let policy = WitnessPolicy::read(&given, None).unwrap().unwrap();
        assert_eq!((policy.keys.len(), policy.quorum), (2, 2));
        assert!(WitnessPolicy::read(&[], Some(3)).unwrap().is_none());
        let error = WitnessPolicy::read(&["nonsense".into()], None).unwrap_err();
        assert!(error.to_string().starts_with("--witness-key nonsense: "));
        let error = WitnessPolicy::read(&given, Some(3)).unwrap_err();
        assert!(error.to_string().starts_with("--quorum: "));
    }

    #[test]
    fn a_quorum_is_between_one_and_the_witnesses() {
        let keys = || vec![witness("w.example/1", 1).1, witness("w.example/2", 2).1];
        assert_eq!(WitnessPolicy::new(keys(), None).unwrap().quorum, 2);
        assert_eq!(WitnessPolicy::new(keys(), Some(1)).unwrap().quorum, 1);
        let refused = |quorum| WitnessPolicy::new(keys(), Some(quorum)).unwrap_err();
        assert_eq!(
            refused(0),
            QuorumError {
                quorum: 0,
                witnesses: 2
            }
        );
        assert_eq!(
            refused(3),
            QuorumError {
                quorum: 3,
                witnesses: 2
            }
        );
    }

    #[test]
    fn a_quorum_of_valid_cosignatures_makes_a_checkpoint_final() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(CHECKPOINTS_DIR)).unwrap();
        let (p1, w1) = witness("w.example/1", 1);
        let (p2, w2) = witness("w.example/2", 2);
        let text = |size: u64| {
            Checkpoint {
                origin: "o.example/l".into(),
                size,
                root: [3; 32],
            }
            .body()
        };
        let log_line = "\u{2014} o.example/l AAAAAAA=\n";
        let write = |size: u64, lines: &str| {
            std::fs::write(
                dir.path()
                    .join(CHECKPOINTS_DIR)
                    .join(format!("{size:020}.note")),
                format!("{}\n{log_line}{lines}", text(size)),
            )
            .unwrap();
        };
        write(2, &line(&p1, &w1, &text(2)));
        write(
            5,
            &format!("{}{}", line(&p1, &w1, &text(5)), line(&p2, &w2, &text(5))),
        );
        write(9, "");
        let keys = [w1.clone(), w2.clone()];
        let report = verify_export_cosignatures(dir.path(), &keys, 2).unwrap();
        assert_eq!(
            (
                report.final_checkpoints,
                report.newest_final_size,
                report.cosignatures
            ),
            (1, 5, 3)
        );
        let report = verify_export_cosignatures(dir.path(), &keys, 1).unwrap();
        assert_eq!((report.final_checkpoints, report.newest_final_size), (2, 5));
        let (_, w3) = witness("w.example/3", 3);
        assert!(matches!(
            verify_export_cosignatures(dir.path(), &[w3], 1),
            Err(CosignatureCheckError::NotFinal { best: 0, .. })
        ));
        // A cosignature of another checkpoint copied onto this one fails.
        write(9, &line(&p1, &w1, &text(5)));
        assert!(matches!(
            verify_export_cosignatures(dir.path(), &keys, 1),
            Err(CosignatureCheckError::Cosignature { .. })
        ));
    }
}
