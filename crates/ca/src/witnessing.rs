//! Checkpoints leave the building: each new checkpoint is submitted to the configured
//! witnesses (C2SP tlog-witness `add-checkpoint`), and their cosignature lines are added
//! to the stored checkpoint note (docs/ledger.md, "Witnesses").
//!
//! - The request carries a consistency proof from the size the witness last cosigned
//!   (as far as this process knows: zero at first). A witness that answers 409 gives its
//!   size in the body; the request is made once more from there.
//! - Every cosignature is checked with the witness's configured key before it is kept.
//! - The lines are added to the stored note by compare and swap, so the note is the
//!   artefact: the checkpoint, the audit key's signature and the witnesses'.
//! - A witness that is down or refuses is logged (a refusal of a checkpoint the audit key
//!   signed is an alarm: the witness has seen another history) and tried again at the
//!   next checkpoint. Nothing here ever holds up issuance: it runs in its own task.
//! - A checkpoint is final once `quorum` witnesses have cosigned it.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use shuin_ledger::cosignature::verified_cosigners;
use shuin_ledger::{merkle, Checkpoint, SignedNote, WitnessKey};
use shuin_store::{CheckpointWriter, StoredCheckpoint};
use std::time::Duration;

/// One configured witness.
#[derive(Debug, Clone)]
pub struct WitnessTarget {
    /// The submission prefix, e.g. `https://witness.example.jp/w1` (add-checkpoint is
    /// posted under it).
    pub url: String,
    /// Its cosigning key.
    pub key: WitnessKey,
}

/// The witnesses of an instance and how many make a checkpoint final.
#[derive(Debug)]
pub struct Witnessing {
    targets: Vec<WitnessTarget>,
    quorum: usize,
    /// The size each witness last cosigned, as far as this process knows; the lock also
    /// makes submissions one at a time, in the order checkpoints are made.
    known: tokio::sync::Mutex<Vec<u64>>,
}

/// What one witness answered.
enum Answer {
    Cosigned(String),
    Conflict(u64),
    Refused(u16, String),
}

impl Witnessing {
    /// Witnessing by `targets`, final at `quorum` cosignatures.
    pub fn new(targets: Vec<WitnessTarget>, quorum: usize) -> Witnessing {
        let known = tokio::sync::Mutex::new(vec![0; targets.len()]);
        Witnessing {
            targets,
            quorum,
            known,
        }
    }

    /// How many cosignatures make a checkpoint final.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// The configured witnesses' keys.
    pub fn keys(&self) -> Vec<WitnessKey> {
        self.targets.iter().map(|t| t.key.clone()).collect()
    }

    /// Submits the stored checkpoint `stored` to every witness that has not cosigned it,
    /// and adds the cosignatures obtained to its stored note; returns how many of the
    /// configured witnesses have cosigned it now. Failures are logged, never returned.
    pub async fn submit<S>(&self, store: &S, stored: &StoredCheckpoint) -> usize
    where
        S: CheckpointWriter + ?Sized,
    {
        let mut known = self.known.lock().await;
        let Some((note, checkpoint)) = parse(&stored.note) else {
            tracing::warn!(size = stored.size, "a stored checkpoint does not parse");
            return 0;
        };
        let keys = self.keys();
        let before = verified_cosigners(&note, &keys).map_or(0, |found| found.len());
        if self.targets.iter().all(|t| t.key.verify(&note).is_ok()) {
            return before;
        }
        let leaves = match store.leaf_hashes(checkpoint.size).await {
            Ok(leaves) => leaves,
            Err(e) => {
                tracing::warn!(error = %e, "reading leaf hashes for the witnesses");
                return before;
            }
        };
        // All witnesses at once: one that is slow or down delays none of the others.
        let asks = self
            .targets
            .iter()
            .zip(known.iter_mut())
            .filter(|(target, _)| target.key.verify(&note).is_err())
            .map(|(target, old)| self.ask(target, old, &leaves, &note, &checkpoint));
        let lines: String = futures_util::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .collect();
        if lines.is_empty() {
            return before;
        }
        let cosigned = format!("{}{lines}", stored.note);
        // Only a note that still parses and verifies replaces the stored one.
        if parse(&cosigned).is_none_or(|(note, _)| verified_cosigners(&note, &keys).is_err()) {
            tracing::warn!(
                size = stored.size,
                "the witnesses' cosignatures would make the checkpoint unreadable; not stored"
            );
            return before;
        }
        if let Err(e) = store
            .add_cosignatures(stored.size, &stored.note, &cosigned)
            .await
        {
            tracing::warn!(size = stored.size, error = %e, "storing the witnesses' cosignatures");
            return before;
        }
        let count = parse(&cosigned)
            .and_then(|(note, _)| verified_cosigners(&note, &keys).ok())
            .map_or(0, |found| found.len());
        if count >= self.quorum {
            tracing::info!(
                size = stored.size,
                cosigners = count,
                quorum = self.quorum,
                "the ledger checkpoint is final"
            );
        }
        count
    }

    /// One witness, from the size it is known to hold (updated): its verified
    /// cosignature line(s), or `None` (logged).
    async fn ask(
        &self,
        target: &WitnessTarget,
        old: &mut u64,
        leaves: &[[u8; 32]],
        note: &SignedNote,
        checkpoint: &Checkpoint,
    ) -> Option<String> {
        for _attempt in 0..2 {
            if *old > checkpoint.size {
                tracing::info!(
                    witness = target.key.name(),
                    holds = *old,
                    size = checkpoint.size,
                    "the witness holds a newer checkpoint"
                );
                return None;
            }
            let body = request_body(*old, leaves, checkpoint.size, &note.encode())?;
            match post(&target.url, body).await {
                Ok(Answer::Cosigned(lines)) => {
                    let line = verified_lines(&target.key, note, &lines);
                    if line.is_some() {
                        *old = checkpoint.size;
                    } else {
                        tracing::warn!(
                            witness = target.key.name(),
                            "the witness's answer holds no valid cosignature by its key"
                        );
                    }
                    return line;
                }
                Ok(Answer::Conflict(size)) => *old = size,
                Ok(Answer::Refused(status, text)) => {
                    tracing::error!(witness = target.key.name(), status, answer = %text.trim_end(), size = checkpoint.size, "a witness refused a checkpoint signed by the audit key");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(witness = target.key.name(), error = %e, "a witness is unreachable; it is tried again at the next checkpoint");
                    return None;
                }
            }
        }
        None
    }
}

/// Follows a store whose checkpoints are made elsewhere (an RA node's book, signed by the
/// CA over its link): its newest checkpoint is submitted whenever it is newer than the
/// last one submitted, one submission at a time, in a task of its own so that a witness
/// that is down delays nothing; a failed one is tried again with the next checkpoint.
pub struct CheckpointFollower<S: ?Sized> {
    witnessing: std::sync::Arc<Witnessing>,
    store: std::sync::Arc<S>,
    /// The size of the newest checkpoint submitted (or being submitted).
    submitted: u64,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl<S: CheckpointWriter + ?Sized + 'static> CheckpointFollower<S> {
    /// Follows `store`'s checkpoints for `witnessing`.
    pub fn new(witnessing: Witnessing, store: std::sync::Arc<S>) -> Self {
        CheckpointFollower {
            witnessing: std::sync::Arc::new(witnessing),
            store,
            submitted: 0,
            running: None,
        }
    }

    /// Submits the newest stored checkpoint if it is newer than the last submitted and no
    /// submission is still running.
    pub async fn submit_newest(&mut self) {
        if self
            .running
            .as_ref()
            .is_some_and(|task| !task.is_finished())
        {
            return;
        }
        let newest = match self.store.latest_checkpoint().await {
            Ok(Some(newest)) if newest.size > self.submitted => newest,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "the newest checkpoint cannot be read for the witnesses");
                return;
            }
        };
        self.submitted = newest.size;
        let (witnessing, store) = (self.witnessing.clone(), self.store.clone());
        self.running = Some(tokio::spawn(async move {
            witnessing.submit(store.as_ref(), &newest).await;
        }));
    }
}

fn parse(note: &str) -> Option<(SignedNote, Checkpoint)> {
    let note = SignedNote::parse(note).ok()?;
    let checkpoint = Checkpoint::parse_body(&note.text).ok()?;
    Some((note, checkpoint))
}

/// The add-checkpoint body: old size, proof lines, a blank line, the checkpoint.
fn request_body(old: u64, leaves: &[[u8; 32]], size: u64, note: &str) -> Option<String> {
    let proof = merkle::consistency_proof(leaves, old, size).ok()?;
    let mut body = format!("old {old}\n");
    for hash in proof {
        body.push_str(&BASE64.encode(hash));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    Some(body)
}

/// The newest cosignature of `note` by `key` in `answer`, as one line: a witness (or
/// anyone between it and the CA) that answers with many lines adds one to the note.
fn verified_lines(key: &WitnessKey, note: &SignedNote, answer: &str) -> Option<String> {
    let lines = SignedNote::parse(&format!("{}\n{answer}", note.text)).ok()?;
    lines
        .signatures
        .iter()
        .filter(|s| s.name == key.name() && s.key_id == key.key_id())
        .filter_map(|s| {
            let alone = SignedNote {
                text: note.text.clone(),
                signatures: vec![s.clone()],
            };
            key.verify(&alone).ok().map(|c| (c.timestamp, s.line()))
        })
        .max_by_key(|(timestamp, _)| *timestamp)
        .map(|(_, line)| line)
}

async fn post(url: &str, body: String) -> Result<Answer, String> {
    let url = format!("{}/add-checkpoint", url.trim_end_matches('/'));
    tokio::task::spawn_blocking(move || {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut answer = agent
            .post(&url)
            .header("Content-Type", "text/plain")
            .send(body.as_bytes())
            .map_err(|e| e.to_string())?;
        let status = answer.status().as_u16();
        let text = answer
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok(match status {
            200 => Answer::Cosigned(text),
            // Too many requests: not a refusal of the checkpoint; tried again later.
            429 => return Err(format!("rate limited: {}", text.trim_end())),
            409 => match text.strip_suffix('\n').and_then(|t| t.parse().ok()) {
                Some(size) => Answer::Conflict(size),
                None => Answer::Refused(status, text),
            },
            _ => Answer::Refused(status, text),
        })
    })
    .await
    .map_err(|e| e.to_string())?
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

    fn line(pair: &Ed25519KeyPair, key: &WitnessKey, text: &str, at: u64) -> String {
        key.cosign::<shuin_ledger::cosignature::CosignatureError>(text, at, |m| {
            Ok(<[u8; 64]>::try_from(pair.sign(m).as_ref()).unwrap())
        })
        .unwrap()
        .line()
    }

    #[test]
    fn a_witness_answer_adds_one_line_its_newest_valid_cosignature() {
        let text = "o.example/log\n3\nAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=\n";
        let note = SignedNote {
            text: text.into(),
            signatures: Vec::new(),
        };
        let (pair, key) = witness("w.example/1", 1);
        let (other_pair, other) = witness("w.example/2", 2);
        let newest = line(&pair, &key, text, 3);
        let forged = line(&pair, &key, "another text\n", 9);
        let answer = format!(
            "{}{}{newest}{}{forged}",
            line(&pair, &key, text, 1),
            line(&pair, &key, text, 2),
            line(&other_pair, &other, text, 5),
        );
        assert_eq!(verified_lines(&key, &note, &answer), Some(newest));
        assert_eq!(verified_lines(&key, &note, &forged), None);
        assert_eq!(verified_lines(&key, &note, "not a signature line\n"), None);
    }
}
