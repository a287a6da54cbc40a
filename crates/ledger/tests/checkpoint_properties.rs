//! Signed checkpoints: the body round-trips for any origin, size and root; a checkpoint
//! signed by an audit key of each kind the key backends make verifies, and any change to
//! its text or signature does not.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use base64::Engine;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use shuin_keys::{KeySpec, Signer, SoftwareSigner};
use shuin_ledger::note::{NoteError, TYPE_ECDSA_SHA256, TYPE_UNASSIGNED};
use shuin_ledger::{Checkpoint, CheckpointError, NoteKey, SignedNote};
use std::sync::OnceLock;

const ORIGIN: &str = "shuin.example/ledger";

fn p256() -> &'static SoftwareSigner {
    static KEY: OnceLock<SoftwareSigner> = OnceLock::new();
    KEY.get_or_init(|| SoftwareSigner::generate(KeySpec::EcP256).unwrap().0)
}

fn note_key(signer: &dyn Signer) -> NoteKey {
    NoteKey::from_spki(ORIGIN, signer.public_key_der()).unwrap()
}

fn signed(signer: &dyn Signer, checkpoint: &Checkpoint) -> String {
    checkpoint
        .sign(&note_key(signer), |message| signer.sign(message))
        .unwrap()
}

fn origin() -> impl Strategy<Value = String> {
    "[a-z0-9.\\-]{1,20}(/[a-z0-9\\-]{1,10})?"
}

proptest! {
    #[test]
    fn bodies_round_trip(origin in origin(), size in any::<u64>(), root in any::<[u8; 32]>()) {
        let checkpoint = Checkpoint { origin, size, root };
        let body = checkpoint.body();
        prop_assert_eq!(Checkpoint::parse_body(&body).unwrap(), checkpoint);
        prop_assert_eq!(body.matches('\n').count(), 3);
    }

    #[test]
    fn signed_checkpoints_verify_and_flipped_bits_do_not(size in any::<u64>(), root in any::<[u8; 32]>(), flip in any::<usize>()) {
        let checkpoint = Checkpoint { origin: ORIGIN.into(), size, root };
        let key = note_key(p256());
        let note = signed(p256(), &checkpoint);
        prop_assert_eq!(Checkpoint::open(&note, &key).unwrap(), checkpoint.clone());
        // Change one character of the body (keeping it parseable as a note): the
        // signature no longer verifies, or the body no longer parses.
        let body_len = checkpoint.body().len();
        let position = flip % body_len;
        let mut bytes = note.clone().into_bytes();
        if bytes[position] != b'\n' {
            bytes[position] = if bytes[position] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            prop_assert!(Checkpoint::open(&altered, &key).is_err());
        }
    }
}

#[test]
fn every_backend_key_kind_signs_checkpoints() {
    let checkpoint = Checkpoint {
        origin: ORIGIN.into(),
        size: 42,
        root: [9; 32],
    };
    for (spec, kind) in [
        (KeySpec::EcP256, TYPE_ECDSA_SHA256),
        (KeySpec::EcP384, TYPE_UNASSIGNED),
        (KeySpec::Rsa2048, TYPE_UNASSIGNED),
    ] {
        let (signer, _) = SoftwareSigner::generate(spec).unwrap();
        let key = note_key(&signer);
        assert_eq!(key.signature_type(), kind, "{spec:?}");
        // The verifier key string reads back as the same key (what a witness is given).
        assert_eq!(
            NoteKey::from_verifier_key(&key.verifier_key()).unwrap(),
            key,
            "{spec:?}"
        );
        assert_eq!(key.algorithm(), signer.algorithm(), "{spec:?}");
        let note = signed(&signer, &checkpoint);
        assert_eq!(
            Checkpoint::open(&note, &key).unwrap(),
            checkpoint,
            "{spec:?}"
        );
        // Another key of the same kind and name does not verify it.
        let (other, _) = SoftwareSigner::generate(spec).unwrap();
        assert!(matches!(
            Checkpoint::open(&note, &note_key(&other)),
            Err(CheckpointError::Note(NoteError::NotSignedByKey { .. }))
        ));
    }
}

#[test]
fn malformed_log_verifier_keys_are_refused() {
    let key = note_key(p256());
    let good = key.verifier_key();
    let other_name = good.replacen(ORIGIN, "other.example/ledger", 1);
    let other_id = good.replacen(&key.key_id_hex(), "00000000", 1);
    for vkey in [
        "",
        "a+b",
        other_id.as_str(),
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        &good[..good.len() - 8],
    ] {
        assert!(NoteKey::from_verifier_key(vkey).is_err(), "{vkey:?}");
    }
    // A type 0x02 key ID does not depend on the name, so a renamed key still reads.
    assert_eq!(
        NoteKey::from_verifier_key(&other_name).unwrap().name(),
        "other.example/ledger"
    );
}

/// The type 0x02 key ID is SHA-256 of the SPKI, as transparency-dev computes it, and the
/// verifier key string carries the type byte and the SPKI.
#[test]
fn p256_key_ids_follow_the_transparency_dev_convention() {
    let spki = p256().public_key_der();
    let key = NoteKey::from_spki(ORIGIN, spki).unwrap();
    assert_eq!(key.key_id(), Sha256::digest(spki)[..4]);
    let verifier = key.verifier_key();
    let parts: Vec<&str> = verifier.splitn(3, '+').collect();
    assert_eq!(parts[0], ORIGIN);
    assert_eq!(parts[1], hex::encode(key.key_id()));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(parts[2])
        .unwrap();
    assert_eq!(bytes[0], 0x02);
    assert_eq!(&bytes[1..], spki);
}

#[test]
fn an_altered_signature_is_refused_and_unknown_signatures_are_ignored() {
    let checkpoint = Checkpoint {
        origin: ORIGIN.into(),
        size: 7,
        root: [1; 32],
    };
    let key = note_key(p256());
    let note = signed(p256(), &checkpoint);
    let mut parsed = SignedNote::parse(&note).unwrap();
    let last = parsed.signatures[0].signature.len() - 1;
    parsed.signatures[0].signature[last] ^= 1;
    let error = Checkpoint::open(&parsed.encode(), &key).unwrap_err();
    assert!(
        matches!(
            error,
            CheckpointError::Note(NoteError::InvalidSignature { .. })
        ),
        "{error}"
    );
    assert!(error.to_string().contains("does not verify"), "{error}");

    // A witness's cosignature (another name) is ignored; ours still verifies.
    let mut cosigned = SignedNote::parse(&note).unwrap();
    let mut witness = cosigned.signatures[0].clone();
    witness.name = "witness.example/w1".into();
    witness.signature = vec![0; 64];
    cosigned.signatures.push(witness);
    assert_eq!(
        Checkpoint::open(&cosigned.encode(), &key).unwrap(),
        checkpoint
    );
}
