//! The committed bad-input corpus in `tests/corpus/`: every file is refused with the
//! code listed in `tests/corpus/EXPECTED`, and nothing panics.
//!
//! The files were written by [`regenerate`]; run
//! `SHUIN_REGENERATE_CORPUS=1 cargo test -p shuin-jpki --test corpus` to write them again
//! (the certificates inside then change, the expected codes do not).

mod common;

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerInfos};
use common::*;
use der::{Decode, Encode};
use shuin_core::ReasonCode;
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn rewrap(cms: &[u8], change: impl FnOnce(&mut SignedData)) -> Vec<u8> {
    let mut info = ContentInfo::from_der(cms).unwrap_or_else(|e| panic!("{e}"));
    let mut signed: SignedData = info.content.decode_as().unwrap_or_else(|e| panic!("{e}"));
    change(&mut signed);
    info.content = der::Any::from_der(&signed.to_der().unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    info.to_der().unwrap_or_else(|e| panic!("{e}"))
}

/// Writes the corpus files and `EXPECTED`.
fn regenerate(dir: &Path) {
    let world = World::new();
    let card = world.card(&spec());
    let good = sign(&card, CONTENT);
    let other = sign(&world.card(&spec()), b"{}");
    let mut files: Vec<(&str, Vec<u8>, ReasonCode)> = vec![
        ("empty.bin", Vec::new(), ReasonCode::MalformedRequest),
        (
            "garbage.bin",
            b"this is not DER at all\n".to_vec(),
            ReasonCode::MalformedRequest,
        ),
        (
            "json_body.bin",
            CONTENT.to_vec(),
            ReasonCode::MalformedRequest,
        ),
        (
            "truncated.der",
            good[..good.len() / 2].to_vec(),
            ReasonCode::MalformedRequest,
        ),
        (
            "trailing_bytes.der",
            [good.as_slice(), b"\x00\x00"].concat(),
            ReasonCode::MalformedRequest,
        ),
        (
            "ber_indefinite.der",
            [&[0x30, 0x80][..], &good[2..], &[0, 0]].concat(),
            ReasonCode::MalformedRequest,
        ),
        (
            "huge_length.der",
            vec![0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x06, 0x00],
            ReasonCode::MalformedRequest,
        ),
    ];
    let data_info = ContentInfo {
        content_type: const_oid::db::rfc5911::ID_DATA,
        content: der::Any::new(der::Tag::OctetString, CONTENT).unwrap_or_else(|e| panic!("{e}")),
    };
    files.push((
        "wrong_content_type.der",
        data_info.to_der().unwrap_or_else(|e| panic!("{e}")),
        ReasonCode::MalformedRequest,
    ));
    files.push((
        "inner_not_id_data.der",
        rewrap(&good, |s| {
            s.encap_content_info.econtent_type = const_oid::db::rfc5911::ID_SIGNED_DATA
        }),
        ReasonCode::MalformedRequest,
    ));
    files.push((
        "detached.der",
        rewrap(&good, |s| s.encap_content_info.econtent = None),
        ReasonCode::MalformedRequest,
    ));
    let second_signer = {
        let info = ContentInfo::from_der(&other).unwrap_or_else(|e| panic!("{e}"));
        let signed: SignedData = info.content.decode_as().unwrap_or_else(|e| panic!("{e}"));
        signed.signer_infos.0.as_slice()[0].clone()
    };
    files.push((
        "two_signers.der",
        rewrap(&good, |s| {
            let mut infos = s.signer_infos.0.as_slice().to_vec();
            infos.push(second_signer);
            s.signer_infos = SignerInfos::try_from(infos).unwrap_or_else(|e| panic!("{e}"));
        }),
        ReasonCode::MalformedRequest,
    ));
    files.push((
        "no_signers.der",
        rewrap(&good, |s| {
            s.signer_infos = SignerInfos::try_from(Vec::new()).unwrap_or_else(|e| panic!("{e}"))
        }),
        ReasonCode::MalformedRequest,
    ));
    files.push((
        "too_many_certificates.der",
        rewrap(&good, |s| {
            let mut certs = Vec::new();
            for _ in 0..9 {
                let extra = world.card(&spec());
                certs.push(cms::cert::CertificateChoices::Certificate(
                    x509_cert::Certificate::from_der(&extra.cert_der)
                        .unwrap_or_else(|e| panic!("{e}")),
                ));
            }
            s.certificates = Some(
                cms::signed_data::CertificateSet::try_from(certs).unwrap_or_else(|e| panic!("{e}")),
            );
        }),
        ReasonCode::MalformedRequest,
    ));
    files.push((
        "no_certificates.der",
        rewrap(&good, |s| s.certificates = None),
        ReasonCode::CmsSignerCertificateMissing,
    ));
    files.push((
        "content_tampered.der",
        rewrap(&good, |s| {
            s.encap_content_info.econtent = Some(
                der::Any::new(der::Tag::OctetString, b"{}".as_slice())
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }),
        ReasonCode::CmsSignatureInvalid,
    ));
    files.push((
        "sha1_digest.der",
        rewrap(&good, |s| {
            let mut info = s.signer_infos.0.as_slice()[0].clone();
            info.digest_alg.oid = const_oid::db::rfc5912::ID_SHA_1;
            s.signer_infos = SignerInfos::try_from(vec![info]).unwrap_or_else(|e| panic!("{e}"));
        }),
        ReasonCode::CmsSignatureInvalid,
    ));
    // Signed by a card of a CA that no verifier trusts.
    files.push((
        "untrusted_issuer.der",
        good.clone(),
        ReasonCode::JpkiUntrustedIssuer,
    ));

    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    let mut expected =
        String::from("# file expected-code (written by tests/corpus.rs::regenerate)\n");
    for (name, bytes, code) in files {
        std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{e}"));
        expected.push_str(&format!("{name} {code}\n"));
    }
    std::fs::write(dir.join("EXPECTED"), expected).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn every_corpus_input_is_refused_with_its_code() {
    let dir = corpus_dir();
    if std::env::var_os("SHUIN_REGENERATE_CORPUS").is_some() {
        regenerate(&dir);
    }
    let expected = std::fs::read_to_string(dir.join("EXPECTED")).unwrap_or_else(|e| panic!("{e}"));
    // A verifier that trusts a fresh CA: no corpus file can get past its check.
    let world = World::new();
    let mut seen = 0;
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (name, code) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let code = ReasonCode::parse(code).unwrap_or_else(|| panic!("unknown code {code}"));
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let result = std::panic::catch_unwind(|| world.code_of(&bytes));
        let got = result.unwrap_or_else(|_| panic!("{name} panicked"));
        assert_eq!(got, Some(code), "{name}");
        // The document parser must not panic on it either.
        let _ = std::panic::catch_unwind(|| {
            shuin_core::application::ApplicationDocument::parse(&bytes)
        })
        .unwrap_or_else(|_| panic!("{name} panicked the document parser"));
        seen += 1;
    }
    assert!(seen >= 15, "the corpus lost files");
}
