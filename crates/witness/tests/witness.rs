//! The witness through its public API: a toy log signs checkpoints with an ECDSA P-256
//! key (signed-note type 0x02, as shuin's audit key does), and the witness cosigns only
//! what extends what it cosigned before, remembers it across restarts, and survives any
//! input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use shuin_core::FixedClock;
use shuin_ledger::{merkle, Checkpoint, NoteKey, SignedNote};
use shuin_witness::{LogConfig, Refusal, Witness, WitnessConfig};
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

const ORIGIN: &str = "ca.example.jp/ledger";

/// A log: leaves and an audit key.
struct ToyLog {
    leaves: Vec<[u8; 32]>,
    pair: EcdsaKeyPair,
    key: NoteKey,
}

impl ToyLog {
    fn new(origin: &str, leaves: usize, salt: u8) -> ToyLog {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let mut spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
        spki.extend_from_slice(pair.public_key().as_ref());
        let key = NoteKey::from_spki(origin, &spki).unwrap();
        let mut log = ToyLog {
            leaves: vec![],
            pair,
            key,
        };
        log.grow(leaves, salt);
        log
    }

    fn grow(&mut self, count: usize, salt: u8) {
        for _ in 0..count {
            let index = u8::try_from(self.leaves.len() % 256).unwrap();
            self.leaves.push(merkle::leaf_hash(&[salt, index]));
        }
    }

    fn vkey(&self) -> String {
        self.key.verifier_key()
    }

    fn checkpoint(&self, size: usize) -> String {
        self.sign_root(size, merkle::root(&self.leaves[..size]))
    }

    /// A checkpoint of any root, signed with this log's key.
    fn sign_root(&self, size: usize, root: [u8; 32]) -> String {
        let checkpoint = Checkpoint {
            origin: self.key.name().to_owned(),
            size: u64::try_from(size).unwrap(),
            root,
        };
        checkpoint
            .sign::<()>(&self.key, |m| {
                Ok(self
                    .pair
                    .sign(&SystemRandom::new(), m)
                    .unwrap()
                    .as_ref()
                    .to_vec())
            })
            .unwrap()
    }

    /// The add-checkpoint body from `old` to `new`.
    fn request(&self, old: usize, new: usize) -> String {
        let proof = merkle::consistency_proof(
            &self.leaves,
            u64::try_from(old).unwrap(),
            u64::try_from(new).unwrap(),
        )
        .unwrap();
        request_body(old, &proof, &self.checkpoint(new))
    }
}

fn request_body(old: usize, proof: &[[u8; 32]], note: &str) -> String {
    use base64::Engine;
    let mut body = format!("old {old}\n");
    for hash in proof {
        body.push_str(&base64::engine::general_purpose::STANDARD.encode(hash));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body
}

fn init(dir: &Path, logs: &[&ToyLog]) -> shuin_ledger::WitnessKey {
    let config = WitnessConfig {
        name: "witness.example/w1".into(),
        logs: logs
            .iter()
            .map(|log| LogConfig {
                origin: log.key.name().to_owned(),
                keys: vec![log.vkey()],
            })
            .collect(),
    };
    shuin_witness::init(dir, &config).unwrap()
}

fn open(dir: &Path) -> Witness {
    shuin_witness::open(dir, Arc::new(FixedClock::at_unix(1_800_000_000))).unwrap()
}

fn cosigned_by(witness: &Witness, note: &str, lines: &str) -> u64 {
    let note = SignedNote::parse(&format!("{note}{lines}")).unwrap();
    witness.key().verify(&note).unwrap().timestamp
}

#[test]
fn consistent_checkpoints_are_cosigned_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let log = ToyLog::new(ORIGIN, 20, 1);
    let key = init(dir.path(), &[&log]);
    let witness = open(dir.path());
    assert_eq!(witness.key(), &key);
    let hash = shuin_witness::state::origin_hash(ORIGIN);
    assert_eq!(witness.latest_checkpoint(&hash), None);

    let lines = witness
        .add_checkpoint(log.request(0, 3).as_bytes())
        .unwrap();
    assert_eq!(
        cosigned_by(&witness, &log.checkpoint(3), &lines),
        1_800_000_000
    );
    for (old, new) in [(3, 7), (7, 7), (7, 8), (8, 16), (16, 20)] {
        let lines = witness
            .add_checkpoint(log.request(old, new).as_bytes())
            .unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));
        cosigned_by(&witness, &log.checkpoint(new), &lines);
    }
    // The monitoring view: the log's signature and the cosignature on size 20.
    let latest = SignedNote::parse(&witness.latest_checkpoint(&hash).unwrap()).unwrap();
    log.key.verify(&latest).unwrap();
    witness.key().verify(&latest).unwrap();
    assert!(latest.text.starts_with(&format!("{ORIGIN}\n20\n")));
}

#[test]
fn a_fork_is_refused_and_the_state_never_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = ToyLog::new(ORIGIN, 10, 1);
    init(dir.path(), &[&log]);
    let witness = open(dir.path());
    witness
        .add_checkpoint(log.request(0, 5).as_bytes())
        .unwrap();

    // A tree of the same origin, signed with the same key, sharing the first 3 leaves
    // and then other ones: only the consistency proof can tell.
    let mut forked: Vec<[u8; 32]> = log.leaves[..3].to_vec();
    forked.extend((3u8..10).map(|i| merkle::leaf_hash(&[2, i])));
    let fork_note = log.sign_root(10, merkle::root(&forked));
    let fork_proof = merkle::consistency_proof(&forked, 5, 10).unwrap();
    let refused = witness
        .add_checkpoint(request_body(5, &fork_proof, &fork_note).as_bytes())
        .unwrap_err();
    assert!(
        matches!(refused, Refusal::ConsistencyProofInvalid { .. }),
        "{refused}"
    );
    // The real log's own proof does not help the forked root either.
    let real_proof = merkle::consistency_proof(&log.leaves, 5, 10).unwrap();
    assert!(matches!(
        witness.add_checkpoint(request_body(5, &real_proof, &fork_note).as_bytes()),
        Err(Refusal::ConsistencyProofInvalid { .. })
    ));
    // Same size, other root.
    let same_size_fork = log.sign_root(5, merkle::root(&forked[..5]));
    assert!(matches!(
        witness.add_checkpoint(request_body(5, &[], &same_size_fork).as_bytes()),
        Err(Refusal::ConsistencyProofInvalid { .. })
    ));
    // Going back is a size mismatch: the witness answers with its size.
    assert!(matches!(
        witness.add_checkpoint(log.request(0, 3).as_bytes()),
        Err(Refusal::OldSizeMismatch { latest: 5, .. })
    ));
    assert!(matches!(
        witness.add_checkpoint(log.request(3, 5).as_bytes()),
        Err(Refusal::OldSizeMismatch { latest: 5, .. })
    ));
    // The real extension is still cosigned.
    witness
        .add_checkpoint(log.request(5, 10).as_bytes())
        .unwrap();
}

#[test]
fn a_restarted_witness_keeps_its_state_and_keeps_refusing() {
    let dir = tempfile::tempdir().unwrap();
    let log = ToyLog::new(ORIGIN, 12, 1);
    let other = ToyLog::new(ORIGIN, 12, 9);
    init(dir.path(), &[&log]);
    {
        let witness = open(dir.path());
        witness
            .add_checkpoint(log.request(0, 8).as_bytes())
            .unwrap();
    }
    let witness = open(dir.path());
    assert!(matches!(
        witness.add_checkpoint(log.request(0, 12).as_bytes()),
        Err(Refusal::OldSizeMismatch { latest: 8, .. })
    ));
    // Another history (with another key, unknown here) is refused at the signature.
    assert!(matches!(
        witness.add_checkpoint(other.request(0, 12).as_bytes()),
        Err(Refusal::LogSignatureMissing)
    ));
    witness
        .add_checkpoint(log.request(8, 12).as_bytes())
        .unwrap();
    drop(witness);
    assert!(matches!(
        open(dir.path()).add_checkpoint(log.request(8, 12).as_bytes()),
        Err(Refusal::OldSizeMismatch { latest: 12, .. })
    ));
}

#[test]
fn unknown_logs_bad_signatures_and_bad_sizes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = ToyLog::new(ORIGIN, 6, 1);
    let stranger = ToyLog::new("stranger.example/log", 6, 1);
    init(dir.path(), &[&log]);
    let witness = open(dir.path());
    assert!(matches!(
        witness.add_checkpoint(stranger.request(0, 6).as_bytes()),
        Err(Refusal::UnknownLog { .. })
    ));
    let mut bad = log.request(0, 6);
    let at = bad.rfind(' ').unwrap() + 12;
    let replaced = if &bad[at..=at] == "A" { "B" } else { "A" };
    bad.replace_range(at..=at, replaced);
    assert!(matches!(
        witness.add_checkpoint(bad.as_bytes()),
        Err(Refusal::LogSignatureInvalid)
    ));
    assert!(matches!(
        witness.add_checkpoint(request_body(7, &[], &log.checkpoint(6)).as_bytes()),
        Err(Refusal::OldSizeBeyondCheckpoint { .. })
    ));
    // From size 0 the proof must be empty.
    assert!(matches!(
        witness.add_checkpoint(request_body(0, &[[1; 32]], &log.checkpoint(6)).as_bytes()),
        Err(Refusal::ConsistencyProofInvalid { .. })
    ));
    // A size-0 checkpoint must have the empty root.
    let zero = log.sign_root(0, [1; 32]);
    assert!(matches!(
        witness.add_checkpoint(request_body(0, &[], &zero).as_bytes()),
        Err(Refusal::EmptyTreeRootInvalid)
    ));
    witness
        .add_checkpoint(log.request(0, 0).as_bytes())
        .unwrap();
}

#[test]
fn garbage_never_panics_and_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = ToyLog::new(ORIGIN, 4, 1);
    init(dir.path(), &[&log]);
    let witness = open(dir.path());
    let good = log.request(0, 4).into_bytes();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..2000 {
        let mut bytes = good.clone();
        let edits = 1 + next() % 4;
        for _ in 0..edits {
            let at = usize::try_from(next() % u64::try_from(bytes.len()).unwrap()).unwrap();
            match next() % 3 {
                0 => bytes[at] = u8::try_from(next() % 256).unwrap(),
                1 => bytes.truncate(at),
                _ => bytes.insert(
                    at,
                    b"\n0+ \xe2\x80\x94"[usize::try_from(next() % 7).unwrap()],
                ),
            }
            if bytes.is_empty() {
                break;
            }
        }
        if bytes != good {
            // Either refused, or (rarely) a harmless change such as none at all.
            let _ = witness.add_checkpoint(&bytes);
        }
        if round % 500 == 0 {
            let _ = witness.add_checkpoint(&[0xff; 64]);
        }
    }
    // Whatever happened, the state is a checkpoint of the real log.
    let latest = witness
        .latest_checkpoint(&shuin_witness::state::origin_hash(ORIGIN))
        .map(|note| SignedNote::parse(&note).unwrap());
    if let Some(note) = latest {
        log.key.verify(&note).unwrap();
    }
}

#[test]
fn concurrent_requests_for_one_log_are_serialised() {
    let dir = tempfile::tempdir().unwrap();
    let log = ToyLog::new(ORIGIN, 30, 1);
    init(dir.path(), &[&log]);
    let witness = Arc::new(open(dir.path()));
    witness
        .add_checkpoint(log.request(0, 10).as_bytes())
        .unwrap();
    let requests: Vec<String> = (11..=30).map(|new| log.request(10, new)).collect();
    let handles: Vec<_> = requests
        .into_iter()
        .map(|body| {
            let witness = witness.clone();
            std::thread::spawn(move || witness.add_checkpoint(body.as_bytes()))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, Refusal::OldSizeMismatch { .. })));
}

#[tokio::test]
async fn the_http_interface_speaks_tlog_witness() {
    let dir = tempfile::tempdir().unwrap();
    let log = ToyLog::new(ORIGIN, 6, 1);
    let key = init(dir.path(), &[&log]);
    let router = shuin_witness::http::router(Arc::new(open(dir.path())));
    let post = |body: Vec<u8>| {
        Request::post("/add-checkpoint")
            .body(Body::from(body))
            .unwrap()
    };
    let answer = router
        .clone()
        .oneshot(post(log.request(0, 4).into_bytes()))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let body = axum::body::to_bytes(answer.into_body(), 1 << 16)
        .await
        .unwrap();
    assert!(body.starts_with("\u{2014} witness.example/w1 ".as_bytes()));

    let answer = router
        .clone()
        .oneshot(post(log.request(0, 6).into_bytes()))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::CONFLICT);
    assert_eq!(answer.headers()["content-type"], "text/x.tlog.size");
    let body = axum::body::to_bytes(answer.into_body(), 1 << 16)
        .await
        .unwrap();
    assert_eq!(&body[..], b"4\n");

    for (body, status) in [
        (b"nonsense".to_vec(), StatusCode::BAD_REQUEST),
        (
            ToyLog::new("x.example/l", 2, 1).request(0, 2).into_bytes(),
            StatusCode::NOT_FOUND,
        ),
        (vec![b'a'; 200 * 1024], StatusCode::PAYLOAD_TOO_LARGE),
    ] {
        let answer = router.clone().oneshot(post(body)).await.unwrap();
        assert_eq!(answer.status(), status);
    }

    let answer = router
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = axum::body::to_bytes(answer.into_body(), 1 << 16)
        .await
        .unwrap();
    assert_eq!(body, format!("{}\n", key.verifier_key()));
    let path = format!("/{}/checkpoint", shuin_witness::state::origin_hash(ORIGIN));
    let answer = router
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
}
