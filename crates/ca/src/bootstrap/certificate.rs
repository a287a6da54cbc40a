//! One CA certificate: record -> lint -> sign -> verify, each step in the facility book.

use super::{ledger_entry, BootstrapError};
use crate::issuance::CaStore;
use der::Encode;
use sha2::{Digest, Sha256};
use shuin_core::x509::template::{assemble_certificate, tbs_der};
use shuin_core::x509::CertificateTemplate;
use shuin_keys::Signer;
use shuin_ledger::Actor;
use std::time::SystemTime;

/// Signs a CA certificate from `template` with `signer`: lints the TBS, records its hash
/// (`ca_certificate.signing`), signs, verifies the signature with the signer's public key
/// before the certificate is used, and records the certificate's hash
/// (`ca_certificate.issued`). `label` names the CA (`root`, `issuing`).
pub async fn sign_ca_certificate(
    store: &dyn CaStore,
    template: &CertificateTemplate,
    signer: &dyn Signer,
    label: &str,
    by: &Actor,
    now: SystemTime,
) -> Result<Vec<u8>, BootstrapError> {
    let encoding = |what| move |source| BootstrapError::Encoding { what, source };
    let tbs = template
        .to_tbs(signer.algorithm())
        .map_err(encoding("TBS"))?;
    let findings = shuin_core::lint::lint_tbs(&tbs);
    if !findings.is_empty() {
        return Err(BootstrapError::Lint {
            label: label.to_owned(),
            findings: format!("{findings:?}"),
        });
    }
    let bytes = tbs_der(&tbs).map_err(encoding("TBS"))?;
    let subjects = || vec![format!("ca:{label}"), format!("serial:{}", template.serial)];
    let signing = ledger_entry(
        "ca_certificate.signing",
        by,
        subjects(),
        serde_json::json!({"ca": label, "serial": template.serial.to_hex(), "tbs_sha256": hex::encode(Sha256::digest(&bytes))}),
    );
    store
        .append(signing, now)
        .await
        .map_err(BootstrapError::Ledger)?;
    let signature = signer.sign(&bytes).map_err(|source| BootstrapError::Key {
        what: format!("signing the {label} CA certificate"),
        source,
    })?;
    let algorithm = signer.algorithm().algorithm_identifier().oid;
    shuin_core::signature::verify(signer.public_key_der(), algorithm, &bytes, &signature).map_err(
        |_| BootstrapError::InvalidSignature {
            label: label.to_owned(),
        },
    )?;
    let der = assemble_certificate(tbs, &signature)
        .and_then(|c| c.to_der())
        .map_err(encoding("certificate"))?;
    let issued = ledger_entry(
        "ca_certificate.issued",
        by,
        subjects(),
        serde_json::json!({"ca": label, "certificate_sha256": hex::encode(Sha256::digest(&der))}),
    );
    store
        .append(issued, now)
        .await
        .map_err(BootstrapError::Ledger)?;
    Ok(der)
}
