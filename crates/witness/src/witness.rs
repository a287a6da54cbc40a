//! The witness: cosigns a checkpoint only if its log signed it and it extends the latest
//! checkpoint the witness cosigned for that log (C2SP tlog-witness, `add-checkpoint`).
//!
//! The checks, in the specification's order, each with a stable reason code:
//!
//! | check | refusal | HTTP |
//! |---|---|---|
//! | the body parses | `malformed_request` | 400 |
//! | the origin is a configured log | `unknown_log` | 404 |
//! | a configured log key signed it, and no signature by one fails | `log_signature_missing`, `log_signature_invalid` | 403 |
//! | old size ≤ checkpoint size | `old_size_beyond_checkpoint` | 400 |
//! | old size = the size of the latest cosigned checkpoint | `old_size_mismatch` (body: that size) | 409 |
//! | a size-0 checkpoint has the empty tree's root | `empty_tree_root_invalid` | 422 |
//! | the consistency proof verifies (empty from size 0; equal roots at equal sizes) | `consistency_proof_invalid` | 422 |
//!
//! Checks and the durable update run under one lock per log, so two requests for one
//! log never interleave (the rollback race the specification describes cannot happen),
//! and the new state is on disk before the cosignature is returned.

use shuin_core::Clock;
use shuin_ledger::cosignature::CosignatureError;
use shuin_ledger::{merkle, Checkpoint, NoteError, NoteKey, SignedNote, WitnessKey};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use crate::key::WitnessSigner;
use crate::request::AddCheckpoint;
use crate::state::{origin_hash, Latest, StateDir, StateError};

/// Why a checkpoint was not cosigned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The request body is malformed.
    #[error(transparent)]
    Malformed(#[from] crate::request::Malformed),
    /// The origin is not a configured log.
    #[error("the log {origin:?} is not witnessed here")]
    UnknownLog {
        /// The origin.
        origin: String,
    },
    /// No signature by a configured key of the log.
    #[error("the checkpoint carries no signature by a key of its log")]
    LogSignatureMissing,
    /// A signature with a configured key's name and ID fails.
    #[error("a signature by a key of the log does not verify")]
    LogSignatureInvalid,
    /// The old size is larger than the checkpoint's.
    #[error("old size {old_size} is larger than the checkpoint's size {size}")]
    OldSizeBeyondCheckpoint {
        /// The request's old size.
        old_size: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The old size is not the size of the latest checkpoint cosigned.
    #[error("old size {old_size} is not {latest}, the size of the latest checkpoint cosigned")]
    OldSizeMismatch {
        /// The request's old size.
        old_size: u64,
        /// The latest cosigned size (the 409 body).
        latest: u64,
    },
    /// A checkpoint of size 0 whose root is not the empty tree's.
    #[error("a checkpoint of size 0 must have the empty tree's root")]
    EmptyTreeRootInvalid,
    /// The consistency proof does not verify (or the roots differ at equal sizes, or a
    /// proof from size 0 is not empty): the log forked or the client erred.
    #[error(
        "the checkpoint of size {size} is not consistent with the latest cosigned (size {latest})"
    )]
    ConsistencyProofInvalid {
        /// The checkpoint's size.
        size: u64,
        /// The latest cosigned size.
        latest: u64,
    },
    /// The new state could not be written; nothing was cosigned.
    #[error("recording the new checkpoint: {0}")]
    State(#[source] StateError),
    /// The cosignature made does not verify with the witness's own key.
    #[error("the cosignature made does not verify")]
    Cosign,
}

impl Refusal {
    /// The stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed_request",
            Refusal::UnknownLog { .. } => "unknown_log",
            Refusal::LogSignatureMissing => "log_signature_missing",
            Refusal::LogSignatureInvalid => "log_signature_invalid",
            Refusal::OldSizeBeyondCheckpoint { .. } => "old_size_beyond_checkpoint",
            Refusal::OldSizeMismatch { .. } => "old_size_mismatch",
            Refusal::EmptyTreeRootInvalid => "empty_tree_root_invalid",
            Refusal::ConsistencyProofInvalid { .. } => "consistency_proof_invalid",
            Refusal::State(_) => "state_not_recorded",
            Refusal::Cosign => "cosignature_failed",
        }
    }
}

/// One witnessed log: its keys and its latest cosigned checkpoint, behind its own lock.
#[derive(Debug)]
struct Log {
    keys: Vec<NoteKey>,
    latest: Mutex<Option<Latest>>,
}

/// A witness over a fixed set of logs.
#[derive(Debug)]
pub struct Witness {
    signer: WitnessSigner,
    logs: BTreeMap<String, Log>,
    by_hash: BTreeMap<String, String>,
    state: StateDir,
    clock: Arc<dyn Clock>,
}

impl Witness {
    /// A witness cosigning with `signer` for the logs in `logs` (origin to keys), its
    /// state in `state`, read now.
    ///
    /// # Errors
    ///
    /// [`StateError`] if a log's state cannot be read.
    pub fn new(
        signer: WitnessSigner,
        logs: BTreeMap<String, Vec<NoteKey>>,
        state: StateDir,
        clock: Arc<dyn Clock>,
    ) -> Result<Witness, StateError> {
        let mut witnessed = BTreeMap::new();
        let mut by_hash = BTreeMap::new();
        for (origin, keys) in logs {
            let latest = state.load(&origin)?;
            by_hash.insert(origin_hash(&origin), origin.clone());
            witnessed.insert(
                origin,
                Log {
                    keys,
                    latest: Mutex::new(latest),
                },
            );
        }
        Ok(Witness {
            signer,
            logs: witnessed,
            by_hash,
            state,
            clock,
        })
    }

    /// The witness's public key.
    pub fn key(&self) -> &WitnessKey {
        self.signer.key()
    }

    /// Handles an add-checkpoint body: on success, the cosignature line(s) to return,
    /// each ending in a newline, after the new state is on disk. Blocking (it writes and
    /// flushes a file): async callers use `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// A [`Refusal`]; nothing is cosigned or recorded.
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<String, Refusal> {
        let request = AddCheckpoint::parse(body)?;
        let checkpoint = &request.checkpoint;
        let log = self
            .logs
            .get(&checkpoint.origin)
            .ok_or_else(|| Refusal::UnknownLog {
                origin: checkpoint.origin.clone(),
            })?;
        let log_signatures = verify_log_signatures(&log.keys, &request.note)?;
        if request.old_size > checkpoint.size {
            return Err(Refusal::OldSizeBeyondCheckpoint {
                old_size: request.old_size,
                size: checkpoint.size,
            });
        }
        // The lock is held from the check to the durable update. A poisoned lock only
        // means another request panicked before writing; the state it guards is intact.
        let mut latest = log.latest.lock().unwrap_or_else(|p| p.into_inner());
        let result = check_extends(latest.as_ref(), &request);
        match &result {
            // The protocol's normal retry: the log learns the size this witness holds.
            Err(refusal @ Refusal::OldSizeMismatch { .. }) => tracing::info!(
                origin = %checkpoint.origin,
                size = checkpoint.size,
                code = refusal.code(),
                "told the log the size this witness holds"
            ),
            Err(refusal) => tracing::warn!(
                origin = %checkpoint.origin,
                size = checkpoint.size,
                code = refusal.code(),
                note = %request.note.encode(),
                "refused a validly signed checkpoint"
            ),
            Ok(_) => {}
        }
        result?;
        let line = self.cosign(&request.note.text)?;
        let mut kept = SignedNote {
            text: request.note.text.clone(),
            signatures: log_signatures,
        };
        kept.signatures.push(line.clone());
        let stored = self
            .state
            .store(checkpoint, &kept.encode())
            .map_err(Refusal::State)?;
        *latest = Some(stored);
        tracing::info!(origin = %checkpoint.origin, size = checkpoint.size, "cosigned a checkpoint");
        Ok(line.line())
    }

    fn cosign(&self, text: &str) -> Result<shuin_ledger::note::NoteSignature, Refusal> {
        let timestamp = self
            .clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let line = self
            .key()
            .cosign::<CosignatureError>(text, timestamp, |message| Ok(self.signer.sign(message)))
            .map_err(|_| Refusal::Cosign)?;
        // Check the signature before anyone relies on it.
        let made = SignedNote {
            text: text.to_owned(),
            signatures: vec![line.clone()],
        };
        self.key().verify(&made).map_err(|_| Refusal::Cosign)?;
        Ok(line)
    }

    /// The latest cosigned checkpoint (with the log's signatures and the cosignature) of
    /// the log whose origin hashes to `origin_hash` (lowercase hex SHA-256).
    pub fn latest_checkpoint(&self, origin_hash: &str) -> Option<String> {
        let origin = self.by_hash.get(origin_hash)?;
        let log = self.logs.get(origin)?;
        let latest = log.latest.lock().unwrap_or_else(|p| p.into_inner());
        latest.as_ref().map(|l| l.note.clone())
    }
}

/// The note's signatures by the log's keys, all verified; other lines are ignored.
fn verify_log_signatures(
    keys: &[NoteKey],
    note: &SignedNote,
) -> Result<Vec<shuin_ledger::note::NoteSignature>, Refusal> {
    let mut verified = false;
    for key in keys {
        match key.verify(note) {
            Ok(()) => verified = true,
            Err(NoteError::NotSignedByKey { .. }) => {}
            Err(_) => return Err(Refusal::LogSignatureInvalid),
        }
    }
    if !verified {
        return Err(Refusal::LogSignatureMissing);
    }
    Ok(note
        .signatures
        .iter()
        .filter(|s| {
            keys.iter()
                .any(|k| k.name() == s.name && k.key_id() == s.key_id)
        })
        .cloned()
        .collect())
}

/// Whether the request's checkpoint extends `latest` (none: the empty tree).
fn check_extends(latest: Option<&Latest>, request: &AddCheckpoint) -> Result<(), Refusal> {
    let (latest_size, latest_root) = latest.map_or((0, merkle::empty_root()), |l| (l.size, l.root));
    let Checkpoint { size, root, .. } = request.checkpoint;
    if request.old_size != latest_size {
        return Err(Refusal::OldSizeMismatch {
            old_size: request.old_size,
            latest: latest_size,
        });
    }
    if size == 0 && root != merkle::empty_root() {
        return Err(Refusal::EmptyTreeRootInvalid);
    }
    if !merkle::verify_consistency(latest_size, size, &latest_root, &root, &request.proof) {
        return Err(Refusal::ConsistencyProofInvalid {
            size,
            latest: latest_size,
        });
    }
    Ok(())
}
