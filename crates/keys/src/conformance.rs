//! The conformance suite every key backend must pass (as `shuin_store::conformance`):
//! generate each key type, sign, verify with `shuin_core::signature::verify`, refuse
//! duplicate labels, refuse unknown keys, and sign from several threads at once. Checks
//! return a message instead of panicking, so the suite lives in the library and each
//! backend's tests run it.

use crate::{KeyError, KeyGenerator, KeyRef, KeySpec, Signer};
use der::asn1::UintRef;
use der::{Decode, Sequence};
use shuin_core::SignatureAlgorithm;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

const SPECS: [(KeySpec, &str, SignatureAlgorithm); 5] = [
    (
        KeySpec::Rsa2048,
        "rsa2048",
        SignatureAlgorithm::RsaPkcs1Sha256,
    ),
    (
        KeySpec::Rsa3072,
        "rsa3072",
        SignatureAlgorithm::RsaPkcs1Sha256,
    ),
    (
        KeySpec::Rsa4096,
        "rsa4096",
        SignatureAlgorithm::RsaPkcs1Sha256,
    ),
    (KeySpec::EcP256, "p256", SignatureAlgorithm::EcdsaP256Sha256),
    (KeySpec::EcP384, "p384", SignatureAlgorithm::EcdsaP384Sha384),
];

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

fn rsa_bits(spki_der: &[u8]) -> Result<usize, String> {
    let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|e| e.to_string())?;
    let key =
        RsaPublicKey::from_der(spki.subject_public_key.raw_bytes()).map_err(|e| e.to_string())?;
    Ok(key.modulus.as_bytes().len() * 8)
}

fn verifies(signer: &dyn Signer, message: &[u8], signature: &[u8]) -> bool {
    let oid = signer.algorithm().algorithm_identifier().oid;
    shuin_core::signature::verify(signer.public_key_der(), oid, message, signature).is_ok()
}

/// Runs every check against `backend`, which must not hold keys labelled
/// `conformance-*` yet.
pub fn run(backend: &dyn KeyGenerator) -> Result<(), String> {
    let all: Vec<KeySpec> = SPECS.iter().map(|(spec, _, _)| *spec).collect();
    run_specs(backend, &all)
}

/// [`run`] for the key types in `specs` only (an emulator that signs some types wrongly);
/// P-256 must be among them.
pub fn run_specs(backend: &dyn KeyGenerator, specs: &[KeySpec]) -> Result<(), String> {
    let mut p256 = None;
    for (spec, name, algorithm) in SPECS.into_iter().filter(|(s, _, _)| specs.contains(s)) {
        let label = format!("conformance-{name}");
        let key = backend
            .generate(&label, spec)
            .map_err(|e| format!("generate {name}: {e}"))?;
        let signer = backend
            .signer(&key)
            .map_err(|e| format!("signer for {key}: {e}"))?;
        ensure!(
            signer.algorithm() == algorithm,
            "{name}: algorithm {:?}, expected {algorithm:?}",
            signer.algorithm()
        );
        if let Some(bits) = match spec {
            KeySpec::Rsa2048 => Some(2048),
            KeySpec::Rsa3072 => Some(3072),
            KeySpec::Rsa4096 => Some(4096),
            _ => None,
        } {
            let found = rsa_bits(signer.public_key_der())?;
            ensure!(found == bits, "{name}: modulus of {found} bits");
        }
        let message = format!("shuin conformance {name}");
        let signature = signer
            .sign(message.as_bytes())
            .map_err(|e| format!("sign with {name}: {e}"))?;
        ensure!(
            verifies(signer.as_ref(), message.as_bytes(), &signature),
            "{name}: the signature does not verify"
        );
        ensure!(
            !verifies(signer.as_ref(), b"another message", &signature),
            "{name}: the signature verifies over another message"
        );
        let again = backend
            .signer(&key)
            .map_err(|e| format!("signer for {key} again: {e}"))?;
        ensure!(
            again.public_key_der() == signer.public_key_der(),
            "{name}: the public key changed between loads"
        );
        let debug = format!("{signer:?}");
        ensure!(
            debug.len() < 200,
            "{name}: Debug output is suspiciously long: {debug}"
        );
        if spec == KeySpec::EcP256 {
            p256 = Some((key, signer));
        }
    }
    let (p256_key, p256_signer) = p256.ok_or("no P-256 key")?;
    refusals(backend, &p256_key)?;
    concurrent_signing(p256_signer.as_ref())
}

fn refusals(backend: &dyn KeyGenerator, existing: &KeyRef) -> Result<(), String> {
    ensure!(
        matches!(
            backend.generate("conformance-p256", KeySpec::EcP256),
            Err(KeyError::AlreadyExists { .. })
        ),
        "a second key with an existing label must be refused as AlreadyExists"
    );
    ensure!(
        backend.generate("", KeySpec::EcP256).is_err(),
        "an empty label must be refused"
    );
    // A key of this backend that was never made (KMS names keys by ARN: by alias there).
    let absent = if existing.as_str().starts_with("awskms:") {
        "awskms:alias/conformance-absent".to_owned()
    } else {
        existing
            .as_str()
            .replace("conformance-p256", "conformance-absent")
    };
    let absent = KeyRef::parse(&absent).map_err(|e| format!("{absent}: {e}"))?;
    ensure!(
        matches!(backend.signer(&absent), Err(KeyError::NotFound { .. })),
        "an unknown key {absent} must be refused as NotFound"
    );
    let foreign = if existing.as_str().starts_with("soft:") {
        KeyRef::parse("pkcs11:token=elsewhere;object=conformance-p256")
    } else {
        KeyRef::parse("soft:conformance-p256.key.pem")
    }
    .map_err(|e| e.to_string())?;
    ensure!(
        backend.signer(&foreign).is_err(),
        "a key of another backend ({foreign}) must be refused"
    );
    Ok(())
}

fn concurrent_signing(signer: &dyn Signer) -> Result<(), String> {
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                scope.spawn(move || {
                    for i in 0..8 {
                        let message = format!("thread {t} message {i}");
                        let signature = signer
                            .sign(message.as_bytes())
                            .map_err(|e| format!("concurrent sign: {e}"))?;
                        ensure!(
                            verifies(signer, message.as_bytes(), &signature),
                            "a concurrent signature does not verify"
                        );
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a signing thread panicked".into()))
            })
            .collect()
    });
    results.into_iter().collect()
}
